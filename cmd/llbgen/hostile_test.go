package main

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
)

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
// what it links alone. It runs on a private daemon: where the attack works,
// the vandalised cache must not break the test bed's other tests.
func TestHostileCompilerCannotPoisonTheBuildCache(t *testing.T) {
	bed := testbed.Require(t)
	d := bed.StartDaemon(t)
	ref := buildVictimRef(t, bed, d.Addr)

	t.Run("the hostile cgo target fails and the victim beside it is as built alone", func(t *testing.T) {
		list := writeList(t, victimList(bed, fmt.Sprintf("  - image: %s\n    name: hostile-cc\n    cgo: true\n", bed.HostileCC())))
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
		assertVictimIntact(t, out, ref, victimFile)
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
		assertRan(t, log, "compile victim in ")
		assertVictimIntact(t, dir, ref, victimFile)
	})
}

// Verifying a cgo binary runs its image's loader, and the hostile one's
// /etc/ld.so.preload writes garbage named like the victim (listed before
// it) wherever it can write. Every way of running llbgen delivers the
// victim as built alone, and the hostile target's file, when it has one,
// is the binary its compile made.
func TestHostilePreloadCannotReplaceAnotherTargetsBinary(t *testing.T) {
	bed := testbed.Require(t)
	x := bed.RequireBuildx(t)
	ref := buildVictimRef(t, bed, bed.Addr)
	hostileFile := "docker-credential-ecr-login-hostile-preload"
	body := victimList(bed, fmt.Sprintf(`  - image: %s
    name: hostile-preload
    cgo: true
    setup:
      - apt-get update
      - apt-get install -y --no-install-recommends gcc libc6-dev
`, bed.HostilePreload()))
	list := writeList(t, body)

	t.Run("llbgen build writes the victim as built", func(t *testing.T) {
		out := t.TempDir()
		r := runLLBGen(t, bed.Addr, "build", "-f", list, "--out", out, "--progress", "plain")
		row := summaryRow(t, r.stderr, hostileFile)
		switch {
		case r.code == 0 && strings.HasSuffix(row, " yes"):
			assertVictimIntact(t, out, ref, victimFile, hostileFile)
			assertBuiltBinary(t, filepath.Join(out, hostileFile))
		case r.code == 1 && strings.HasSuffix(row, " FAILED"):
			t.Logf("the hostile target failed:\n%s", tail(r.stderr, 3))
			assertVictimIntact(t, out, ref, victimFile)
		default:
			t.Fatalf("exit %d, hostile row %q\n%s", r.code, row, tail(r.stderr, 30))
		}
	})

	t.Run("the pipe writes the victim as built", func(t *testing.T) {
		dir, log, err := pipe(t, bed, "-f", list)
		if err != nil {
			t.Fatalf("llbgen | buildctl: %v\n%s", err, tail(log, 30))
		}
		assertVictimIntact(t, dir, ref, victimFile, hostileFile)
		assertBuiltBinary(t, filepath.Join(dir, hostileFile))
	})

	t.Run("bake writes the victim as built", func(t *testing.T) {
		repo := repoCopy(t)
		writeFile(t, filepath.Join(repo, "ci.yaml"), body)
		log, err := bake(t, x, repo, "TARGETS_FILE=ci.yaml")
		if err != nil {
			t.Fatalf("buildx bake: %v\n%s", err, tail(log, 30))
		}
		dir := filepath.Join(repo, "out")
		assertVictimIntact(t, dir, ref, victimFile, hostileFile)
		assertBuiltBinary(t, filepath.Join(dir, hostileFile))
	})
}
