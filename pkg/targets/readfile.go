package targets

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoWriter says that a FIFO (or a pipe) gave nothing and no program held
// it open for writing.
var ErrNoWriter = errors.New("it is a FIFO or pipe that no program writes to (nothing arrived); start the program that writes it first, or pass a regular file")

// writerGrace is how long ReadBounded waits for a writer to open a FIFO that
// had none when it was opened: a writer started just before llbgen (mkfifo f;
// gen >f & llbgen -f f) opens it only once llbgen has. A writer that has it
// open by then is waited for, however long it takes to write. (A variable:
// tests widen it.)
var writerGrace = 300 * time.Millisecond

// ReadBounded reads at most limit+1 bytes of file, whatever it is, and never
// hangs on a FIFO without a writer: the file is opened O_NONBLOCK (a plain
// open would wait for a writer forever); Go's poller then waits for data
// while a writer holds it open, and a FIFO whose writer does not open it
// within a moment is refused with ErrNoWriter. A pipe (-f /dev/stdin) reads as
// usual. The caller compares the length with limit.
func ReadBounded(file string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(file, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := io.LimitReader(f, limit+1)
	data, err := io.ReadAll(r)
	if err != nil || len(data) > 0 {
		return data, err
	}
	// Nothing, and at once: on a FIFO, no writer (yet).
	fi, err := f.Stat()
	if err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		return data, err
	}
	ok, err := waitForWriter(f, writerGrace)
	if err != nil {
		return nil, err
	}
	data, err = io.ReadAll(r)
	if err == nil && len(data) == 0 && !ok {
		// Nothing arrived in time, and reading ends at once: no writer has
		// it open. (One that opened it and has not written yet is waited
		// for, as a pipe's writer is: the read waits in Go's poller.)
		return nil, ErrNoWriter
	}
	return data, err
}

// waitForWriter waits up to d for f, a FIFO read to its end, to have data or
// a writer that came and went. (On Linux a FIFO that never had a writer since
// it was opened does not report a hang-up, so poll waits for one.)
func waitForWriter(f *os.File, d time.Duration) (bool, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	deadline := time.Now().Add(d)
	var n int
	var perr error
	err = rc.Control(func(fd uintptr) {
		for {
			left := time.Until(deadline)
			if left <= 0 {
				n, perr = 0, nil
				return
			}
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, perr = unix.Poll(fds, int(left.Milliseconds())+1)
			if perr != unix.EINTR {
				return
			}
		}
	})
	if err == nil {
		err = perr
	}
	return n > 0, err
}
