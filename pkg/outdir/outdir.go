// Package outdir writes build results into a directory the user owns,
// without ever losing or half-writing what is there:
//
//   - a binary is written beside its final name and renamed into place, so it
//     lands whole or not at all;
//   - files this run does not produce are never touched;
//   - the commit of a run (renames plus SHA256SUMS) holds an exclusive lock
//     on the directory, so two runs never interleave their files;
//   - SHA256SUMS lists exactly the files of the run's list that are present.
package outdir

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SumsFile is the checksum file kept beside the binaries.
const SumsFile = "SHA256SUMS"

// tmpMarker is in every staging file's name, so a crashed run's leftovers
// are recognisable.
const tmpMarker = ".llbgen-tmp-"

// Dir is an output directory.
type Dir struct {
	path   string
	staged map[string]string // final name -> staging path
}

// Open returns the output directory at path. Nothing is created until the
// first file is staged or committed, so a run that fails early leaves no
// trace.
func Open(path string) (*Dir, error) {
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("output %s exists and is not a directory", path)
	}
	return &Dir{path: path, staged: map[string]string{}}, nil
}

func (d *Dir) create() error {
	if err := os.MkdirAll(d.path, 0o755); err != nil {
		return fmt.Errorf("creating the output directory: %w", err)
	}
	return nil
}

// Path is the directory's path.
func (d *Dir) Path() string { return d.path }

// Stage creates a hidden file in the directory that Commit will rename to
// name. The caller writes it and closes it.
func (d *Dir) Stage(name string) (*os.File, error) {
	if name != filepath.Base(name) || strings.HasPrefix(name, ".") || name == SumsFile {
		return nil, fmt.Errorf("refusing to write %q into the output directory", name)
	}
	if err := d.create(); err != nil {
		return nil, err
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	p := filepath.Join(d.path, "."+name+tmpMarker+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return nil, fmt.Errorf("staging %s: %w", name, err)
	}
	d.staged[name] = p
	return f, nil
}

// Discard removes every staged file that was not committed.
func (d *Dir) Discard() {
	for name, p := range d.staged {
		os.Remove(p)
		delete(d.staged, name)
	}
}
