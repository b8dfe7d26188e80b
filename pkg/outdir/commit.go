package outdir

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/llbgen/llbgen/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// Commit moves the staged files into place and rewrites SHA256SUMS for the
// files named in list that are then present, all under an exclusive lock on
// the directory. A file of list that was not staged keeps whatever was there.
//
// A run that staged nothing into a directory that does not exist commits
// nothing: no empty directory, no empty SHA256SUMS.
func (d *Dir) Commit(list []string) error {
	d.mu.Lock()
	nothing := len(d.staged) == 0
	d.mu.Unlock()
	if _, err := os.Stat(d.path); nothing && os.IsNotExist(err) {
		return nil
	}
	if err := d.create(); err != nil {
		return err
	}
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	removeLeftovers(d.path)
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.staged))
	for name := range d.staged {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.Rename(d.staged[name], filepath.Join(d.path, name)); err != nil {
			return fmt.Errorf("moving %s into place: %w", name, err)
		}
		delete(d.staged, name)
	}
	sums, err := Sums(d.path, list)
	if err != nil {
		return err
	}
	if err := d.writeAtomic(SumsFile, sums, newest(d.path, list)); err != nil {
		return err
	}
	return syncDir(d.path)
}

// lock takes an exclusive flock on the directory itself: no lock file is
// left among the user's files.
func (d *Dir) lock() (func(), error) {
	f, err := os.Open(d.path)
	if err != nil {
		return nil, fmt.Errorf("locking the output directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the output directory: %w", err)
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// newest is the latest time of the files of list in dir: SHA256SUMS is dated
// like the binaries it lists (fixed, for reproducible output).
func newest(dir string, list []string) time.Time {
	var t time.Time
	for _, name := range list {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.ModTime().After(t) {
			t = fi.ModTime()
		}
	}
	return t
}

func (d *Dir) writeAtomic(name string, data []byte, mtime time.Time) error {
	pattern := "." + name + tmpMarker + strconv.Itoa(os.Getpid()) + "-*"
	if err := atomicfile.Write(filepath.Join(d.path, name), pattern, data, 0o644, mtime); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// Sums returns SHA256SUMS content (`sha256sum -c` format, sorted by name)
// for the files of names that exist in dir.
func Sums(dir string, names []string) ([]byte, error) {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	var b strings.Builder
	for _, name := range sorted {
		f, err := os.Open(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("hashing %s: %w", name, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("hashing %s: %w", name, err)
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), name)
	}
	return []byte(b.String()), nil
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
