// Package atomicfile replaces a file so that readers see the old content or
// the new, never a part of it.
package atomicfile

import (
	"os"
	"path/filepath"
	"time"
)

// Write replaces path with data: written to a temporary file beside it
// (named by pattern, as os.CreateTemp takes it), synced, given mode, dated
// mtime unless it is zero, then renamed over path, and the directory synced.
func Write(path, pattern string, data []byte, mode os.FileMode, mtime time.Time) error {
	f, err := os.CreateTemp(filepath.Dir(path), pattern)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !mtime.IsZero() {
		err = os.Chtimes(f.Name(), mtime, mtime)
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir last through a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
