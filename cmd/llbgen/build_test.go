package main

import (
	"bufio"
	"bytes"
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
