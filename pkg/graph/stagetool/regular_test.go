package stagetool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// finish reads a compile's output, which for cgo is a stage where the
// image's C compiler ran. Links and special files there are refused at
// once, never followed or read until they end.
func TestFinishRefusesLinksAndSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, in string }{
		{"binary is a link to /dev/zero", zero},
		{"binary is a FIFO", fifo},
		{"binary is a directory", sub},
	} {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan error, 1)
			out := filepath.Join(t.TempDir(), "out")
			go func() {
				done <- runFinish([]string{"-in", c.in, "-out", out})
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Error("finished")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("finish blocked")
			}
		})
	}
}

// A diagnosis reads the image's files; one that cannot end (a FIFO where
// the binary or a library is looked for) is cut off, and says so.
func TestDiagnosisIsBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "bin")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := diagnoseWithin(200*time.Millisecond, dir, fifo, errors.New("exit status 1"), "")
	if time.Since(start) > 5*time.Second || !strings.Contains(got, "no diagnosis: reading the image's files took longer than 200ms") {
		t.Errorf("after %v: %q", time.Since(start), got)
	}
}

// A run ends at its timeout even when the binary leaves a process holding
// its output, and keeps only the start of what it printed. The process
// left behind sleeps longer than the run's WaitDelay (5 s) can wait, so
// the run ending before it proves the cut-off; the test kills it after.
func TestRunIsBounded(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	const left = 12 * time.Second
	dir := t.TempDir()
	bin := filepath.Join(dir, "noisy")
	pidFile := filepath.Join(dir, "pid")
	script := fmt.Sprintf("#!/bin/sh\nsleep %d &\necho $! >%s\nhead -c 5000000 /dev/zero | tr '\\0' x\n", int(left.Seconds()), pidFile)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if data, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	start := time.Now()
	out, _ := run(bin, 2*time.Second)
	if d := time.Since(start); d > left-2*time.Second {
		t.Errorf("run took %v: it waited for the process the binary left", d)
	}
	if len(out) > maxRunOutput {
		t.Errorf("kept %d bytes of output, want at most %d", len(out), maxRunOutput)
	}
	if _, err := os.Stat(pidFile); err != nil {
		t.Errorf("the binary did not leave its process: %v", err)
	}
}
