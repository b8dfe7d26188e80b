// Package daemon runs llbgen's plans on a BuildKit daemon from the CLI:
// it connects (connect.go), runs gateway sessions with BuildKit's progress
// display and the user's credentials (run.go, display.go), solves every
// binary in parallel and stages it in the output directory (solve.go),
// runs the matrix (matrix.go), resolves a lock (lock.go), and explains
// each failure in one line from the stage that failed, found by the
// failing vertex's digest (collector.go, classify.go, cause.go).
//
// One connection, one progress display and one set of credentials serve
// a run: in a first session plan.Make decides what to build with the
// daemon's facts (prepare.go: images resolved with the user's registry
// credentials, the go image's toolchain checked), then every delivered
// binary is solved in a session of its own (see sessions in run.go), up
// to 64 at once (the solver still runs the download and the static compile
// once for all), read back, and staged in the output directory once its
// session ended well. Only when the sessions end without a lost
// connection or a cancellation are the staged files committed; targets
// that failed keep whatever file they had. So a run of N binaries leaves
// at most N+1 records in BuildKit's build history (`buildctl debug
// histories`), N+2 with provenance (a last session solves the written
// binaries together for the attestation); a binary that failed is a
// failed record, but a binary whose definition holds a vertex that
// already failed another fails with that error and opens no session
// (BuildKit would run the failed stage again: eachBinary). A lost
// connection stops the run: no more sessions are opened. The gateway frontend
// (pkg/frontend) does not use this package: it runs inside the daemon,
// and makes its plan there.
package daemon

import (
	"io"
	"time"

	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/outdir"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// Options configure one run.
type Options struct {
	// StageTool, when set, is an executable that runs the stage tool when
	// started under the name "stagetool" (llbgen itself: /proc/self/exe).
	// Where it is a static Linux executable, a daemon of its platform runs
	// it as the stage tool instead of compiling one (see ownTool); else
	// the stage tool is compiled, as the pipe and the frontend always do.
	StageTool string
	// ownTool is StageTool as the daemon receives it (dialConn).
	ownTool *ownTool
	// Addr is the daemon: any address buildctl accepts, docker://HOST for
	// a Docker Engine's own BuildKit, or "" for a BuildKit daemon at
	// DefaultAddr, else Docker Engine (see open).
	Addr string
	TLS  TLS
	// Progress is BuildKit's display mode; ProgressOut receives it. For
	// "auto" and "tty", an *os.File on a terminal gets the live display.
	Progress    progressui.DisplayMode
	ProgressOut io.Writer
	// ConnectTimeout bounds the first contact with the daemon.
	ConnectTimeout time.Duration
	// Settled, when set, is called with the daemon's address each time
	// the run connects, before anything is solved there: Addr, before it
	// is contacted; with no Addr, the default BuildKit daemon's or the
	// fallback's docker://HOST, once it answered (see open).
	Settled func(addr string)
	// Plan is what the run asks for besides its list (Plan.List is set
	// from the list Run, RunMatrix or Lock is given): the lock, the module
	// settings, SOURCE_DATE_EPOCH. plan.Make decides the rest with the
	// daemon's facts. A GOPROXY with credentials in Plan.Env reaches the
	// daemon only as the session's secret graph.ProxySecretID.
	Plan plan.Input
	// Provenance asks BuildKit for a SLSA provenance attestation of the
	// verified binaries, written beside them: mode=min, or with
	// ProvenanceMax mode=max, which also records the build's definition.
	Provenance    bool
	ProvenanceMax bool
	// SBOM asks BuildKit's SBOM generator (SBOMGenerator, an image; ""
	// is BuildKit's default) for an SPDX document of each binary written,
	// landed beside it as FILE.spdx.json.
	SBOM          bool
	SBOMGenerator string
	// Publish makes the images the list's publish: block names.
	Publish Publish
	// Cache is the remote build cache a run imports and exports.
	Cache Cache
	// Routes send the binaries of some platforms to other daemons: see
	// Route. Provenance, Publish and Cache.Exports are for one daemon.
	Routes []Route
	// NoCache solves every vertex again, as buildctl's --no-cache; the Go
	// build cache mount is kept, as BuildKit keeps cache mounts.
	NoCache bool
	// ModuleSums asks for the h1: hash of each helper module a written
	// binary was built from, as its download stage fetched it (checked
	// against the Go checksum database, or the lock): Outcome.Sums.
	ModuleSums bool
}

// planInput is what plan.Make is asked for list.
func (o Options) planInput(list *targets.List) plan.Input {
	in := o.Plan
	in.List = list
	return in
}

// facts are what the daemon says about itself, for plan.Make; gc resolves
// images with the session's credentials.
func (d worker) facts(gc gateway.Client) plan.Daemon {
	name := "the daemon at " + d.addr
	if host, ok := DockerHost(d.addr); ok {
		name = "Docker Engine at " + host
	}
	return plan.Daemon{Name: name, Platform: d.platform, CanRun: d.canRun, Resolver: gc}
}

// TLS holds the files for a tcp:// daemon, as buildctl's flags do.
type TLS struct {
	CACert, Cert, Key, ServerName string
}

// Result is what happened to one binary: a target on one platform.
type Result struct {
	Target   targets.Target
	Binary   targets.Binary
	Platform string        // the platform built for, e.g. linux/arm64
	Digest   digest.Digest // the image's resolved manifest digest; "" if unresolved
	File     string        // file name in the output directory
	Size     int64
	SHA256   string
	Time     time.Time // the file's time (SOURCE_DATE_EPOCH, or the helper version's)
	Verified bool      // built, verified in its image, and written
	// Unverified says why a binary was written without being run in its
	// image ("not verified: no emulator for linux/arm64"). Such a binary is
	// never counted as verified, nor as failed.
	Unverified string
	Cause      string // one line, when neither Verified nor Unverified
	// Vertex is the vertex whose failure Cause tells, when one is known,
	// and Stage its stage. A vertex several binaries share (the download,
	// a static compile, an image two targets use) failed each of them with the same Cause: Outcome.Failures
	// gives it once.
	Vertex digest.Digest
	Stage  graph.Stage
	// Daemon is the address of the daemon the binary was given to.
	Daemon string
	// SBOM is the file of the binary's SPDX document (Options.SBOM), ""
	// when none was written.
	SBOM string
}

// DaemonInfo is a daemon a run built on: its address, and what it runs
// ("BuildKit v0.34.2").
type DaemonInfo struct {
	Addr, Runs string
}

// Written reports whether the binary landed in the output directory.
func (r Result) Written() bool { return r.Verified || r.Unverified != "" }

// Outcome is a whole run: one Result per binary, in list order.
type Outcome struct {
	Out     *outdir.Dir
	Results []Result
	// Images is what happened to each image the run was asked to publish.
	Images []ImageResult
	// CacheExport is why the build cache was not exported, "" when it was
	// or none was asked for.
	CacheExport string
	// Daemon is where the run built: its address and what it runs
	// ("BuildKit v0.34.2"); with several daemons, the first's.
	Daemon, Runs string
	// Daemons are all the daemons the run built on (Result.Daemon says
	// which built which binary), in the order of the routes, the
	// default first.
	Daemons []DaemonInfo
	// GoDigest is the go image's resolved digest ("" when not known);
	// Locked what the lock pins of each helper module (graph.ModuleKey).
	GoDigest digest.Digest
	Locked   map[string]graph.LockedModule
	// Sums holds, with Options.ModuleSums, the h1: hash of each helper
	// module (graph.ModuleKey) a written binary was built from; SumErrors
	// why one could not be read.
	Sums      map[string]string
	SumErrors map[string]string
}

// Failed counts the binaries that were not written.
func (o *Outcome) Failed() int {
	n := 0
	for _, r := range o.Results {
		if !r.Written() {
			n++
		}
	}
	return n
}

// Unverified counts the binaries written without being run in their image.
func (o *Outcome) Unverified() int {
	n := 0
	for _, r := range o.Results {
		if r.Unverified != "" {
			n++
		}
	}
	return n
}

// Unpublished counts the images asked for that were not published, or
// not everywhere they were to go.
func (o *Outcome) Unpublished() int {
	n := 0
	for _, img := range o.Images {
		if img.Cause != "" {
			n++
		}
	}
	return n
}
