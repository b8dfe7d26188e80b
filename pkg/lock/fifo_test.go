package lock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/llbgen/llbgen/pkg/targets"
)

// A FIFO as FILE.lock, with no writer, is refused at once, naming the file;
// a plain open would wait for a writer forever.
func TestReadFIFOWithoutWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.yaml.lock")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := Read(path)
		done <- err
	}()
	select {
	case err := <-done:
		if took := time.Since(start); took > time.Second {
			t.Errorf("took %v, want < 1s", took)
		}
		want := path + ": " + targets.ErrNoWriter.Error()
		if !errors.Is(err, targets.ErrNoWriter) || err.Error() != want {
			t.Errorf("got %v, want %q", err, want)
		}
	case <-time.After(2 * time.Second):
		if w, err := os.OpenFile(path, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		t.Fatal("Read hangs on a FIFO without a writer")
	}
	if _, err := Read(filepath.Join(t.TempDir(), "none.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing lock: %v, want os.ErrNotExist", err)
	}
}
