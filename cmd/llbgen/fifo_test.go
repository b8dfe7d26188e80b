package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A FIFO that no program writes to, given with -f or lying at FILE.lock, is
// refused at once, exit 2, instead of hanging in open.
func TestFIFOWithoutWriterExits2Quickly(t *testing.T) {
	for _, tt := range []struct{ name, fifo string }{
		{"-f FIFO", "targets.yaml"},
		{"FIFO as the lock", "targets.yaml.lock"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.fifo != "targets.yaml" {
				if err := os.WriteFile(filepath.Join(dir, "targets.yaml"), []byte(goodList), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			fifo := filepath.Join(dir, tt.fifo)
			if err := unix.Mkfifo(fifo, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			t.Cleanup(func() { // ends a hung open, if the test fails
				if w, err := os.OpenFile(fifo, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
			})
			type result struct {
				code           int
				stdout, stderr string
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				code, stdout, stderr := runCLI(t, "", "-f", filepath.Join(dir, "targets.yaml"))
				done <- result{code, stdout, stderr}
			}()
			select {
			case r := <-done:
				if took := time.Since(start); took > time.Second {
					t.Errorf("took %v, want < 1s", took)
				}
				if r.code != exitBadInput || r.stdout != "" {
					t.Errorf("exit %d with %d bytes on stdout, want 2 and none; stderr:\n%s", r.code, len(r.stdout), r.stderr)
				}
				want := fifo + ": it is a FIFO or pipe that no program writes to"
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr %q does not say %q", r.stderr, want)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("llbgen hangs on a FIFO without a writer")
			}
		})
	}
}
