package main

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/llbgen/llbgen/internal/testbed"
	"github.com/llbgen/llbgen/pkg/graph"
)

// The hostile stand-ins (hack/standins.sh, hack/hostile/) run attacks where
// llbgen runs image code: a cgo compile runs the image's C compiler, and
// verifying a cgo binary runs the image's loader and libc. These tests
// prove that what one image runs cannot change another target's binary: the
// victim, a static target in the musl stand-in, comes out byte-identical to
// the victim built alone, whatever the hostile target beside it does.

const (
	victimFile = "docker-credential-ecr-login-victim"
	// preloadGarbage starts every file hack/hostile/preload.c writes.
	preloadGarbage = "HOSTILE PRELOAD GARBAGE"
	// staticFile is the static target built in the hostile-cc image.
	staticFile = "docker-credential-ecr-login-hostile-static"
)

// hostileVCS matches what hack/hostile/cc.sh says when it runs as the
// image's git, hg, svn, bzr or fossil.
var hostileVCS = regexp.MustCompile(`hostile (git|hg|svn|bzr|fossil): [^\n]*`)

// victimList is a list whose first target is the victim, followed by more
// (YAML list items).
func victimList(bed *testbed.Bed, more string) string {
	return fmt.Sprintf("helper:\n  version: v0.12.0\ngo: %s\ntargets:\n  - image: %s\n    name: victim\n%s",
		bed.Golang(), bed.Musl(), more)
}

// victimRef is the victim's binary and build information built alone.
type victimRef struct{ bin, info string }

func buildVictimRef(t *testing.T, bed *testbed.Bed, addr string) victimRef {
	t.Helper()
	out := t.TempDir()
	r := runLLBGen(t, addr, "build", "-f", writeList(t, victimList(bed, "")), "--out", out, "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("the victim alone: exit %d\n%s", r.code, tail(r.stderr, 30))
	}
	assertStatic(t, filepath.Join(out, victimFile))
	return victimRef{
		bin:  readFile(t, filepath.Join(out, victimFile)),
		info: readFile(t, filepath.Join(out, victimFile+graph.BuildInfoSuffix)),
	}
}

// assertVictimIntact checks dir: the victim as built alone, nothing the
// hostile image wrote, exactly the binaries of files (with their
// .buildinfo) and SHA256SUMS, which `sha256sum -c` accepts.
func assertVictimIntact(t *testing.T, dir string, ref victimRef, files ...string) {
	t.Helper()
	if got := readFile(t, filepath.Join(dir, victimFile)); got != ref.bin {
		t.Errorf("%s is not the victim built alone (%d bytes, begins %q)", victimFile, len(got), head(got))
	}
	if got := readFile(t, filepath.Join(dir, victimFile+graph.BuildInfoSuffix)); got != ref.info {
		t.Errorf("%s%s is not the victim's build information: %q", victimFile, graph.BuildInfoSuffix, head(got))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if data, _ := os.ReadFile(filepath.Join(dir, e.Name())); strings.HasPrefix(string(data), preloadGarbage) {
			t.Errorf("%s holds what the hostile image wrote: %q", e.Name(), head(string(data)))
		}
	}
	want := map[string]string{}
	for _, f := range files {
		want[f] = ""
	}
	assertFiles(t, dir, want)
	assertSums(t, dir)
}

// assertBuiltBinary checks that path is a glibc-linked Go build of the
// helper, as a cgo compile in a Debian image makes it, not garbage.
func assertBuiltBinary(t *testing.T, path string) {
	t.Helper()
	if data := readFile(t, path); strings.HasPrefix(data, preloadGarbage) {
		t.Fatalf("%s is the hostile image's garbage: %q", path, head(data))
	}
	if _, interp, _ := elfOf(t, path); interp != "/lib64/ld-linux-x86-64.so.2" {
		t.Errorf("%s: ELF interpreter %q, want /lib64/ld-linux-x86-64.so.2 (what its cgo compile made)", path, interp)
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil || !strings.HasSuffix(info.Path, "/cli/docker-credential-ecr-login") {
		t.Errorf("%s is not a Go build of the helper: %v %v", path, info, err)
	}
}

func head(s string) string {
	if len(s) > 60 {
		return s[:60]
	}
	return s
}

// assertRan checks the plain progress log shows the step named by prefix
// run, not taken from BuildKit's cache.
func assertRan(t *testing.T, log, prefix string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^(#\d+) ` + regexp.QuoteMeta(prefix)).FindStringSubmatch(log)
	if m == nil {
		t.Errorf("no step %q in the build log:\n%s", prefix, tail(log, 20))
		return
	}
	if strings.Contains(log, "\n"+m[1]+" CACHED\n") {
		t.Errorf("step %q was cached: nothing was compiled against the build cache", prefix)
	}
}

// A cgo target runs its image's C compiler. The hostile one vandalises
// every Go build cache it can write and fails; the static target beside
// it, in that run and in a later one that compiles again, links exactly
// what it links alone. A static target in the same image is compiled with
// every static binary, in the go image, and only checked in the hostile
// one: none of the image's tools (its git at /.git and /llbgen/.git, hg,
// svn, bzr, fossil) run and its go.work files are not read, and it gets the
// victim's very bytes. (That a compile rooted in an image, a cgo one, has
// VCS stamping, go.work and Go config off is TestCgoCompileRunsOnlyTheImagesCompiler's.) It runs on a private daemon:
// where the attack works, the vandalised cache must not break the test
// bed's other tests.
func TestHostileCompilerCannotPoisonTheBuildCache(t *testing.T) {
	bed := testbed.Require(t)
	d := bed.StartDaemon(t)
	ref := buildVictimRef(t, bed, d.Addr)

	t.Run("the hostile cgo target fails and the victim beside it is as built alone", func(t *testing.T) {
		list := writeList(t, victimList(bed, fmt.Sprintf(
			"  - image: %[1]s\n    name: hostile-cc\n    cgo: true\n  - image: %[1]s\n    name: hostile-static\n",
			bed.HostileCC())))
		out := t.TempDir()
		r := runLLBGen(t, d.Addr, "build", "-f", list, "--out", out, "--progress", "plain")
		if r.code != 1 {
			t.Errorf("exit %d, want 1 (the hostile target failed)\n%s", r.code, tail(r.stderr, 30))
		}
		if row := summaryRow(t, r.stderr, "docker-credential-ecr-login-hostile-cc"); !strings.HasSuffix(row, " FAILED") {
			t.Errorf("the hostile target is not reported FAILED: %s", row)
		}
		if !strings.Contains(r.stderr, "\n  hostile-cc: ") {
			t.Errorf("the summary does not name the hostile target's failure:\n%s", tail(r.stderr, 10))
		}
		if m := regexp.MustCompile(`hostile compiler: dropped [^\n]*`).FindString(r.stderr); m != "" {
			t.Logf("the image's compiler said: %s", m)
		} else {
			t.Errorf("the hostile compiler never ran (the test proves nothing):\n%s", tail(r.stderr, 30))
		}
		if row := summaryRow(t, r.stderr, staticFile); !strings.HasSuffix(row, " yes") {
			t.Errorf("the static target in the hostile image is not verified: %s\n%s", row, tail(r.stderr, 30))
		}
		assertRan(t, r.stderr, "verify hostile-static in ")
		if m := hostileVCS.FindString(r.stderr); m != "" {
			t.Errorf("a compile ran the image's VCS tool (VCS stamping on; the static one with the shared build cache): %s", m)
		}
		assertVictimIntact(t, out, ref, victimFile, staticFile)
		// A static binary is compiled once, whatever its image.
		if got := readFile(t, filepath.Join(out, staticFile)); got != ref.bin {
			t.Errorf("%s is not byte-identical to the victim built alone (%d bytes, want %d)", staticFile, len(got), len(ref.bin))
		}
	})

	// The epoch is an argument of every compile, so BuildKit runs go build
	// again, against the persistent build cache, instead of reusing its result.
	t.Run("a later run that compiles again gives the same victim", func(t *testing.T) {
		t.Setenv("SOURCE_DATE_EPOCH", "1600000000")
		dir, log, err := pipeAt(t, bed, d.Addr, "-f", writeList(t, victimList(bed, "")))
		if err != nil {
			t.Fatalf("llbgen | buildctl: %v\n%s", err, tail(log, 30))
		}
		assertRan(t, log, "compile the helper once")
		assertVictimIntact(t, dir, ref, victimFile)
	})
}

// Verifying a cgo binary runs its image's loader, and the hostile one's
// /etc/ld.so.preload writes garbage named like the victim (listed before
// it) wherever it can write. Every way of running llbgen delivers the
// victim as built alone, and the hostile target's file is the binary its
// compile made. Each way must show the attack ran: the library's line in
// the build log, in the hostile target's verified output.
//
// Each way names the hostile target afresh: the name is an argument of its
// verify stage, which BuildKit would otherwise take from its cache (a
// compile that makes the same bytes again does not make it run), and a
// cached stage prints nothing. The price is a cgo compile from cold each
// time (the name keys its private build cache).
func TestHostilePreloadCannotReplaceAnotherTargetsBinary(t *testing.T) {
	bed := testbed.Require(t)
	x := bed.RequireBuildx(t)
	ref := buildVictimRef(t, bed, bed.Addr)
	run := time.Now().UnixNano()
	list := func(way string) (body, name string) {
		name = fmt.Sprintf("hostile-preload-%s-%d", way, run)
		return victimList(bed, fmt.Sprintf(`  - image: %s
    name: %s
    cgo: true
    setup:
      - apt-get update
      - apt-get install -y --no-install-recommends gcc libc6-dev
`, bed.HostilePreload(), name)), name
	}

	t.Run("llbgen build writes the victim as built", func(t *testing.T) {
		body, name := list("build")
		hostileFile := "docker-credential-ecr-login-" + name
		out := t.TempDir()
		r := runLLBGen(t, bed.Addr, "build", "-f", writeList(t, body), "--out", out, "--progress", "plain")
		if row := summaryRow(t, r.stderr, hostileFile); r.code != 0 || !strings.HasSuffix(row, " yes") {
			t.Fatalf("exit %d, hostile row %q, want 0 and the hostile target verified\n%s", r.code, row, tail(r.stderr, 30))
		}
		assertPreloadRan(t, r.stderr, name)
		assertVictimIntact(t, out, ref, victimFile, hostileFile)
		assertBuiltBinary(t, filepath.Join(out, hostileFile))
	})

	t.Run("the pipe writes the victim as built", func(t *testing.T) {
		body, name := list("pipe")
		hostileFile := "docker-credential-ecr-login-" + name
		dir, log, err := pipe(t, bed, "-f", writeList(t, body))
		if err != nil {
			t.Fatalf("llbgen | buildctl: %v\n%s", err, tail(log, 30))
		}
		assertPreloadRan(t, log, name)
		assertVictimIntact(t, dir, ref, victimFile, hostileFile)
		assertBuiltBinary(t, filepath.Join(dir, hostileFile))
	})

	t.Run("bake writes the victim as built", func(t *testing.T) {
		body, name := list("bake")
		hostileFile := "docker-credential-ecr-login-" + name
		repo := repoCopy(t)
		writeFile(t, filepath.Join(repo, "ci.yaml"), body)
		log, err := bake(t, x, repo, "TARGETS_FILE=ci.yaml")
		if err != nil {
			t.Fatalf("buildx bake: %v\n%s", err, tail(log, 30))
		}
		assertPreloadRan(t, log, name)
		dir := filepath.Join(repo, "out")
		assertVictimIntact(t, dir, ref, victimFile, hostileFile)
		assertBuiltBinary(t, filepath.Join(dir, hostileFile))
	})
}

// assertPreloadRan checks the build log shows hack/hostile/preload.c's
// constructor ran in the helper when target was verified, and wrote at
// least its two garbage files into the verify stage's /llbgen/out: glibc
// loaded the library and the attack happened.
func assertPreloadRan(t *testing.T, log, target string) {
	t.Helper()
	m := regexp.MustCompile(`target ` + regexp.QuoteMeta(target) +
		`: verified: (hostile preload: wrote over (\d+) files in /llbgen/out[^\n]*)`).FindStringSubmatch(log)
	switch {
	case m == nil:
		t.Errorf("no line from the hostile preload library in %s's verified output: the attack never ran (the test proves nothing)\n%s",
			target, tail(log, 30))
	case m[2] == "0" || m[2] == "1":
		t.Errorf("the hostile preload library ran but could not write into /llbgen/out: %s", m[1])
	default:
		t.Logf("the image's preload library said: %s", m[1])
	}
}
