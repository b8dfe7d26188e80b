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
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/llbgen/llbgen/internal/atomicfile"
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
// A journal llbgen could not have written is refused (a *JournalError):
// one that is not a regular file of this process's user with one link,
// that does not parse, or that renames anything but staging files to the
// names a commit lands (see committable). In a directory others can write
// to, a planted journal could otherwise land their file as a binary.
func readJournal(dir string) (*journal, error) {
	path := filepath.Join(dir, journalFile)
	f, err := openRegular(dir, journalFile)
	if f == nil {
		var nf *NotFileError
		if errors.As(err, &nf) {
			return nil, &JournalError{Path: path, Why: "is " + nf.What + ", not a regular file"}
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if why := notOurs(fi); why != "" {
		return nil, &JournalError{Path: path, Why: why}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxJournal+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxJournal {
		return nil, &JournalError{Path: path, Why: fmt.Sprintf("is larger than %d bytes", maxJournal)}
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, &JournalError{Path: path, Why: "does not parse (" + err.Error() + ")"}
	}
	for _, name := range j.List {
		if !plainName(name) {
			return nil, &JournalError{Path: path, Why: fmt.Sprintf("lists %q, which llbgen never does", name)}
		}
	}
	ok := committable(j.List)
	for _, r := range j.Renames {
		if r.From != filepath.Base(r.From) || !strings.HasPrefix(r.From, ".") || !strings.Contains(r.From, tmpMarker) || !plainName(r.To) || !ok(r.To) {
			return nil, &JournalError{Path: path, Why: fmt.Sprintf("renames %q to %q, which llbgen never does", r.From, r.To)}
		}
	}
	return &j, nil
}

// maxJournal bounds a journal: a few hundred bytes per binary.
const maxJournal = 64 << 20

// JournalError says why llbgen will not finish the commit a journal
// describes. Every later run into the directory stops at it, so it says
// what to do.
type JournalError struct {
	Path string // the journal
	Why  string // what is wrong with it, or with a file it renames
}

func (e *JournalError) Error() string {
	return fmt.Sprintf("the commit journal %s %s: llbgen did not write it as it is, and will not finish the commit it describes; check it (and the files it names), then remove it", e.Path, e.Why)
}

// euid is the user whose files a journal may rename: this process's.
var euid = os.Geteuid

// notOurs says why fi is not a file this process's user could have staged
// or journaled: not regular, another user's, or with other links (another
// name for it, elsewhere, can change it). "" when it is ours.
func notOurs(fi fs.FileInfo) string {
	if !fi.Mode().IsRegular() {
		return "is not a regular file"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !ok:
		return "has no owner llbgen can read"
	case int64(st.Uid) != int64(euid()):
		return fmt.Sprintf("is owned by uid %d, not by this run's user (uid %d)", st.Uid, euid())
	case st.Nlink != 1:
		return fmt.Sprintf("has %d links, not 1", st.Nlink)
	}
	return ""
}

// checkFrom refuses a staging file a journal renames unless it is ours;
// nil, nil when it is gone (renamed already).
func (j *journal) checkFrom(dir string, r rename) (fs.FileInfo, error) {
	p := filepath.Join(dir, r.From)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if why := notOurs(fi); why != "" {
		return nil, &JournalError{Path: filepath.Join(dir, journalFile), Why: fmt.Sprintf("renames %s to %s, and %s %s", r.From, r.To, r.From, why)}
	}
	return fi, nil
}

// finish does the journal's renames, writes SHA256SUMS as sums gives it,
// and removes the journal. Every step can be done again: a rename whose
// staging file is gone was done. Nothing is renamed unless every staging
// file still there is ours (see notOurs), and each is checked again just
// before its rename.
func (j *journal) finish(dir string, sums func() ([]byte, time.Time, error)) error {
	for _, r := range j.Renames {
		if _, err := j.checkFrom(dir, r); err != nil {
			return err
		}
	}
	for _, r := range j.Renames {
		from := filepath.Join(dir, r.From)
		fi, err := j.checkFrom(dir, r)
		if err != nil {
			return err
		}
		if fi == nil {
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
