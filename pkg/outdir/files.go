package outdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// NotFileError says a name in the output directory holds something other
// than a regular file, which llbgen never follows, reads or replaces.
type NotFileError struct {
	Path string
	What string // "a directory", "a symlink to /dev/zero", "a FIFO", ...
}

func (e *NotFileError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file: llbgen neither replaces nor reads it; move it away and run again", e.Path, e.What)
}

// what describes a file that is not regular.
func what(path string, fi fs.FileInfo) string {
	m := fi.Mode()
	switch {
	case m&fs.ModeSymlink != 0:
		if to, err := os.Readlink(path); err == nil {
			return "a symlink to " + to
		}
		return "a symlink"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "a special file"
}

// checkName returns what is at name in dir without following it: nil when
// nothing is, its FileInfo when it is a regular file, a *NotFileError when
// it is anything else.
func checkName(dir, name string) (fs.FileInfo, error) {
	p := filepath.Join(dir, name)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &NotFileError{Path: p, What: what(p, fi)}
	}
	return fi, nil
}

// openRegular opens name in dir for reading only if it is a regular file:
// never through a symlink, and never blocking on a FIFO or a device, since
// the caller may hold the directory lock. It returns nil, nil when name does
// not exist.
func openRegular(dir, name string) (*os.File, error) {
	// looked at first, so a device is never opened at all
	if fi, err := checkName(dir, name); fi == nil {
		return nil, err
	}
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		if fi, lerr := os.Lstat(p); lerr == nil && !fi.Mode().IsRegular() {
			return nil, &NotFileError{Path: p, What: what(p, fi)}
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = &NotFileError{Path: p, What: what(p, fi)}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func syncDir(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("syncing the output directory: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing the output directory: %w", err)
	}
	return nil
}
