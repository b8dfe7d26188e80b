package outdir

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/pkg/targets"
)

// plantedFrom is the staging file name a planted journal renames.
const plantedFrom = ".bin-a" + tmpMarker + "0123456789abcdef"

// plant makes a directory as an earlier run left it (bin-a and its
// SHA256SUMS), then puts a journal there, and the staging file it renames
// unless from is empty.
func plant(t *testing.T, j journal, from string) string {
	t.Helper()
	dir := t.TempDir()
	writeFileT(t, filepath.Join(dir, "bin-a"), "old a")
	writeFileT(t, filepath.Join(dir, SumsFile), sumLine("old a", "bin-a"))
	if from != "" {
		writeFileT(t, filepath.Join(dir, from), "planted")
	}
	data, err := json.Marshal(j)
	mustT(t, err)
	writeFileT(t, filepath.Join(dir, journalFile), string(data))
	return dir
}

var plantedJournal = journal{Renames: []rename{{From: plantedFrom, To: "bin-a"}}, List: []string{"bin-a"}}

// asRoot skips a test that gives files away to another user.
func asRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
}

// A journal or staging file that this run's user could not have written,
// or that renames anything but staged files to names a commit lands, is
// refused: nothing moves, and the error says which file, why, and what to
// do. In a directory others can write to (sticky, or one that root builds
// into), it would otherwise land their file as a binary, in SHA256SUMS.
func TestPlantedJournalIsRefused(t *testing.T) {
	tests := []struct {
		name    string
		journal journal
		setup   func(t *testing.T, dir string)
		why     string
	}{
		{
			name: "staging file of another user", journal: plantedJournal,
			setup: func(t *testing.T, dir string) {
				asRoot(t)
				mustT(t, os.Chown(filepath.Join(dir, plantedFrom), 65534, 65534))
			},
			why: plantedFrom + " is owned by uid 65534, not by this run's user (uid 0)",
		},
		{
			name: "journal of another user", journal: plantedJournal,
			setup: func(t *testing.T, dir string) {
				asRoot(t)
				mustT(t, os.Chown(filepath.Join(dir, journalFile), 65534, 65534))
			},
			why: "is owned by uid 65534, not by this run's user (uid 0)",
		},
		{
			name: "journal and staging file of another user, unprivileged", journal: plantedJournal,
			setup: func(t *testing.T, dir string) {
				me := os.Geteuid()
				euid = func() int { return me + 1000 }
				t.Cleanup(func() { euid = os.Geteuid })
			},
			why: "not by this run's user",
		},
		{
			name: "staging file with another link", journal: plantedJournal,
			setup: func(t *testing.T, dir string) {
				// the planter keeps a name for it, to change it once it landed
				mustT(t, os.Link(filepath.Join(dir, plantedFrom), filepath.Join(t.TempDir(), "mine")))
			},
			why: plantedFrom + " has 2 links, not 1",
		},
		{
			name: "staging file is a symlink", journal: plantedJournal,
			setup: func(t *testing.T, dir string) {
				p := filepath.Join(dir, plantedFrom)
				mustT(t, os.Remove(p))
				mustT(t, os.Symlink("/etc/passwd", p))
			},
			why: plantedFrom + " is not a regular file",
		},
		{
			name:    "renames to a name outside the list",
			journal: journal{Renames: []rename{{From: plantedFrom, To: "docker-credential-x"}}, List: []string{"bin-a"}},
			why:     `renames ".bin-a.llbgen-tmp-0123456789abcdef" to "docker-credential-x", which llbgen never does`,
		},
		{
			name:    "renames to another listed name's build information",
			journal: journal{Renames: []rename{{From: plantedFrom, To: "bin-b.buildinfo"}}, List: []string{"bin-a"}},
			why:     "which llbgen never does",
		},
		{
			name: "does not parse", journal: plantedJournal,
			setup: func(t *testing.T, dir string) { writeFileT(t, filepath.Join(dir, journalFile), `{"renames": [`) },
			why:   "does not parse",
		},
		{
			name: "is a directory", journal: plantedJournal,
			setup: func(t *testing.T, dir string) {
				mustT(t, os.Remove(filepath.Join(dir, journalFile)))
				mustT(t, os.Mkdir(filepath.Join(dir, journalFile), 0o755))
			},
			why: "is a directory, not a regular file",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := plant(t, tc.journal, plantedFrom)
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			before := listDir(t, dir)
			_, err := Open(dir)
			var je *JournalError
			if !errors.As(err, &je) {
				t.Fatalf("Open: %v, want a *JournalError", err)
			}
			msg := err.Error()
			for _, want := range []string{filepath.Join(dir, journalFile), tc.why, "check it", "then remove it"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not say %q:\n%s", want, msg)
				}
			}
			if got := read(t, filepath.Join(dir, "bin-a")); got != "old a" {
				t.Errorf("bin-a is %q", got)
			}
			if got := read(t, filepath.Join(dir, SumsFile)); got != sumLine("old a", "bin-a") {
				t.Errorf("SHA256SUMS is %q", got)
			}
			if after := listDir(t, dir); after != before {
				t.Errorf("the directory changed:\n%s\nwas\n%s", after, before)
			}
			// and every later run stops at it, saying the same
			if _, err := Open(dir); err == nil || err.Error() != msg {
				t.Errorf("second Open: %v", err)
			}
		})
	}
}

// What a commit stages lands on recovery: listed files, their build
// information and attestations (provenance.json, from pkg/daemon).
func TestJournalOfACommitIsFinished(t *testing.T) {
	froms := map[string]string{
		"bin-a":           ".bin-a" + tmpMarker + "1",
		"bin-a.buildinfo": ".bin-a.buildinfo" + tmpMarker + "2",
		"provenance.json": ".provenance.json" + tmpMarker + "3",
	}
	j := journal{List: []string{"bin-a"}}
	for to, from := range froms {
		j.Renames = append(j.Renames, rename{From: from, To: to})
	}
	dir := plant(t, j, "")
	for to, from := range froms {
		writeFileT(t, filepath.Join(dir, from), "new "+to)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	for to := range froms {
		if got := read(t, filepath.Join(dir, to)); got != "new "+to {
			t.Errorf("%s is %q", to, got)
		}
	}
	if got := read(t, filepath.Join(dir, SumsFile)); got != sumLine("new bin-a", "bin-a") {
		t.Errorf("SHA256SUMS is %q", got)
	}
	assertNoStaging(t, dir)
	if exists(filepath.Join(dir, journalFile)) {
		t.Error("the journal is left")
	}
}

// A commit lands only what recovery would: a file that is neither listed,
// a listed file's build information nor an attestation is refused before
// any journal names it.
func TestCommitLandsOnlyCommittableNames(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir)
	mustT(t, err)
	writeUnit(t, d, map[string]string{"bin-a": "new a", "bin-a.buildinfo": "new a info"})
	write(t, d, "provenance.json", "{}")
	write(t, d, "other.txt", "stray")
	writeUnit(t, d, map[string]string{"bin-b": "new b", "bin-c.buildinfo": "stray info"})
	mustT(t, d.Commit([]string{"bin-a", "bin-b"}))
	if got := listDir(t, dir); !strings.Contains(got, "bin-a.buildinfo") || !strings.Contains(got, "provenance.json") || strings.Contains(got, "other.txt") || strings.Contains(got, "bin-b") || strings.Contains(got, "bin-c") {
		t.Errorf("directory:\n%s", got)
	}
	refused := d.Refused()
	for _, name := range []string{"other.txt", "bin-b", "bin-c.buildinfo"} {
		if refused[name] == nil {
			t.Errorf("%s not refused: %v", name, refused)
		}
	}
}

func TestInfoSuffixIsTargets(t *testing.T) {
	if InfoSuffix != targets.BuildInfoSuffix {
		t.Errorf("InfoSuffix %q, targets.BuildInfoSuffix %q", InfoSuffix, targets.BuildInfoSuffix)
	}
}
