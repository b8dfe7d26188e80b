package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/internal/testbed"
)

// A go: image whose toolchain cannot build (hack/standins.sh's
// broken-toolchain stand-ins) is the list's fault, not the targets': the
// summary names the shared stage that failed or the list's go: line, in
// one line, and the pipe and bake show that line of targets.yaml under
// BuildKit's error. Each test builds one two-target list (musl and glibc
// stand-ins) all three ways.

// goLine and goCol are where the go: key is in toolchainList's file: a
// refusal of the go image is positioned there, at the key itself.
const goLine, goCol = 3, 1

// internalText is BuildKit's own wording that must never be a cause: it
// names refs, not what the user can fix.
var internalText = []string{
	"releasing already released reference",
	"checksum of ref",
	"did not complete successfully",
	"/llbgen/stagetool/stagetool",
}

// toolchainSetup is one go: image's list, written as targets.yaml at the
// root of a copy of the repository, where bake reads it and the other ways
// are pointed at it.
type toolchainSetup struct {
	bed   *testbed.Bed
	goRef string
	repo  string
	list  string
}

func newToolchainSetup(t *testing.T, goRef func(*testbed.Bed) string) *toolchainSetup {
	t.Helper()
	bed := testbed.Require(t)
	s := &toolchainSetup{bed: bed, goRef: goRef(bed), repo: repoCopy(t)}
	s.list = filepath.Join(s.repo, "targets.yaml")
	// The go: key must stay at goLine:goCol.
	writeFile(t, s.list, fmt.Sprintf("helper:\n  version: v0.12.0\ngo: %s\ntargets:\n  - image: %s\n  - image: %s\n",
		s.goRef, bed.Musl(), bed.Glibc()))
	return s
}

// build runs `llbgen build` of the list into a new directory, with the
// extra flags.
func (s *toolchainSetup) build(t *testing.T, extra ...string) (llbgenRun, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	args := append([]string{"build", "-f", s.list, "--out", out, "--progress", "plain"}, extra...)
	return runLLBGen(t, s.bed.Addr, args...), out
}

// summaryOf is what follows the summary table's header in a build's
// stderr: the table, the count and the causes.
func summaryOf(t *testing.T, stderr string) string {
	t.Helper()
	i := strings.LastIndex(stderr, "TARGET ")
	if i < 0 {
		t.Fatalf("no summary table in the output:\n%s", tail(stderr, 20))
	}
	return stderr[i:]
}

// assertNothingWritten checks out holds no file (or does not exist).
func assertNothingWritten(t *testing.T, out string) {
	t.Helper()
	entries, err := os.ReadDir(out)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s was written to --out", e.Name())
	}
}

// assertNoInternalText checks text holds none of BuildKit's internal wording.
func assertNoInternalText(t *testing.T, what, text string) {
	t.Helper()
	for _, bad := range internalText {
		if strings.Contains(text, bad) {
			t.Errorf("%s shows BuildKit-internal text %q:\n%s", what, bad, tail(text, 12))
		}
	}
}

// assertGoLineShown checks log holds BuildKit's print of the list's lines
// (errdefs.Source.Print) with the go: line marked: what buildctl and
// buildx print under an error that carries its source.
func assertGoLineShown(t *testing.T, what, log, goRef string) {
	t.Helper()
	// The header names the first line of the range, which may start above go:.
	header := regexp.MustCompile(`(?m)targets\.yaml:\d+$`)
	marked := regexp.MustCompile(fmt.Sprintf(`(?m)^ +%d \| >>> go: %s\s*$`, goLine, regexp.QuoteMeta(goRef)))
	if !header.MatchString(log) || !marked.MatchString(log) {
		t.Errorf("%s does not show targets.yaml's go: line (%d) under the error:\n%s", what, goLine, tail(log, 25))
	}
}

// pipeFails runs the pipe and requires the build to fail.
func (s *toolchainSetup) pipeFails(t *testing.T) string {
	t.Helper()
	dir, log, err := pipe(t, s.bed, "-f", s.list)
	if err == nil {
		t.Fatalf("llbgen | buildctl build succeeded with go: %s:\n%s", s.goRef, tail(log, 20))
	}
	assertNothingWritten(t, dir)
	return log
}

// bakeFails runs bake in the repository copy and requires it to fail.
func (s *toolchainSetup) bakeFails(t *testing.T) string {
	t.Helper()
	x := s.bed.RequireBuildx(t)
	log, err := bake(t, x, s.repo, "OUT=bake-out")
	if err == nil {
		t.Fatalf("bake succeeded with go: %s:\n%s", s.goRef, tail(log, 20))
	}
	assertNothingWritten(t, filepath.Join(s.repo, "bake-out"))
	return log
}

// The first failure: a go: image whose standard library does not
// compile. The shared static compile fails, and that is the one cause given
// for both targets, with the compiler's error, not N target errors and not
// BuildKit's "releasing already released reference".
func TestGoImageThatDoesNotCompile(t *testing.T) {
	s := newToolchainSetup(t, (*testbed.Bed).GoBroken)
	syntaxError := regexp.MustCompile(`server\.go:\d+:\d+: syntax error`)

	t.Run("llbgen build", func(t *testing.T) {
		r, out := s.build(t)
		if r.code != exitFailed {
			t.Fatalf("exit %d, want %d\n%s", r.code, exitFailed, tail(r.stderr, 20))
		}
		assertNothingWritten(t, out)
		sum := summaryOf(t, r.stderr)
		assertNoInternalText(t, "the summary", sum)
		var causes []string
		for _, line := range strings.Split(sum, "\n") {
			if syntaxError.MatchString(line) {
				causes = append(causes, line)
			}
		}
		if len(causes) != 1 {
			t.Fatalf("%d summary lines give the compiler's error, want one for both targets:\n%s", len(causes), sum)
		}
		warm := regexp.MustCompile(`(?i)compil\w* .*helper.*linux/amd64`)
		if !warm.MatchString(causes[0]) {
			t.Errorf("the cause %q does not name the helper's compile for linux/amd64", causes[0])
		}
		for _, name := range []string{"docker_19.03.12", "gitlab-runner_v13.2.1"} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` .*FAILED$`).MatchString(sum) {
				t.Errorf("the table does not show %s as FAILED:\n%s", name, sum)
			}
		}
	})

	t.Run("pipe", func(t *testing.T) {
		log := s.pipeFails(t)
		if !syntaxError.MatchString(log) {
			t.Errorf("the pipe's output lacks the compiler's error:\n%s", tail(log, 20))
		}
		assertGoLineShown(t, "the pipe", log, s.goRef)
	})

	t.Run("bake", func(t *testing.T) {
		log := s.bakeFails(t)
		if strings.Contains(log, "releasing already released reference") {
			t.Errorf("bake's error is BuildKit's double release, not the compile's:\n%s", tail(log, 12))
		}
		if !syntaxError.MatchString(log) {
			t.Errorf("bake's output lacks the compiler's error:\n%s", tail(log, 20))
		}
		assertGoLineShown(t, "bake", log, s.goRef)
	})
}

// The second failure: a go: image with no /usr/local/go. It is the
// list's go: line that is wrong, so `llbgen build` refuses it as bad input
// before building anything, naming targets.yaml:LINE:COL of the go: key.
func TestGoImageWithoutToolchain(t *testing.T) {
	s := newToolchainSetup(t, (*testbed.Bed).GoNone)
	t.Run("llbgen build", func(t *testing.T) {
		s.assertRefusedBeforeBuilding(t, regexp.MustCompile(`/usr/local/go|(?i)toolchain`))
	})
	// --image replaces the file's targets; its go: is still the list's.
	t.Run("llbgen build --image", func(t *testing.T) {
		s.assertRefusedBeforeBuilding(t, regexp.MustCompile(`/usr/local/go|(?i)toolchain`), "--image", s.bed.Musl())
	})
	t.Run("pipe", func(t *testing.T) {
		assertGoLineShown(t, "the pipe", s.pipeFails(t), s.goRef)
	})
	t.Run("bake", func(t *testing.T) {
		s.assertBakeRefuses(t)
	})
}

// A go: image whose /usr/local/go is a regular file has no toolchain
// either: BuildKit's stat of bin/go fails inside the image's path ("not a
// directory", naming the daemon's mount), which must still be the list's
// go: line (exit 2), not a failure of the daemon, and name no path of the
// daemon's.
func TestGoImageWhoseGoIsAFile(t *testing.T) {
	s := newToolchainSetup(t, (*testbed.Bed).GoFile)
	t.Run("llbgen build", func(t *testing.T) {
		msg := s.assertRefusedBeforeBuilding(t, regexp.MustCompile(`/usr/local/go|(?i)toolchain`))
		if strings.Contains(msg, "buildkit-mount") || strings.Contains(msg, "/var/lib/buildkit") {
			t.Errorf("the refusal names the daemon's mount: %q", msg)
		}
	})
	t.Run("bake", func(t *testing.T) {
		s.assertBakeRefuses(t)
	})
}

// A go: image whose toolchain is for another platform (an arm64 go in an
// image that says linux/amd64; the test bed's QEMU would even run it) is
// refused the same way, naming the platform.
func TestGoImageOfWrongPlatform(t *testing.T) {
	s := newToolchainSetup(t, (*testbed.Bed).GoWrongArch)
	t.Run("llbgen build", func(t *testing.T) {
		msg := s.assertRefusedBeforeBuilding(t, regexp.MustCompile(`arm64`))
		if !strings.Contains(strings.ToLower(msg), "platform") {
			t.Errorf("the refusal %q does not say it is the toolchain's platform", msg)
		}
	})
	t.Run("pipe", func(t *testing.T) {
		assertGoLineShown(t, "the pipe", s.pipeFails(t), s.goRef)
	})
	t.Run("bake", func(t *testing.T) {
		s.assertBakeRefuses(t)
	})
}

// assertRefusedBeforeBuilding runs `llbgen build` with the extra flags
// and requires exit 2, nothing written, no stage that builds started, and
// one message naming the go: key's position, the image and matching what;
// it returns the message.
func (s *toolchainSetup) assertRefusedBeforeBuilding(t *testing.T, what *regexp.Regexp, extra ...string) string {
	t.Helper()
	r, out := s.build(t, extra...)
	if r.code != exitBadInput {
		t.Fatalf("exit %d, want %d (bad input: the fix is on the list's go: line)\n%s", r.code, exitBadInput, tail(r.stderr, 20))
	}
	assertNothingWritten(t, out)
	if started := regexp.MustCompile(`(?m)^#\d+ (compile|download|verify|deliver) .*$`).FindString(r.stderr); started != "" {
		t.Errorf("a stage started before the refusal: %q", started)
	}
	pos := regexp.MustCompile(fmt.Sprintf(`targets\.yaml:%d:%d: .*`, goLine, goCol))
	msg := pos.FindString(r.stderr)
	if msg == "" {
		t.Fatalf("no message names targets.yaml:%d:%d, the go: key:\n%s", goLine, goCol, tail(r.stderr, 12))
	}
	if !strings.Contains(msg, s.goRef) || !what.MatchString(msg) {
		t.Errorf("the refusal %q does not name the image %s and %s", msg, s.goRef, what)
	}
	assertNoInternalText(t, "llbgen build's output", r.stderr)
	return msg
}

// assertBakeRefuses runs bake and requires the frontend, which resolves
// the images on the daemon, to refuse the go: image as llbgen build does:
// its error is positioned at the go: key, and the line is shown under it.
func (s *toolchainSetup) assertBakeRefuses(t *testing.T) {
	t.Helper()
	log := s.bakeFails(t)
	msg := finalError(log, "ERROR: ")
	if !regexp.MustCompile(fmt.Sprintf(`targets\.yaml:%d:%d: `, goLine, goCol)).MatchString(msg) {
		t.Errorf("bake's error %q is not positioned at the go: key (targets.yaml:%d:%d)", msg, goLine, goCol)
	}
	assertNoInternalText(t, "bake's error", msg)
	assertGoLineShown(t, "bake", log, s.goRef)
}

// finalError is the last line of log that starts with prefix: the error
// buildctl ("error: ") or buildx ("ERROR: ") ends with.
func finalError(log, prefix string) string {
	last := ""
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, prefix) {
			last = line
		}
	}
	return last
}
