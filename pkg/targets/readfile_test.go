package targets

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const fifoList = "helper: {version: v0.12.0}\ntargets:\n  - image: docker:20.10\n"

func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "targets.yaml")
	if err := unix.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return p
}

// A FIFO that no program writes to is refused at once: a plain open would
// wait for a writer forever.
func TestLoadFIFOWithoutWriter(t *testing.T) {
	fifo := mkfifo(t)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := Load(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if took := time.Since(start); took > time.Second {
			t.Errorf("took %v, want < 1s", took)
		}
		want := "reading " + fifo + ": it is a FIFO or pipe that no program writes to (nothing arrived); start the program that writes it first, or pass a regular file"
		if !errors.Is(err, ErrNoWriter) || err.Error() != want {
			t.Errorf("got %v, want %q", err, want)
		}
	case <-time.After(2 * time.Second):
		// Unblock the open so the goroutine ends, then fail.
		if w, err := os.OpenFile(fifo, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		t.Fatal("Load hangs on a FIFO without a writer")
	}
}

// widenGrace lets a writer that the test starts open the FIFO in time on a
// loaded machine; the test without a writer keeps the real grace.
func widenGrace(t *testing.T, d time.Duration) {
	old := writerGrace
	writerGrace = d
	t.Cleanup(func() { writerGrace = old })
}

// fifoWriter opens fifo for writing (which waits for a reader, as a shell's
// `gen >f &` does), waits delay, then writes the list.
func fifoWriter(fifo string, delay time.Duration) {
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		time.Sleep(delay)
		w.WriteString(fifoList)
	}()
}

// A writer that opens the FIFO only once llbgen has (mkfifo f; gen >f &
// llbgen -f f) is read.
func TestLoadFIFOWithWriter(t *testing.T) {
	widenGrace(t, 10*time.Second)
	fifo := mkfifo(t)
	fifoWriter(fifo, 50*time.Millisecond)
	if l, err := Load(fifo); err != nil || len(l.Targets) != 1 {
		t.Errorf("a FIFO with a writer: %v", err)
	}
}

// A pipe whose writer is slow to write is read: it has a writer.
func TestLoadPipeWithSlowWriter(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		defer w.Close()
		time.Sleep(2 * writerGrace) // longer than a FIFO waits for a writer
		w.WriteString(fifoList)
	}()
	// /dev/fd/N opens the pipe again, as -f /dev/stdin does.
	if l, err := Load("/dev/fd/" + strconv.Itoa(int(r.Fd()))); err != nil || len(l.Targets) != 1 {
		t.Errorf("a pipe with a slow writer: %v", err)
	}
}

// A writer that opened the FIFO in time but writes only after the grace
// (a generator that takes a while) is waited for: it is a writer.
func TestLoadFIFOWithLateWrite(t *testing.T) {
	widenGrace(t, time.Second) // time enough to open it, however loaded
	fifo := mkfifo(t)
	// it opens once Load has, so it writes after Load's grace is over
	fifoWriter(fifo, writerGrace+500*time.Millisecond)
	if l, err := Load(fifo); err != nil || len(l.Targets) != 1 {
		t.Errorf("a FIFO whose writer writes after %v: %v", writerGrace, err)
	}
}

// Regular files and devices read as before.
func TestReadBoundedFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadBounded(p, 10); err != nil || string(got) != "abc" {
		t.Errorf("a file: %q %v", got, err)
	}
	if got, err := ReadBounded(p, 1); err != nil || string(got) != "ab" {
		t.Errorf("one byte past the limit: %q %v", got, err)
	}
	if got, err := ReadBounded("/dev/zero", 5); err != nil || len(got) != 6 {
		t.Errorf("/dev/zero: %d bytes, %v", len(got), err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadBounded(empty, 5); err != nil || len(got) != 0 {
		t.Errorf("an empty file: %q %v", got, err)
	}
	if _, err := ReadBounded(filepath.Join(t.TempDir(), "none"), 5); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	if _, err := ReadBounded(t.TempDir(), 5); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory: %v", err)
	}
}
