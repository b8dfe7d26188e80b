// Package outdir writes build results into a directory the user owns,
// without ever losing or half-writing what is there:
//
//   - a file is written in full beside its final name and renamed into place
//     only when the run commits, so it lands whole or not at all;
//   - files this run does not produce are never touched;
//   - the commit of a run (renames plus SHA256SUMS) holds an exclusive lock
//     on the directory, so two runs never interleave their files;
//   - SHA256SUMS lists exactly the files of the run's list that are present;
//   - a run that commits nothing leaves no trace, not even the directory.
package outdir

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SumsFile is the checksum file kept beside the binaries.
const SumsFile = "SHA256SUMS"

// tmpMarker is in every staging file's name, followed by the writer's pid,
// so leftovers of a killed run are recognised and removed by the next.
const tmpMarker = ".llbgen-tmp-"

// Dir is an output directory.
type Dir struct {
	path    string
	mu      sync.Mutex
	created bool              // this run made the directory
	staged  map[string]string // final name -> complete staging file
}

// Open returns the output directory at path. Nothing is created until a
// file is written.
func Open(path string) (*Dir, error) {
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("output %s exists and is not a directory", path)
	}
	return &Dir{path: path, staged: map[string]string{}}, nil
}

// Path is the directory's path.
func (d *Dir) Path() string { return d.path }

func (d *Dir) create() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := os.Stat(d.path); os.IsNotExist(err) {
		if err := os.MkdirAll(d.path, 0o755); err != nil {
			return fmt.Errorf("creating the output directory: %w", err)
		}
		d.created = true
		removeLeftovers(d.path)
	}
	return nil
}

// Write stages the file name with the content fill writes, dated mtime
// (unless zero). The file counts as staged only when fill, the sync and the
// close all succeed; otherwise it is removed and the error returned. Staged
// files reach name at Commit.
func (d *Dir) Write(name string, mode os.FileMode, mtime time.Time, fill func(io.Writer) error) error {
	if name != filepath.Base(name) || name == "" || strings.HasPrefix(name, ".") || name == SumsFile {
		return fmt.Errorf("refusing to write %q into the output directory", name)
	}
	if err := d.create(); err != nil {
		return err
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("staging %s: %w", name, err)
	}
	p := filepath.Join(d.path, "."+name+tmpMarker+strconv.Itoa(os.Getpid())+"-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return fmt.Errorf("staging %s: %w", name, err)
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !mtime.IsZero() {
		err = os.Chtimes(p, mtime, mtime)
	}
	if err != nil {
		os.Remove(p)
		return fmt.Errorf("staging %s: %w", name, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.staged[name]; ok {
		os.Remove(old)
	}
	d.staged[name] = p
	return nil
}

// Discard removes every staged file, and the directory if this run made it
// and it is empty: the directory is left as it was.
func (d *Dir) Discard() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, p := range d.staged {
		os.Remove(p)
		delete(d.staged, name)
	}
	if d.created {
		os.Remove(d.path) // fails, harmlessly, unless empty
	}
}

// removeLeftovers deletes staging files of runs whose process is gone
// (killed before they could clean up).
func removeLeftovers(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		_, rest, ok := strings.Cut(e.Name(), tmpMarker)
		if !ok || !strings.HasPrefix(e.Name(), ".") {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || processAlive(pid) {
			continue
		}
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

func processAlive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}
