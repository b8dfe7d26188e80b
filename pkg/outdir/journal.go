package outdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/llbgen/llbgen/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// journal is a commit under way: what moves, and what SHA256SUMS lists.
type journal struct {
	Renames []rename `json:"renames"`
	List    []string `json:"list"` // the names SHA256SUMS covers
}

// rename moves a staging file (From) to its name (To), both in the
// directory.
type rename struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func (j *journal) write(dir string) error {
	data, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("writing the commit journal: %w", err)
	}
	if _, err := checkName(dir, journalFile); err != nil {
		return fmt.Errorf("writing the commit journal: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, journalFile), journalFile+tmpMarker+"*", data, 0o644, time.Time{}); err != nil {
		return fmt.Errorf("writing the commit journal: %w", err)
	}
	return nil
}

// readJournal returns the journal an unfinished commit left in dir, or nil.
func readJournal(dir string) (*journal, error) {
	f, err := openRegular(dir, journalFile)
	if f == nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", journalFile, err)
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("reading %s: %w", journalFile, err)
	}
	for _, r := range j.Renames {
		if r.From != filepath.Base(r.From) || !strings.HasPrefix(r.From, ".") || !strings.Contains(r.From, tmpMarker) || !plainName(r.To) {
			return nil, fmt.Errorf("reading %s: it renames %q to %q, which llbgen never does", journalFile, r.From, r.To)
		}
	}
	for _, name := range j.List {
		if !plainName(name) {
			return nil, fmt.Errorf("reading %s: it lists %q, which llbgen never does", journalFile, name)
		}
	}
	return &j, nil
}

// finish does the journal's renames, writes SHA256SUMS as sums gives it,
// and removes the journal. Every step can be done again: a rename whose
// staging file is gone was done.
func (j *journal) finish(dir string, sums func() ([]byte, time.Time, error)) error {
	for _, r := range j.Renames {
		from := filepath.Join(dir, r.From)
		if _, err := os.Lstat(from); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		// checked again: the user may have put something there since
		if _, err := checkName(dir, r.To); err != nil {
			return fmt.Errorf("moving %s into place: %w", r.To, err)
		}
		if err := os.Rename(from, filepath.Join(dir, r.To)); err != nil {
			return fmt.Errorf("moving %s into place: %w", r.To, err)
		}
		step("renamed " + r.To)
	}
	data, mtime, err := sums()
	if err != nil {
		return err
	}
	if err := writeSums(dir, data, mtime); err != nil {
		return err
	}
	step("sums written")
	if err := syncDir(dir); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, journalFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the commit journal: %w", err)
	}
	step("journal removed")
	return syncDir(dir)
}

// tidy finishes a commit that a killed or failed run left in dir, then
// removes leftovers. The caller holds the directory lock.
func tidy(dir string) error {
	j, err := readJournal(dir)
	if err == nil && j != nil {
		// computed from the files, which the renames made the new ones
		err = j.finish(dir, func() ([]byte, time.Time, error) {
			data, mtime, _, err := sumsOf(dir, j.List, nil)
			return data, mtime, err
		})
	}
	if err != nil {
		return fmt.Errorf("finishing the commit an earlier run left in %s: %w", dir, err)
	}
	removeLeftovers(dir)
	return nil
}

// removeLeftovers deletes the staging and temporary files that no process
// holds locked: their run is gone. The caller holds the directory lock, so
// no commit is writing a temporary file meanwhile.
func removeLeftovers(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, ".") || !strings.Contains(name, tmpMarker) || !e.Type().IsRegular() {
			continue
		}
		f, err := openRegular(dir, name)
		if f == nil || err != nil {
			continue
		}
		p := filepath.Join(dir, name)
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil && sameFile(f, p) {
			os.Remove(p)
			step("removed " + name)
		}
		f.Close()
	}
}
