package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/internal/testbed"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/targets"
)

// Each kind of stage that fails for one binary is made to fail on the test
// bed, in real graphs, and `llbgen build` must give that binary one line
// naming the stage (its kind's title, from graph's one table) and the
// culprit: the image, the setup command and its output, the C compiler's
// error, the check's diagnosis, the lock.
//
// An image the registry does not have at all never reaches its stage: the
// plan resolves every image first and refuses it (TestWays's
// failing-target holds that); one whose layer is lost does. The kinds a
// whole list fails in are made to fail elsewhere: the toolchain (a go:
// image without one) and the static compile (a go: image whose standard
// library does not compile) in toolchain_test.go, the download (an unknown
// helper version) in build_test.go. No stand-in fails the stage tool's
// compile alone (go-broken breaks only net/http, which the stage tool does
// not import). The tool source is a file write; deliver and export copy
// what earlier stages made; a cgo binary's finish fails only for what its
// compile left where the binary should be (a hostile compiler's FIFO,
// unit-tested in the stage tool); and a matrix cell fails only for the
// stage tool's own errors (a binary that does not run is the cell's
// result): nothing a list can say makes them fail.

// lostLayerImage puts an image into the test bed's registry whose manifest
// and config are there and whose one layer never was (the registry takes a
// manifest without checking its blobs): it resolves, and pulling it fails.
// Its bytes are fixed, so every run pushes the same image, which the
// daemon never manages to pull (and so to cache).
func lostLayerImage(t *testing.T, bed *testbed.Bed) string {
	t.Helper()
	const repo = "llbgen-test/lost-layer"
	config, err := json.Marshal(ocispecs.Image{
		Platform: ocispecs.Platform{Architecture: "amd64", OS: "linux"},
		RootFS:   ocispecs.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromString("llbgen test: a layer never pushed, unpacked")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := json.Marshal(ocispecs.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispecs.MediaTypeImageManifest,
		Config:    ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers: []ocispecs.Descriptor{{
			MediaType: ocispecs.MediaTypeImageLayerGzip,
			Digest:    digest.FromString("llbgen test: a layer never pushed"),
			Size:      1 << 20,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + bed.Registry + "/v2/" + repo
	send := func(method, url, mediaType string, body []byte) {
		req, err := http.NewRequest(method, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", mediaType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s %s: %s", method, url, resp.Status)
		}
	}
	send(http.MethodPost, base+"/blobs/uploads/?digest="+digest.FromBytes(config).String(), "application/octet-stream", config)
	send(http.MethodPut, base+"/manifests/1", ocispecs.MediaTypeImageManifest, manifest)
	return bed.Registry + "/" + repo + ":1"
}

// stageFailure is one binary made to fail in one kind of stage.
type stageFailure struct {
	kind graph.Kind
	name string // the target's name, and so its binary's
	item string // its list item (YAML, each line indented as under targets:)
	// culprit must match the binary's cause.
	culprit *regexp.Regexp
}

// goodTarget is the list's target that builds: it must land whatever the
// others do.
const goodTarget = "good"

// missingLib is the library the verify-fails target's binary needs and its
// image lacks.
const missingLib = "libllbgenmissing.so"

// verifyFailsSetup installs a C compiler in the glibc stand-in (the steps
// compat_test.go and hostile_test.go use, so the daemon's cache often has
// them), then builds missingLib and puts a gcc first on PATH that links
// every program with it. cgo's dynamic imports come from what gcc linked,
// so the helper needs missingLib; verify runs it in the image as it is,
// without what setup did, where the loader cannot find it.
const verifyFailsSetup = `      - apt-get update
      - apt-get install -y --no-install-recommends gcc libc6-dev
      - |
        echo 'int llbgen_missing(void) { return 0; }' >/tmp/missing.c
        /usr/bin/gcc -shared -fPIC -Wl,-soname,` + missingLib + ` -o /usr/local/lib/` + missingLib + ` /tmp/missing.c
        cat >/usr/local/bin/gcc <<'EOF'
        #!/bin/sh
        for a; do case $a in -c|-E|-S|-M|-MM|--version|'-###'|-dump*|-print-*|--print-*) exec /usr/bin/gcc "$@";; esac; done
        exec /usr/bin/gcc "$@" -L/usr/local/lib -Wl,--no-as-needed -lllbgenmissing
        EOF
        chmod 0755 /usr/local/bin/gcc
`

// setupCommand fails a setup step, printing a line that is not in the
// command itself: the cause must show the command and what it printed.
const setupCommand = `echo "$((6*7)) is the answer"; exit 3`

func stageFailures(t *testing.T, bed *testbed.Bed) []stageFailure {
	lost := lostLayerImage(t, bed)
	return []stageFailure{{
		// The image resolves (manifest and config), so the plan takes it;
		// BuildKit fetches its layer only when a stage mounts it.
		kind:    graph.KindImage,
		name:    "pull-fails",
		item:    fmt.Sprintf("  - image: %s\n    name: pull-fails\n", lost),
		culprit: regexp.MustCompile(regexp.QuoteMeta(lost) + `.*not found`),
	}, {
		kind:    graph.KindSetup,
		name:    "setup-fails",
		item:    fmt.Sprintf("  - image: %s\n    name: setup-fails\n    cgo: true\n    setup:\n      - '%s'\n", bed.Glibc(), setupCommand),
		culprit: regexp.MustCompile(regexp.QuoteMeta(fmt.Sprintf("%q", setupCommand)) + `.*42 is the answer`),
	}, {
		// Debian's minbase has no C compiler.
		kind:    graph.KindCompile,
		name:    "compile-fails",
		item:    fmt.Sprintf("  - image: %s\n    name: compile-fails\n    cgo: true\n", bed.Glibc()),
		culprit: regexp.MustCompile(`C compiler "gcc" not found`),
	}, {
		kind:    graph.KindVerify,
		name:    "verify-fails",
		item:    fmt.Sprintf("  - image: %s\n    name: verify-fails\n    cgo: true\n    setup:\n%s", bed.Glibc(), verifyFailsSetup),
		culprit: regexp.MustCompile(`needed library ` + regexp.QuoteMeta(missingLib) + ` is not in the image's library path`),
	}}
}

// TestEveryStageFailureIsExplained builds one list whose targets each fail
// in another stage, and one good target, with `llbgen build`: exit 1, the
// good target lands, and each failed binary has its own one-line cause.
// Then a locked list whose helper hash was edited fails its module check,
// and the pipe and bake show a failing target's lines of targets.yaml.
func TestEveryStageFailureIsExplained(t *testing.T) {
	bed := testbed.Require(t)
	llbgenBinary(t)
	failures := stageFailures(t, bed)

	body := listOf(bed, "  - image: %s\n    name: %s\n", bed.Musl(), goodTarget)
	for _, f := range failures {
		body += f.item
	}
	out := filepath.Join(t.TempDir(), "out")
	r := runLLBGen(t, bed.Addr, "build", "-f", writeList(t, body), "--out", out, "--progress", "plain")
	if r.code != exitFailed {
		t.Errorf("exit %d, want %d\n%s", r.code, exitFailed, tail(r.stderr, 30))
	}
	sum := summaryOf(t, r.stderr)
	t.Logf("the summary:\n%s", sum)

	t.Run("the good target lands", func(t *testing.T) {
		assertFiles(t, out, map[string]string{targets.BinaryPrefix + goodTarget: ""})
		assertSumsList(t, out, targets.BinaryPrefix+goodTarget)
		if row := summaryRowOf(sum, goodTarget); !strings.HasSuffix(row, " yes") {
			t.Errorf("the summary's row for %s is %q, want it verified", goodTarget, row)
		}
	})
	for _, f := range failures {
		t.Run(string(f.kind), func(t *testing.T) {
			if row := summaryRowOf(sum, f.name); !strings.HasSuffix(row, " FAILED") {
				t.Errorf("the summary's row for %s is %q, want FAILED\n%s", f.name, row, sum)
			}
			assertCause(t, sum, f)
		})
	}

	t.Run(string(graph.KindModuleCheck), func(t *testing.T) {
		testModuleCheckFails(t, bed)
	})

	// One failing target alone: the pipe and bake are one BuildKit build,
	// which fails on its first failure, and the test must know which.
	t.Run("the pipe and bake show the failing target's lines", func(t *testing.T) {
		testListLinesShown(t, bed, failures[1]) // setup: it fails first, before any compile
	})
}

// assertCause checks the summary gives f's binary a cause of its own, one
// line, naming f's kind of stage and its culprit, in no BuildKit-internal
// words.
func assertCause(t *testing.T, sum string, f stageFailure) {
	t.Helper()
	names, cause := causeOf(sum, f.name)
	if cause == "" {
		t.Fatalf("the summary gives %s no cause:\n%s", f.name, sum)
	}
	if !slices.Equal(names, []string{f.name}) {
		t.Errorf("the cause of %s is given for %q, want for it alone: %s", f.name, names, cause)
	}
	if title := f.kind.Title(); !strings.Contains(cause, title) {
		t.Errorf("the cause of %s does not name the stage (%q): %s", f.name, title, cause)
	}
	if !f.culprit.MatchString(cause) {
		t.Errorf("the cause of %s does not match %q: %s", f.name, f.culprit, cause)
	}
	assertNoInternalText(t, "the cause of "+f.name, cause)
}

// testModuleCheckFails locks a one-target list, puts another valid h1:
// hash in the lock, and builds: the module check fails every binary, once,
// saying the lock's hash is not the module's.
func testModuleCheckFails(t *testing.T, bed *testbed.Bed) {
	list := writeList(t, listOf(bed, "  - image: %s\n    name: locked\n", bed.Musl()))
	if r := runLLBGen(t, bed.Addr, "lock", "-f", list, "--progress", "quiet"); r.code != 0 {
		t.Fatalf("llbgen lock: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	lk, err := lock.Read(lock.Path(list))
	if err != nil {
		t.Fatal(err)
	}
	other := sha256.Sum256([]byte("not the helper module"))
	wrong := "h1:" + base64.StdEncoding.EncodeToString(other[:])
	if lk.Helper.Sum == wrong || !strings.HasPrefix(lk.Helper.Sum, "h1:") {
		t.Fatalf("the lock's helper sum is %q", lk.Helper.Sum)
	}
	lk.Helper.Sum = wrong
	if err := lk.Write(lock.Path(list)); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "out")
	r := runLLBGen(t, bed.Addr, "build", "-f", list, "--out", out, "--progress", "plain")
	if r.code != exitFailed {
		t.Errorf("exit %d, want %d\n%s", r.code, exitFailed, tail(r.stderr, 30))
	}
	assertNothingWritten(t, out)
	sum := summaryOf(t, r.stderr)
	assertCause(t, sum, stageFailure{
		kind:    graph.KindModuleCheck,
		name:    "locked",
		culprit: regexp.MustCompile(`\bthe lock says ` + regexp.QuoteMeta(wrong)),
	})
}

// testListLinesShown runs a list of f's target alone through the pipe and
// bake, from a copy of the repository whose targets.yaml it is: both must
// fail and show the target's lines of targets.yaml under the error, each
// marked >>>, as BuildKit prints a located error.
func testListLinesShown(t *testing.T, bed *testbed.Bed, f stageFailure) {
	repo := repoCopy(t)
	list := filepath.Join(repo, "targets.yaml")
	head := listOf(bed, "")
	writeFile(t, list, head+f.item)
	first := strings.Count(head, "\n") + 1 // the item's first line
	lines := strings.Split(strings.TrimSuffix(f.item, "\n"), "\n")

	shows := func(t *testing.T, what, log string) {
		t.Helper()
		heading := regexp.MustCompile(`(?m)^targets\.yaml:` + fmt.Sprint(first) + `$`)
		if !heading.MatchString(log) {
			t.Errorf("%s's output has no line %q over the list's lines:\n%s", what, fmt.Sprintf("targets.yaml:%d", first), tail(log, 30))
		}
		for i, l := range lines {
			if !hasLineWith(log, []string{fmt.Sprintf("%d | >>> %s", first+i, l)}) {
				t.Errorf("%s's output does not show line %d of the list, %q, marked >>>:\n%s", what, first+i, l, tail(log, 30))
			}
		}
	}

	t.Run("pipe", func(t *testing.T) {
		dest := t.TempDir()
		p := runPipe(t, bed.Buildctl, bed.Addr, repo, dest, nil, "-f", "targets.yaml")
		if p.llbgen != 0 || p.buildctl != 1 {
			t.Errorf("llbgen exit %d, buildctl exit %d; want 0 and 1\n%s", p.llbgen, p.buildctl, tail(p.log, 30))
		}
		assertNothingWritten(t, dest)
		shows(t, "the pipe", p.log)
	})
	t.Run("bake", func(t *testing.T) {
		x := bed.RequireBuildx(t)
		log, err := bake(t, x, repo, "OUT=bake-out")
		if err == nil {
			t.Fatalf("bake succeeded:\n%s", tail(log, 20))
		}
		assertNothingWritten(t, filepath.Join(repo, "bake-out"))
		shows(t, "bake", log)
	})
}

// summaryRowOf is the summary table's row of binary name, or "".
func summaryRowOf(sum, name string) string {
	for _, l := range strings.Split(sum, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// causeOf finds the summary's cause line of binary name, below the table
// ("  NAME[, NAME...]: CAUSE"): the binaries it names and the cause.
func causeOf(sum, name string) (names []string, cause string) {
	_, below, ok := strings.Cut(sum, " binaries verified and written to ")
	if !ok {
		return nil, ""
	}
	for _, l := range strings.Split(below, "\n") {
		if !strings.HasPrefix(l, " ") {
			continue
		}
		who, c, ok := strings.Cut(strings.TrimSpace(l), ": ")
		if !ok {
			continue
		}
		if names := strings.Split(who, ", "); slices.Contains(names, name) {
			return names, c
		}
	}
	return nil, ""
}
