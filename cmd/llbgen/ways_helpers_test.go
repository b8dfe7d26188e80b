package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llbgen/llbgen/internal/testbed"
	"github.com/llbgen/llbgen/pkg/graph"
)

// Helpers the integration tests share: running llbgen, the pipe and bake as
// a user would, and checking what lands in an output directory.

var (
	buildOnce sync.Once
	llbgenBin string
	buildErr  error
)

// llbgenBinary builds the command once, for tests that run it as a user does.
func llbgenBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "llbgen-test-bin")
		if err != nil {
			buildErr = err
			return
		}
		llbgenBin = filepath.Join(dir, "llbgen")
		// static, as `make llbgen` builds it: it serves as the stage tool
		build := exec.Command("go", "build", "-o", llbgenBin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return llbgenBin
}

// llbgenRun is one run of the llbgen binary.
type llbgenRun struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// runLLBGen runs the built binary with args, BUILDKIT_HOST unset unless addr
// is given, and waits for it.
func runLLBGen(t *testing.T, addr string, args ...string) llbgenRun {
	t.Helper()
	return runCmd(t, llbgenCmd(t, addr, args...))
}

// runCmd runs cmd to its end and returns its exit code and output.
func runCmd(t *testing.T, cmd *exec.Cmd) llbgenRun {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := llbgenRun{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// llbgenCmd is the llbgen binary with args, in an environment without
// BUILDKIT_HOST (unless addr is given) and BUILDKIT_PROGRESS.
func llbgenCmd(t *testing.T, addr string, args ...string) *exec.Cmd {
	cmd := exec.Command(llbgenBinary(t), args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BUILDKIT_HOST=") && !strings.HasPrefix(kv, "BUILDKIT_PROGRESS=") && !strings.HasPrefix(kv, "BUILDX_BUILDER=") {
			env = append(env, kv)
		}
	}
	if addr != "" {
		env = append(env, "BUILDKIT_HOST="+addr)
	}
	cmd.Env = env
	return cmd
}

// pipe runs `llbgen ARGS | buildctl build --output type=local,dest=DIR`
// and returns the output directory.
func pipe(t *testing.T, bed *testbed.Bed, args ...string) (dir, log string, err error) {
	t.Helper()
	return pipeAt(t, bed, bed.Addr, args...)
}

// pipeAt is pipe to the daemon at addr.
func pipeAt(t *testing.T, bed *testbed.Bed, addr string, args ...string) (dir, log string, err error) {
	t.Helper()
	dir = t.TempDir()
	r := runPipe(t, bed.Buildctl, addr, "", dir, nil, args...)
	if r.code != 0 {
		err = fmt.Errorf("llbgen exit %d, buildctl exit %d", r.llbgen, r.buildctl)
	}
	return dir, r.log, err
}

// pipeRun is one run of the pipe.
type pipeRun struct {
	llbgen, buildctl int // each side's exit code
	// code is what a shell with pipefail reports, as a user sees it: llbgen's
	// when it failed (buildctl then fails on an empty definition too), else
	// buildctl's.
	code int
	log  string // llbgen's stderr and buildctl's output, interleaved
}

// runPipe runs `llbgen ARGS | buildctl --addr ADDR build --output
// type=local,dest=DEST` in dir (the current one when empty), with env added
// to llbgen's environment. A dest that starts with type= is the whole
// --output.
func runPipe(t *testing.T, buildctl, addr, dir, dest string, env []string, args ...string) pipeRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	gen := llbgenCmd(t, "", args...)
	gen.Dir = dir
	gen.Env = append(gen.Env, env...)
	output := "type=local,dest=" + dest
	if strings.HasPrefix(dest, "type=") {
		output = dest
	}
	ctl := exec.CommandContext(ctx, buildctl, "--addr", addr, "build", "--progress", "plain", "--output", output)
	ctl.Dir = dir
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	gen.Stdout, gen.Stderr = w, &log
	ctl.Stdin, ctl.Stdout, ctl.Stderr = r, &log, &log
	if err := gen.Start(); err != nil {
		t.Fatal(err)
	}
	stop := context.AfterFunc(ctx, func() { gen.Process.Kill() })
	defer stop()
	if err := ctl.Start(); err != nil {
		gen.Process.Kill()
		t.Fatal(err)
	}
	r.Close()
	w.Close()
	var p pipeRun
	p.llbgen, p.buildctl = waitCode(t, gen.Wait()), waitCode(t, ctl.Wait())
	p.code = p.buildctl
	if p.llbgen != 0 {
		p.code = p.llbgen
	}
	p.log = log.String()
	return p
}

// waitCode is the exit code that err from Wait stands for.
func waitCode(t *testing.T, err error) int {
	t.Helper()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// syncBuffer is a bytes.Buffer two processes may write to at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// repoCopy copies the repository (without .git, bin, out) into a new
// directory, as a user's clone would be.
func repoCopy(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	err = filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if fi.IsDir() && (rel == ".git" || rel == "bin" || rel == "out") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatalf("copying the repository: %v", err)
	}
	return dst
}

// bake runs `docker buildx bake` at dir with extra environment.
func bake(t *testing.T, x *testbed.Buildx, dir string, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	return x.Bake(ctx, dir, env)
}

// standInList is a list of images built with the test bed's toolchain.
func standInList(bed *testbed.Bed, images ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "helper:\n  version: v0.12.0\ngo: %s\ntargets:\n", bed.Golang())
	for _, img := range images {
		fmt.Fprintf(&b, "  - image: %s\n", img)
	}
	return b.String()
}

func writeList(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "targets.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// assertFiles checks dir holds exactly the binaries named in want, each
// with its build information, and SHA256SUMS.
func assertFiles(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got, exp []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	for f := range want {
		exp = append(exp, f, f+graph.BuildInfoSuffix)
	}
	exp = append(exp, "SHA256SUMS")
	sort.Strings(exp)
	if strings.Join(got, " ") != strings.Join(exp, " ") {
		t.Fatalf("output files %q, want %q", got, exp)
	}
}

// assertSums checks SHA256SUMS the way `sha256sum -c` does, and its order.
func assertSums(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var names []string
	for _, line := range lines {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not `HEX  NAME`", line)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("SHA256SUMS says %s for %s, file has %x", sum, name, h)
		}
		names = append(names, name)
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("SHA256SUMS is not sorted by name: %q", names)
	}
	if len(names) != countBinaries(t, dir) {
		t.Errorf("SHA256SUMS lists %d files, directory has %d binaries", len(names), countBinaries(t, dir))
	}
	assertSumsOK(t, dir)
}

// assertSumsOK runs `sha256sum -c` in dir.
func assertSumsOK(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s", err, out)
	}
}

// assertSumsList checks SHA256SUMS names exactly files, and that they check.
func assertSumsList(t *testing.T, dir string, files ...string) {
	t.Helper()
	assertSumsOK(t, dir)
	data, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		_, name, _ := strings.Cut(line, "  ")
		names = append(names, name)
	}
	if strings.Join(names, " ") != strings.Join(files, " ") {
		t.Errorf("SHA256SUMS lists %q, want %q", names, files)
	}
}

func countBinaries(t *testing.T, dir string) int {
	entries, _ := filepath.Glob(filepath.Join(dir, "docker-credential-ecr-login-*"))
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e, graph.BuildInfoSuffix) {
			n++
		}
	}
	return n
}

// assertStatic checks the binary has no ELF interpreter: CGO_ENABLED=0 made
// it independent of any image's libc.
func assertStatic(t *testing.T, path string) {
	t.Helper()
	machine, interp, _ := elfOf(t, path)
	if interp != "" {
		t.Errorf("%s has an ELF interpreter: it is dynamically linked", path)
	}
	if machine != elf.EM_X86_64 {
		t.Errorf("%s is for %v, want x86-64", path, machine)
	}
}

func assertNoStaging(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind in the output directory: %s", e.Name())
		}
	}
}

// snapshot describes a directory's files and contents in one string.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		fmt.Fprintf(&b, "%s=%q ", e.Name(), data)
	}
	return b.String()
}
