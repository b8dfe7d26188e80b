package outdir

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// killEnv tells TestKillHelper, run as a child process, what to do and at
// which step to SIGKILL itself: "commit:N:DIR" or "open:N:DIR".
const killEnv = "LLBGEN_OUTDIR_KILL"

// killList is the list the killed run commits.
var killList = []string{"bin-a", "bin-b", "bin-c", "bin-d"}

// oldSums is SHA256SUMS before the killed run.
var oldSums = sumLine("old a", "bin-a") + sumLine("old b", "bin-b")

func sumLine(body, name string) string {
	h := sha256.Sum256([]byte(body))
	return hex.EncodeToString(h[:]) + "  " + name + "\n"
}

// setupKill makes a directory as an earlier run left it: bin-a and bin-b
// with their build information, a directory at bin-d, a user's file, and a
// leftover of a killed run.
func setupKill(t *testing.T) string {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"bin-a": "old a", "bin-a.buildinfo": "old a info",
		"bin-b": "old b", "bin-b.buildinfo": "old b info",
		"notes.txt": "mine", SumsFile: oldSums,
		".bin-z" + tmpMarker + "0123456789abcdef": "leftover",
	} {
		writeFileT(t, filepath.Join(dir, name), body)
	}
	mustT(t, os.Mkdir(filepath.Join(dir, "bin-d"), 0o755))
	return dir
}

// TestKillHelper is the killed run, in a child process of TestKilledCommit.
func TestKillHelper(t *testing.T) {
	spec := os.Getenv(killEnv)
	if spec == "" {
		t.Skip("run by TestKilledCommit")
	}
	what, rest, _ := strings.Cut(spec, ":")
	nText, dir, _ := strings.Cut(rest, ":")
	n, err := strconv.Atoi(nText)
	mustT(t, err)
	count := 0
	step = func(string) {
		if count++; count == n {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	d, err := Open(dir)
	mustT(t, err)
	if what == "open" {
		return
	}
	writeUnit(t, d, map[string]string{"bin-a": "new a", "bin-a.buildinfo": "new a info"})
	writeUnit(t, d, map[string]string{"bin-c": "new c", "bin-c.buildinfo": "new c info"})
	writeUnit(t, d, map[string]string{"bin-d": "new d", "bin-d.buildinfo": "new d info"})
	mustT(t, d.Commit(killList))
}

// runKilled runs TestKillHelper in a child; it reports whether the child
// was killed at step n rather than finishing.
func runKilled(t *testing.T, what string, n int, dir string) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d:%s", killEnv, what, n, dir))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	if err != nil {
		t.Fatalf("%s killed at step %d: %v\n%s", what, n, err, out)
	}
	return false
}

// A run killed between any two steps of its commit, and then a recovery
// itself killed between any two of its steps: once the next run has opened
// the directory it holds the old files or the new ones, each binary with
// its own build information, SHA256SUMS matching them, and no staging or
// journal file.
func TestKilledCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary a few hundred times")
	}
	landed := false // an earlier step's kill left a journal: the commit is decided
	recoveries := 0
	for n := 1; ; n++ {
		if n > 100 {
			t.Fatal("the commit never finished")
		}
		dir := setupKill(t)
		if !runKilled(t, "commit", n, dir) {
			recoverAndCheck(t, dir, fmt.Sprintf("commit ran to its end (%d steps)", n-1), "new")
			t.Logf("killed at each of %d steps, and %d recoveries killed at each of theirs", n-1, recoveries)
			return
		}
		journaled := exists(filepath.Join(dir, journalFile))
		landed = landed || journaled
		recoverAndCheck(t, dir, fmt.Sprintf("commit killed at step %d", n), map[bool]string{true: "new", false: "old"}[landed])
		if !journaled {
			continue
		}
		for m := 1; ; m++ {
			if m > 100 {
				t.Fatal("the recovery never finished")
			}
			dir := setupKill(t)
			runKilled(t, "commit", n, dir)
			killed := runKilled(t, "open", m, dir)
			recoverAndCheck(t, dir, fmt.Sprintf("commit killed at step %d, recovery at step %d", n, m), "new")
			if !killed {
				recoveries++
				break
			}
		}
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// recoverAndCheck opens dir as the next run does, then checks that it is
// consistent and holds the want ("old" or "new") files.
func recoverAndCheck(t *testing.T, dir, when, want string) {
	t.Helper()
	if _, err := Open(dir); err != nil {
		t.Fatalf("%s: Open: %v", when, err)
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: %s; directory holds %s", when, fmt.Sprintf(format, args...), listDir(t, dir))
	}
	entries, err := os.ReadDir(dir)
	mustT(t, err)
	present := map[string]bool{}
	for _, e := range entries {
		if strings.Contains(e.Name(), tmpMarker) || e.Name() == journalFile {
			fail("%s left", e.Name())
		}
		present[e.Name()] = e.Type().IsRegular()
	}
	if !present["notes.txt"] || read(t, filepath.Join(dir, "notes.txt")) != "mine" {
		fail("the user's file changed")
	}
	if fi, err := os.Lstat(filepath.Join(dir, "bin-d")); err != nil || !fi.IsDir() || present["bin-d.buildinfo"] {
		fail("the refused bin-d changed")
	}
	// SHA256SUMS lists exactly the list's regular files, with their hashes
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(read(t, filepath.Join(dir, SumsFile)), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || !present[name] {
			fail("SHA256SUMS lists %q, not a present file", line)
		}
		h := sha256.Sum256([]byte(read(t, filepath.Join(dir, name))))
		if hex.EncodeToString(h[:]) != sum {
			fail("SHA256SUMS does not match %s", name)
		}
		listed[name] = true
	}
	for _, name := range killList {
		if present[name] && !listed[name] {
			fail("SHA256SUMS misses %s", name)
		}
	}
	pair := func(name string) string {
		bin, binErr := os.ReadFile(filepath.Join(dir, name))
		info, infoErr := os.ReadFile(filepath.Join(dir, name+".buildinfo"))
		switch {
		case binErr != nil && infoErr != nil:
			return "none"
		case binErr != nil || infoErr != nil:
			return "half"
		case string(bin)+" info" == string(info):
			return strings.Fields(string(bin))[0]
		}
		return "mixed"
	}
	if got := pair("bin-b"); got != "old" {
		fail("bin-b, not produced, is %s", got)
	}
	a, c := pair("bin-a"), pair("bin-c")
	switch {
	case want == "old" && (a != "old" || c != "none"):
		fail("bin-a is %s and bin-c %s, want the old files", a, c)
	case want == "old" && read(t, filepath.Join(dir, SumsFile)) != oldSums:
		fail("SHA256SUMS changed")
	case want == "new" && (a != "new" || c != "new"):
		fail("bin-a is %s and bin-c %s, want the new files", a, c)
	}
}
