package daemon

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/apicaps"
	"golang.org/x/mod/semver"

	"github.com/llbgen/llbgen/pkg/graph"
)

// A need is a BuildKit capability a run uses: the LLB capabilities it
// stands for (as a definition's metadata records them), the BuildKit
// release that brought it, the first Docker Engine release whose built-in
// BuildKit has it, and whether Docker Engine enables it only with its
// containerd image store (moby turns merge and diff ops off on its classic
// graph driver store).
type need struct {
	what            string // in messages
	caps            []apicaps.CapID
	buildkit        string // vMAJOR.MINOR
	docker          string // MAJOR.MINOR
	containerdStore bool
}

var (
	// needGraph is every LLB capability the graph records whatever the
	// run: all in BuildKit v0.8 (Docker Engine 20.10) or earlier.
	needGraph = need{
		what: "llbgen's build graph",
		caps: []apicaps.CapID{
			pb.CapConstraints, pb.CapPlatform, pb.CapMetaDescription, pb.CapMetaIgnoreCache,
			pb.CapSourceImage, pb.CapFileBase, pb.CapExecMetaBase, pb.CapExecMetaNetwork,
			pb.CapExecMountBind, pb.CapExecMountCache, pb.CapExecMountCacheSharing,
			pb.CapExecMountSelector, pb.CapExecMountTmpfs, pb.CapExecMountSecret,
		},
		buildkit: "v0.8", docker: "20.10",
	}
	// needOwnTool: `llbgen build` sends its own executable as the stage
	// tool, a local source (BuildKit v0.8 has every capability it uses).
	needOwnTool = need{
		what: "local sources, for llbgen's own executable as the stage tool",
		caps: []apicaps.CapID{
			pb.CapSourceLocal, pb.CapSourceLocalUnique, pb.CapSourceLocalIncludePatterns, pb.CapSourceLocalSharedKeyHint,
		},
		buildkit: "v0.8", docker: "20.10",
	}
	// needSecretEnv: a GOPROXY with credentials reaches the download stage
	// as a secret environment variable.
	needSecretEnv = need{
		what:     "secret environment variables (exec.secretenv), for a GOPROXY with credentials",
		caps:     []apicaps.CapID{pb.CapExecSecretEnv},
		buildkit: "v0.10", docker: "23.0",
	}
	// needMerge: --provenance solves the written binaries together, merged.
	needMerge = need{
		what:     "the merge op (mergeop), for --provenance",
		caps:     []apicaps.CapID{pb.CapMergeOp},
		buildkit: "v0.10", docker: "23.0", containerdStore: true,
	}
	// needAttestations: --provenance asks for BuildKit's SLSA provenance,
	// which moby exports only from its containerd image store.
	// needImages: images are dated by rewriting their layers' timestamps
	// (BuildKit v0.13, in Docker Engine 26.0); on a Docker Engine they go
	// through its own image exporter, which pushes, and takes several
	// platforms, only from its containerd image store (the classic one
	// ignores push).
	needImages = need{
		what:     "reproducible images pushed and loaded from its own image exporter, for --push and --load",
		buildkit: "v0.13", docker: "26.0", containerdStore: true,
	}
	needAttestations = need{
		what:     "provenance attestations, for --provenance",
		buildkit: "v0.11", docker: "24.0", containerdStore: true,
	}
	needSBOM = need{
		what:     "SBOM attestations, for --sbom",
		buildkit: "v0.11", docker: "24.0", containerdStore: true,
	}
)

// needsOf is what a run with opt uses.
func needsOf(opt Options) []need {
	ns := []need{needGraph}
	if opt.StageTool != "" {
		ns = append(ns, needOwnTool)
	}
	if graph.ProxyHasCredentials(opt.Plan.Env["GOPROXY"]) {
		ns = append(ns, needSecretEnv)
	}
	if opt.Provenance {
		ns = append(ns, needMerge, needAttestations)
	}
	if opt.SBOM {
		ns = append(ns, needSBOM)
	}
	if opt.Publish.Wanted() {
		ns = append(ns, needImages)
	}
	return ns
}

// engineFacts are what a daemon says of itself that decides what it can
// do: its BuildKit version, and for a Docker Engine its own version and
// image store.
type engineFacts struct {
	where string // "Docker Engine at HOST" or "BuildKit at ADDR"
	// buildkit is the version the Info API reports ("v0.34.2"); "" when
	// the daemon has no Info API, so runs BuildKit older than v0.11.
	buildkit string
	docker   bool   // a Docker Engine
	engine   string // Docker Engine's version, asked only when buildkit is ""
	// containerdStore: the engine keeps images in containerd (its
	// BuildKit worker names a snapshotter), so merge ops are on.
	containerdStore bool
}

// dockerBuildKit is the BuildKit each Docker Engine release without the
// Info API vendored (buildx's driver/docker table, by minor release).
var dockerBuildKit = []struct{ docker, buildkit string }{
	{"18.09", "v0.3"}, {"19.03", "v0.6"}, {"20.10", "v0.8"}, {"22.06", "v0.10"}, {"23.0", "v0.10"},
}

// runs is the BuildKit version the daemon runs, for comparing (vMAJOR.MINOR,
// "" when unknown or a development build) and for messages.
func (f engineFacts) runs() (cmp, say string) {
	if f.buildkit != "" {
		v := f.buildkit
		if i := strings.IndexAny(v, "-+"); i > 0 {
			v = v[:i]
		}
		if !semver.IsValid(v) || semver.MajorMinor(v) == "v0.0" {
			return "", "BuildKit " + shownVersion(f.buildkit) // a build from source: assume it is recent
		}
		return semver.MajorMinor(v), "BuildKit " + shownVersion(f.buildkit)
	}
	if f.docker && f.engine != "" {
		mm := engineMinor(f.engine)
		for _, e := range dockerBuildKit {
			if e.docker == mm {
				return e.buildkit, fmt.Sprintf("BuildKit %s (Docker Engine %s)", e.buildkit, shownVersion(f.engine))
			}
		}
		if mm != "" && versionLess(mm, dockerBuildKit[0].docker) {
			return "v0.0", fmt.Sprintf("no BuildKit (Docker Engine %s)", shownVersion(f.engine))
		}
	}
	return "", "BuildKit older than v0.11 (it has no Info API)"
}

// maxShownVersion bounds a version string in messages: real ones are
// short ("v0.34.2", "20.10.24+dfsg1", "v0.0.0+unknown").
const maxShownVersion = 64

// shownVersion is a version string the daemon reported, as messages show
// it: as it is when it looks like a version (at most maxShownVersion
// letters, digits and ".+-_~"), else cut to maxShownVersion bytes and
// quoted, so that what a hostile daemon says stays one short line of
// llbgen's output and forges none.
func shownVersion(v string) string {
	plain := len(v) <= maxShownVersion && v != "" && strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".+-_~", r))
	}) < 0
	if plain {
		return v
	}
	if len(v) > maxShownVersion {
		return strconv.Quote(v[:maxShownVersion]) + "..."
	}
	return strconv.Quote(v)
}

// engineMinor is MAJOR.MINOR of a Docker Engine version ("20.10.24+dfsg1"
// is "20.10"), "" when it has none.
func engineMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return ""
	}
	minor := parts[1]
	if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = minor[:i]
	}
	if _, err := strconv.Atoi(parts[0]); err != nil || minor == "" {
		return ""
	}
	return parts[0] + "." + minor
}

// versionLess compares two Docker Engine MAJOR.MINOR versions ("18.06").
func versionLess(a, b string) bool {
	num := func(v string) (int, int) {
		major, minor, _ := strings.Cut(v, ".")
		x, _ := strconv.Atoi(major)
		y, _ := strconv.Atoi(minor)
		return x, y
	}
	ax, ay := num(a)
	bx, by := num(b)
	return ax < bx || ax == bx && ay < by
}

// lacking is what of ns the daemon does not have, as far as its facts
// tell: a need newer than its BuildKit, or on a Docker Engine with the
// classic image store, a need moby turns off there. A daemon whose version
// is unknown is held to lack only what BuildKit v0.11, the first release
// with the Info API, brought or later.
func lacking(f engineFacts, ns []need) (old, store []need) {
	have, _ := f.runs()
	for _, n := range ns {
		switch {
		case have != "" && semver.Compare(have, n.buildkit) < 0:
			old = append(old, n)
		case have == "" && f.buildkit == "" && semver.Compare(n.buildkit, "v0.11") >= 0:
			old = append(old, n)
		case f.docker && n.containerdStore && !f.containerdStore:
			store = append(store, n)
		}
	}
	return old, store
}

// UnsupportedError says the daemon lacks something the run uses; it is
// found before anything is built.
type UnsupportedError struct {
	Facts engineFacts
	Old   []need // too new for the daemon's BuildKit
	Store []need // off in Docker Engine's classic image store
}

func (e *UnsupportedError) Error() string {
	_, runs := e.Facts.runs()
	if len(e.Old) > 0 {
		newest := e.Old[0]
		for _, n := range e.Old[1:] {
			if semver.Compare(n.buildkit, newest.buildkit) > 0 {
				newest = n
			}
		}
		store := ""
		if e.Facts.docker && (len(e.Store) > 0 || anyStore(e.Old)) {
			store = ", with the containerd image store (" + containerdStoreDoc + ")"
		}
		if e.Facts.docker {
			return fmt.Sprintf("%s runs %s, which lacks %s: llbgen needs Docker Engine %s or later%s, or a BuildKit daemon %s or later",
				e.Facts.where, runs, whats(e.Old), newest.docker, store, newest.buildkit)
		}
		return fmt.Sprintf("%s runs %s, which lacks %s: llbgen needs BuildKit %s or later", e.Facts.where, runs, whats(e.Old), newest.buildkit)
	}
	return fmt.Sprintf("%s keeps images in its classic store, where its BuildKit lacks %s: turn on the containerd image store (%s), or build on a BuildKit daemon",
		e.Facts.where, whats(e.Store), containerdStoreDoc)
}

// containerdStoreDoc says how to turn on Docker Engine's containerd image
// store (the default for new installs since Docker Engine 29).
const containerdStoreDoc = `"features": {"containerd-snapshotter": true} in daemon.json; https://docs.docker.com/engine/storage/containerd/`

func anyStore(ns []need) bool {
	for _, n := range ns {
		if n.containerdStore {
			return true
		}
	}
	return false
}

// whats joins the needs' names: "a", "a and b", "a, b and c".
func whats(ns []need) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.what)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], "; ") + "; and " + s[len(s)-1]
}

// checkNeeds refuses a daemon that lacks something the run uses.
func checkNeeds(f engineFacts, ns []need) error {
	old, store := lacking(f, ns)
	if len(old) == 0 && len(store) == 0 {
		return nil
	}
	return &UnsupportedError{Facts: f, Old: old, Store: store}
}
