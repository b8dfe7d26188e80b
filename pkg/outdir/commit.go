package outdir

import (
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

	"github.com/llbgen/llbgen/internal/atomicfile"
)

// Commit moves the staged units into place and rewrites SHA256SUMS for the
// files named in list that are then present, all under an exclusive lock on
// the directory. A file of list that was not staged keeps whatever was there.
// A unit with a name held by anything but a regular file does not land, and
// a list name held by one is not listed: Refused says why.
//
// Nothing is staged after Commit, whatever it returns. When it fails after
// writing its journal, the next Open or Commit finishes it.
//
// A run that staged nothing into a directory that does not exist, or that
// it made itself, commits nothing: no empty directory, no empty SHA256SUMS.
func (d *Dir) Commit(list []string) error {
	d.mu.Lock()
	d.refused = map[string]error{}
	d.units = slices.DeleteFunc(d.units, func(u *Unit) bool {
		if !u.staged {
			u.dropLocked() // never completed: cannot land
		}
		return !u.staged
	})
	nothing := len(d.units) == 0
	if nothing && d.created {
		os.Remove(d.path) // fails, harmlessly, unless empty
	}
	d.mu.Unlock()
	if _, err := os.Stat(d.path); nothing && errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := d.create(); err != nil {
		d.Discard()
		return err
	}
	unlock, err := lockDir(d.path)
	if err != nil {
		d.Discard()
		return err
	}
	defer unlock()
	step("locked")
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := tidy(d.path); err != nil {
		d.dropAll()
		return err
	}
	j, sums, mtime, err := d.plan(list)
	if err != nil {
		d.dropAll()
		return err
	}
	units := d.units
	d.units = nil
	journaled, err := land(d.path, j, sums, mtime)
	for _, u := range units {
		for _, s := range u.files {
			if !journaled {
				os.Remove(s.path)
			}
			s.f.Close()
		}
	}
	if err != nil && journaled {
		return fmt.Errorf("%w (the next run into %s finishes this commit)", err, d.path)
	}
	if err != nil && d.created {
		os.Remove(d.path) // fails, harmlessly, unless empty
	}
	return err
}

// plan refuses the units that cannot land, and returns the journal of the
// others with the new SHA256SUMS and its date. d.mu is held.
func (d *Dir) plan(list []string) (*journal, []byte, time.Time, error) {
	if _, err := checkName(d.path, SumsFile); err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("writing %s: %w", SumsFile, err)
	}
	names, err := listNames(list)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	j := &journal{List: names}
	byName := map[string]*staged{}
	ok := committable(names)
	d.units = slices.DeleteFunc(d.units, func(u *Unit) bool {
		err := u.check(d.path)
		for _, s := range u.files {
			if err == nil && !ok(s.name) {
				// recovery would refuse a journal that lands it
				err = fmt.Errorf("refusing to land %s in %s: not a listed file, its %s or an attestation (*%s)", s.name, d.path, InfoSuffix, AttestationSuffix)
			}
		}
		if err != nil {
			for _, s := range u.files {
				d.refused[s.name] = err
			}
			u.dropLocked()
			step("refused")
			return true
		}
		for _, s := range u.files {
			byName[s.name] = s
			j.Renames = append(j.Renames, rename{From: filepath.Base(s.path), To: s.name})
		}
		return false
	})
	slices.SortFunc(j.Renames, func(a, b rename) int { return strings.Compare(a.To, b.To) })
	sums, mtime, refused, err := sumsOf(d.path, names, byName)
	for name, err := range refused {
		if d.refused[name] == nil {
			d.refused[name] = err
		}
	}
	return j, sums, mtime, err
}

// check refuses a unit when any of its names holds something other than a
// regular file: the unit lands whole or not at all.
func (u *Unit) check(dir string) error {
	for _, s := range u.files {
		if _, err := checkName(dir, s.name); err != nil {
			return err
		}
	}
	return nil
}

// land writes the journal (when anything moves), renames the staged files
// into place, writes SHA256SUMS and removes the journal. journaled says
// whether the journal was written: from then on the staging files are its.
func land(dir string, j *journal, sums []byte, mtime time.Time) (journaled bool, err error) {
	if len(j.Renames) > 0 {
		// the staging files' names must be on disk before a journal names them
		if err := syncDir(dir); err != nil {
			return false, err
		}
		if err := j.write(dir); err != nil {
			return false, err
		}
		step("journal written")
		journaled = true
	}
	return journaled, j.finish(dir, func() ([]byte, time.Time, error) { return sums, mtime, nil })
}

// listNames sorts list without duplicates, refusing names outside the
// directory.
func listNames(list []string) ([]string, error) {
	names := slices.Clone(list)
	slices.Sort(names)
	names = slices.Compact(names)
	for _, name := range names {
		if !plainName(name) {
			return nil, fmt.Errorf("refusing to list %q in %s", name, SumsFile)
		}
	}
	return names, nil
}

// InfoSuffix ends the name of a listed file's build information
// (targets.BuildInfoSuffix), and AttestationSuffix an attestation's.
const (
	InfoSuffix        = ".buildinfo"
	AttestationSuffix = ".json"
)

// committable returns whether a commit with SHA256SUMS covering list may
// land a file at a name: a listed file, a listed file's build
// information, or an attestation. Nothing else is staged through this
// package, and a journal that renames anything else was not written by it.
func committable(list []string) func(name string) bool {
	listed := map[string]bool{}
	for _, name := range list {
		listed[name] = true
	}
	return func(name string) bool {
		if !plainName(name) {
			return false
		}
		base, info := strings.CutSuffix(name, InfoSuffix)
		return listed[name] || info && listed[base] || strings.HasSuffix(name, AttestationSuffix)
	}
}

// plainName is a name this package writes: in the directory, not hidden.
func plainName(name string) bool {
	return name != "" && name == filepath.Base(name) && !strings.HasPrefix(name, ".") && name != SumsFile
}

// newer is the later of two times.
func newer(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sumsOf returns SHA256SUMS content (`sha256sum -c` format, sorted by name)
// for the files of names (sorted) present in dir, or staged for them, and
// the newest of their times: SHA256SUMS is dated like the binaries it lists.
// A name held by anything but a regular file is left out, in refused.
func sumsOf(dir string, names []string, staged map[string]*staged) ([]byte, time.Time, map[string]error, error) {
	var b strings.Builder
	var mtime time.Time
	refused := map[string]error{}
	for _, name := range names {
		if s := staged[name]; s != nil {
			fmt.Fprintf(&b, "%s  %s\n", s.sum, name)
			mtime = newer(mtime, s.mtime)
			continue
		}
		sum, t, err := hashFile(dir, name)
		var nf *NotFileError
		switch {
		case errors.As(err, &nf):
			refused[name] = err
		case err != nil:
			return nil, time.Time{}, nil, fmt.Errorf("hashing %s: %w", name, err)
		case sum != "":
			fmt.Fprintf(&b, "%s  %s\n", sum, name)
			mtime = newer(mtime, t)
		}
	}
	return []byte(b.String()), mtime, refused, nil
}

// hashFile returns the sha256 and time of the regular file name in dir, or
// "" when there is none.
func hashFile(dir, name string) (string, time.Time, error) {
	f, err := openRegular(dir, name)
	if f == nil {
		return "", time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", time.Time{}, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", time.Time{}, err
	}
	return hex.EncodeToString(h.Sum(nil)), fi.ModTime(), nil
}

// Sums returns SHA256SUMS content (`sha256sum -c` format, sorted by name)
// for the files of names that exist in dir. A name held by anything but a
// regular file is an error: it is neither followed nor read.
func Sums(dir string, names []string) ([]byte, error) {
	names, err := listNames(names)
	if err != nil {
		return nil, err
	}
	data, _, refused, err := sumsOf(dir, names, nil)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if err := refused[name]; err != nil {
			return nil, err
		}
	}
	return data, nil
}

// writeSums replaces SHA256SUMS, refusing to replace anything but a regular
// file.
func writeSums(dir string, data []byte, mtime time.Time) error {
	if _, err := checkName(dir, SumsFile); err != nil {
		return fmt.Errorf("writing %s: %w", SumsFile, err)
	}
	if err := atomicfile.Write(filepath.Join(dir, SumsFile), "."+SumsFile+tmpMarker+"*", data, 0o644, mtime); err != nil {
		return fmt.Errorf("writing %s: %w", SumsFile, err)
	}
	return nil
}
