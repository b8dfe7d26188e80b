package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/llbgen/llbgen/internal/testbed"
)

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
	cmd := llbgenCmd(t, addr, args...)
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

func llbgenCmd(t *testing.T, addr string, args ...string) *exec.Cmd {
	cmd := exec.Command(llbgenBinary(t), args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BUILDKIT_HOST=") && !strings.HasPrefix(kv, "BUILDKIT_PROGRESS=") {
			env = append(env, kv)
		}
	}
	if addr != "" {
		env = append(env, "BUILDKIT_HOST="+addr)
	}
	cmd.Env = env
	return cmd
}

func standInList(bed *testbed.Bed, images ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "helper:\n  version: v0.12.0\ngo: %s\ntargets:\n", bed.Golang())
	for _, img := range images {
		fmt.Fprintf(&b, "  - image: %s\n", img)
	}
	return b.String()
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBuildLandsGoodTargetsWhenOneImageIsMissing(t *testing.T) {
	bed := testbed.Require(t)
	out := t.TempDir()
	missing := bed.Registry + "/nope/missing:1"
	list := writeList(t, standInList(bed, bed.Musl(), bed.Glibc(), missing))
	writeFile(t, filepath.Join(out, "notes.txt"), "mine")
	writeFile(t, filepath.Join(out, "docker-credential-ecr-login-missing_1"), "the old binary")

	r := runLLBGen(t, bed.Addr, "build", "-f", list, "--out", out, "--progress", "plain")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "missing_1: image "+missing+" not found or not authorised") {
		t.Errorf("the summary does not name the failed target and its cause:\n%s", tail(r.stderr, 12))
	}
	if !strings.Contains(r.stderr, "2 of 3 binaries verified") {
		t.Errorf("the summary does not count the good targets:\n%s", tail(r.stderr, 12))
	}
	if got, _ := os.ReadFile(filepath.Join(out, "notes.txt")); string(got) != "mine" {
		t.Error("an unrelated file in the output directory changed")
	}
	if got, _ := os.ReadFile(filepath.Join(out, "docker-credential-ecr-login-missing_1")); string(got) != "the old binary" {
		t.Error("the failed target's old file did not survive")
	}
	for _, f := range []string{"docker-credential-ecr-login-docker_19.03.12", "docker-credential-ecr-login-gitlab-runner_v13.2.1"} {
		assertStatic(t, filepath.Join(out, f))
	}
	assertSumsList(t, out, "docker-credential-ecr-login-docker_19.03.12", "docker-credential-ecr-login-gitlab-runner_v13.2.1", "docker-credential-ecr-login-missing_1")
	assertNoStaging(t, out)
}

// The daemon is unreachable: fail fast, name the address, say how to get a
// daemon, write nothing. Needs no daemon, so it always runs.
func TestBuildUnreachableDaemon(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "tcp://" + l.Addr().String()
	l.Close()
	// A listener that accepts and never speaks: the slow kind of unreachable.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for name, addr := range map[string]string{
		"missing socket": "unix://" + filepath.Join(t.TempDir(), "none.sock"),
		"closed port":    closed,
		"silent peer":    "tcp://" + silent.Addr().String(),
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			list := writeList(t, goodList)
			r := runLLBGen(t, "", "build", "-f", list, "--out", out, "--addr", addr)
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			if r.took > 12*time.Second {
				t.Errorf("took %s, want under 10s (plus start-up)", r.took)
			}
			for _, want := range []string{"cannot reach a BuildKit daemon at " + addr, "make buildkitd", "BUILDKIT_HOST"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("the output directory was created: %v", err)
			}
		})
	}
}

// Two runs into one directory at once, building different helper versions
// under one shared name: every file is whole (it runs and reports one of the
// two versions) and SHA256SUMS matches what is there.
func TestBuildConcurrentRunsIntoOneDirectory(t *testing.T) {
	bed := testbed.Require(t)
	out := t.TempDir()
	writeFile(t, filepath.Join(out, "notes.txt"), "mine")
	lists := []string{
		writeList(t, standInList(bed, bed.Musl(), bed.Glibc())),
		writeList(t, strings.Replace(standInList(bed, bed.Glibc(), bed.MuslRunner()), "v0.12.0", "v0.11.0", 1)),
	}
	var wg sync.WaitGroup
	runs := make([]llbgenRun, len(lists))
	for i, list := range lists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i] = runLLBGen(t, bed.Addr, "build", "-f", list, "--out", out, "--progress", "quiet")
		}()
	}
	wg.Wait()
	for i, r := range runs {
		if r.code != 0 {
			t.Errorf("run %d: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	for f, versions := range map[string]string{
		"docker_19.03.12":              "0.12.0",
		"gitlab-runner_v13.2.1":        "0.12.0 0.11.0",
		"gitlab-runner_alpine-v13.2.1": "0.11.0",
	} {
		path := filepath.Join(out, "docker-credential-ecr-login-"+f)
		assertStatic(t, path)
		// The binaries are static: this machine runs them as they are.
		got, err := exec.Command(path, "version").Output()
		v := strings.TrimSpace(string(got))
		if err != nil || !slices.ContainsFunc(strings.Fields(versions), func(want string) bool { return strings.HasSuffix(v, " "+want) }) {
			t.Errorf("%s: version %q (%v), want one of %s", f, v, err, versions)
		}
	}
	assertSumsOK(t, out)
	assertNoStaging(t, out)
	if got, _ := os.ReadFile(filepath.Join(out, "notes.txt")); string(got) != "mine" {
		t.Error("an unrelated file changed")
	}
}

// An unknown helper version: every target fails with that cause, exit 1,
// and an output directory that did not exist is not created.
func TestBuildUnknownModuleVersion(t *testing.T) {
	bed := testbed.Require(t)
	out := filepath.Join(t.TempDir(), "out")
	list := writeList(t, strings.Replace(standInList(bed, bed.Musl()), "v0.12.0", "v0.12.99", 1))
	r := runLLBGen(t, bed.Addr, "build", "-f", list, "--out", out, "--progress", "plain")
	if r.code != 1 || !strings.Contains(r.stderr, "docker_19.03.12: module version unknown") {
		t.Errorf("exit %d, want 1 and the cause:\n%s", r.code, tail(r.stderr, 6))
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the output directory was created: %v", err)
	}
}

// On a private daemon with a cold cache: Ctrl-C in mid-build leaves the
// output directory as it was; a daemon killed in mid-build gives a clear
// error and leaves it as it was too; after a restart the next run succeeds.
func TestBuildInterrupted(t *testing.T) {
	bed := testbed.Require(t)
	d := bed.StartDaemon(t)
	out := t.TempDir()
	writeFile(t, filepath.Join(out, "docker-credential-ecr-login-docker_19.03.12"), "old")
	list := writeList(t, standInList(bed, bed.Musl()))
	before := snapshot(t, out)

	t.Run("ctrl-c", func(t *testing.T) {
		r := runUntilCompiling(t, d.Addr, list, out, func(cmd *exec.Cmd) { cmd.Process.Signal(os.Interrupt) })
		if r.code != 1 || !strings.Contains(r.stderr, "canceled") {
			t.Errorf("exit %d, want 1 and 'canceled':\n%s", r.code, tail(r.stderr, 5))
		}
		if r.took > 30*time.Second {
			t.Errorf("took %s to stop after Ctrl-C", r.took)
		}
		if after := snapshot(t, out); after != before {
			t.Errorf("the output directory changed:\nbefore %s\nafter  %s", before, after)
		}
	})

	d.Prune(t)
	t.Run("killed daemon", func(t *testing.T) {
		r := runUntilCompiling(t, d.Addr, list, out, func(*exec.Cmd) { d.Stop(true) })
		if r.code != 1 || !strings.Contains(r.stderr, "lost the connection to BuildKit at "+d.Addr) {
			t.Errorf("exit %d, want 1 and a lost-connection message:\n%s", r.code, tail(r.stderr, 5))
		}
		if after := snapshot(t, out); after != before {
			t.Errorf("the output directory changed:\nbefore %s\nafter  %s", before, after)
		}
		d.Restart(t)
		r2 := runLLBGen(t, d.Addr, "build", "-f", list, "--out", out, "--progress", "plain")
		if r2.code != 0 {
			t.Fatalf("the run after a restart failed: exit %d\n%s", r2.code, tail(r2.stderr, 20))
		}
		assertStatic(t, filepath.Join(out, "docker-credential-ecr-login-docker_19.03.12"))
		assertSumsOK(t, out)
	})
}

// runUntilCompiling starts `llbgen build` and calls interrupt once BuildKit
// reports that the compile stage started.
func runUntilCompiling(t *testing.T, addr, list, out string, interrupt func(*exec.Cmd)) llbgenRun {
	t.Helper()
	cmd := llbgenCmd(t, addr, "build", "-f", list, "--out", out, "--progress", "plain")
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	cmd.Stderr = io.MultiWriter(pw, &stderr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	var stopped time.Time
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), " compile the helper once") {
			time.Sleep(2 * time.Second) // well inside the cold compile
			stopped = time.Now()
			interrupt(cmd)
			break
		}
	}
	go io.Copy(io.Discard, pr)
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("llbgen did not end after the interruption\n%s", tail(stderr.String(), 20))
	}
	if stopped.IsZero() {
		t.Fatalf("the build ended before its compile stage was seen:\n%s", tail(stderr.String(), 20))
	}
	r := llbgenRun{stderr: stderr.String(), took: time.Since(stopped)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.code = -1
		}
	}
	return r
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

func assertNoStaging(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind in the output directory: %s", e.Name())
		}
	}
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

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
