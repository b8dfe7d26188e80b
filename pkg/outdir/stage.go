package outdir

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Unit is a set of files that land together at Commit, or none of them
// does: a binary and its build information.
type Unit struct {
	d      *Dir
	files  []*staged
	staged bool // complete: handed to the directory by Stage
}

// staged is one complete staging file.
type staged struct {
	name  string   // final name in the directory
	path  string   // the staging file
	f     *os.File // open and flock'ed while staged: the lock says this run is alive
	sum   string   // sha256 of the content, hex
	mtime time.Time
}

// Unit starts a unit of files to stage. It lands at Commit only once Stage
// is called; Drop (or Discard) removes its files.
func (d *Dir) Unit() *Unit {
	u := &Unit{d: d}
	d.mu.Lock()
	d.units = append(d.units, u)
	d.mu.Unlock()
	return u
}

// Write stages the file name of the unit with the content fill writes,
// dated mtime (unless zero). It is staged only when fill and the sync
// succeed; otherwise it is removed and the error returned.
func (u *Unit) Write(name string, mode os.FileMode, mtime time.Time, fill func(io.Writer) error) error {
	if name != filepath.Base(name) || name == "" || strings.HasPrefix(name, ".") || name == SumsFile {
		return fmt.Errorf("refusing to write %q into the output directory", name)
	}
	if err := u.d.create(); err != nil {
		return err
	}
	s, err := stage(u.d.path, name, mode, mtime, fill)
	if err != nil {
		return fmt.Errorf("staging %s: %w", name, err)
	}
	u.d.mu.Lock()
	defer u.d.mu.Unlock()
	for i, o := range u.files {
		if o.name == name {
			o.remove()
			u.files = slices.Delete(u.files, i, i+1)
			break
		}
	}
	u.files = append(u.files, s)
	return nil
}

// Stage marks the unit complete: its files land at Commit. An earlier unit
// that shares a name with it is dropped whole.
func (u *Unit) Stage() {
	d := u.d
	d.mu.Lock()
	defer d.mu.Unlock()
	d.units = slices.DeleteFunc(d.units, func(o *Unit) bool {
		if o != u && o.staged && o.shares(u) {
			o.dropLocked()
			return true
		}
		return false
	})
	u.staged = true
}

// Drop removes the unit's staging files: none of them lands.
func (u *Unit) Drop() {
	u.d.mu.Lock()
	defer u.d.mu.Unlock()
	u.dropLocked()
	u.d.units = slices.DeleteFunc(u.d.units, func(o *Unit) bool { return o == u })
}

func (u *Unit) dropLocked() {
	for _, s := range u.files {
		s.remove()
	}
	u.files, u.staged = nil, false
}

func (u *Unit) shares(o *Unit) bool {
	for _, a := range u.files {
		for _, b := range o.files {
			if a.name == b.name {
				return true
			}
		}
	}
	return false
}

// Write stages one file as a unit of its own; see Unit.Write.
func (d *Dir) Write(name string, mode os.FileMode, mtime time.Time, fill func(io.Writer) error) error {
	u := d.Unit()
	if err := u.Write(name, mode, mtime, fill); err != nil {
		u.Drop()
		return err
	}
	u.Stage()
	return nil
}

// stage writes a locked staging file for name in dir.
func stage(dir, name string, mode os.FileMode, mtime time.Time, fill func(io.Writer) error) (*staged, error) {
	f, p, err := createLocked(dir, name, mode)
	if err != nil {
		return nil, err
	}
	step("created " + filepath.Base(p))
	s := &staged{name: name, path: p, f: f, mtime: mtime}
	h := sha256.New()
	// fill sees a plain writer, so the hash is of every byte in the file
	err = fill(io.MultiWriter(f, h))
	if err == nil {
		err = f.Sync()
	}
	if err == nil && !mtime.IsZero() {
		err = os.Chtimes(p, mtime, mtime)
	}
	if err == nil && mtime.IsZero() {
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil {
			s.mtime = fi.ModTime()
		}
	}
	if err != nil {
		s.remove()
		return nil, err
	}
	s.sum = hex.EncodeToString(h.Sum(nil))
	return s, nil
}

// createLocked creates a new staging file for name and flocks it. A run
// removing leftovers may take the new file between its creation and the
// lock; then it is gone from its name, and another name is tried.
func createLocked(dir, name string, mode os.FileMode) (*os.File, string, error) {
	for range 8 {
		var rnd [8]byte
		if _, err := rand.Read(rnd[:]); err != nil {
			return nil, "", err
		}
		p := filepath.Join(dir, "."+name+tmpMarker+hex.EncodeToString(rnd[:]))
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDWR, mode)
		if err != nil {
			return nil, "", err
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil && sameFile(f, p) {
			return f, p, nil
		}
		f.Close()
		if err != nil && !errors.Is(err, unix.EWOULDBLOCK) {
			os.Remove(p)
			return nil, "", fmt.Errorf("locking the staging file: %w", err)
		}
	}
	return nil, "", errors.New("another run keeps removing new staging files")
}

// sameFile reports whether path still names the file f has open.
func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}

// remove deletes the staging file, then lets go of its lock.
func (s *staged) remove() {
	os.Remove(s.path)
	s.f.Close()
}
