// Package outdir writes build results into a directory the user owns,
// without ever losing or half-writing what is there:
//
//   - a file is written in full beside its final name (a staging file) and
//     renamed into place only when the run commits, so it lands whole or not
//     at all; files staged as one Unit (a binary and its build information)
//     land together or not at all;
//   - files this run does not produce are never touched, and a name held by
//     anything but a regular file (a directory, a symlink, a FIFO, a device,
//     a socket) is never followed, read, hashed or replaced: the unit that
//     would replace it does not land, and Refused says why;
//   - the commit of a run holds an exclusive lock on the directory, so two
//     runs never interleave their files, and nothing done under the lock can
//     block (files are opened O_NONBLOCK|O_NOFOLLOW and must be regular);
//   - SHA256SUMS lists exactly the regular files of the run's list that are
//     present;
//   - a run that commits nothing leaves no trace, not even the directory.
//
// # Staging files
//
// A staging file is named ".NAME.llbgen-tmp-RANDOM" and is flock'ed through
// the descriptor that wrote it for as long as it is staged. A staging file
// that no one holds locked belongs to a run that is gone: the kernel drops a
// lock when its holder dies, in any PID namespace, with or without /proc.
// Under the directory lock, Open and Commit remove such leftovers, and only
// those whose non-blocking flock succeeds.
//
// # Commit journal
//
// A commit, under the directory lock, first finishes any interrupted
// commit and removes leftovers; then it refuses the units whose names are not
// regular files and computes the new SHA256SUMS; then it writes the journal
// ".llbgen-commit" atomically: the renames (staging file to name) and the
// list that SHA256SUMS covers. Only then does it rename the files into place,
// write SHA256SUMS and remove the journal. Staging files stay on disk until
// their rename, so every step can be redone.
//
// Recovery rolls forward. A commit killed before its journal exists changed
// nothing but leave leftovers, which are removed. A commit killed after is
// finished by the next Open or Commit: a rename whose staging file is gone
// was done, the others are done now, SHA256SUMS is computed again from the
// files then present, and the journal is removed. So after recovery the
// directory holds the old files or the new, never a mix, and SHA256SUMS
// matches them.
//
// Recovery trusts a journal only as far as llbgen could have written it:
// the journal and every staging file it renames must be regular files of
// this process's user, each staging file with a single link, and it may
// land only the names a commit lands (a listed file, its build information,
// an attestation). In a directory that others can write to, a planted
// journal is refused with a JournalError, which names it and asks the user
// to check it and remove it; every run stops at it until then.
package outdir

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// SumsFile is the checksum file kept beside the binaries.
const SumsFile = "SHA256SUMS"

// tmpMarker is in every staging and temporary file's name: one that no
// process holds locked is a leftover of a killed run.
const tmpMarker = ".llbgen-tmp-"

// journalFile records a commit under way, for the next run to finish.
const journalFile = ".llbgen-commit"

// step is called after each filesystem step of staging, commit and
// recovery: tests kill the process there.
var step = func(string) {}

// Dir is an output directory.
type Dir struct {
	path    string
	mu      sync.Mutex
	created bool             // this run made the directory
	units   []*Unit          // every unit of this run not yet landed or dropped
	refused map[string]error // set by Commit: names it would not replace or read
}

// Open returns the output directory at path. When it exists, a commit that
// an earlier run left unfinished is finished first, and that run's leftovers
// removed. Nothing is created until a file is written.
func Open(path string) (*Dir, error) {
	d := &Dir{path: path}
	fi, err := os.Stat(path)
	switch {
	case err == nil && !fi.IsDir():
		return nil, fmt.Errorf("output %s exists and is not a directory", path)
	case err == nil:
		unlock, err := lockDir(path)
		if err != nil {
			return nil, err
		}
		defer unlock()
		if err := tidy(path); err != nil {
			return nil, err
		}
	case errors.Is(err, os.ErrNotExist):
		if to, lerr := os.Readlink(path); lerr == nil {
			return nil, fmt.Errorf("output %s is a symlink to %s, which does not exist; create it or remove the link", path, to)
		}
	}
	return d, nil
}

// Path is the directory's path.
func (d *Dir) Path() string { return d.path }

// Refused names the files the last Commit would not replace or read, each
// with why: the units holding them did not land.
func (d *Dir) Refused() map[string]error {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := make(map[string]error, len(d.refused))
	for name, err := range d.refused {
		m[name] = err
	}
	return m
}

func (d *Dir) create() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := os.Stat(d.path); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(d.path, 0o755); err != nil {
			return fmt.Errorf("creating the output directory: %w", err)
		}
		d.created = true
	}
	return nil
}

// Discard removes every staged file, and the directory if this run made it
// and it is empty: the directory is left as it was.
func (d *Dir) Discard() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dropAll()
}

// dropAll is Discard with d.mu held.
func (d *Dir) dropAll() {
	for _, u := range d.units {
		u.dropLocked()
	}
	d.units = nil
	if d.created {
		os.Remove(d.path) // fails, harmlessly, unless empty
	}
}

// lockDir takes an exclusive flock on the directory itself: no lock file is
// left among the user's files. The path may be a symlink: the user chose it.
func lockDir(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("locking the output directory: %w", err)
	}
	if err := flock(f, unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the output directory: %w", err)
	}
	return func() {
		flock(f, unix.LOCK_UN)
		f.Close()
	}, nil
}

// flock retries on EINTR, which a blocking flock returns on any signal.
func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}
