package outdir

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func write(t *testing.T, d *Dir, name, body string) {
	t.Helper()
	if err := d.Write(name, 0o755, time.Time{}, func(w io.Writer) error {
		_, err := io.WriteString(w, body)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCommitKeepsOtherFilesAndOldBinaries(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"notes.txt": "mine", "bin-failed": "old failed", "bin-ok": "old ok"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	write(t, d, "bin-ok", "new ok")
	write(t, d, "bin-new", "new new")
	if err := d.Commit([]string{"bin-ok", "bin-failed", "bin-new", "bin-absent"}); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); got != "SHA256SUMS bin-failed bin-new bin-ok notes.txt" {
		t.Errorf("directory holds %q", got)
	}
	if read(t, filepath.Join(dir, "notes.txt")) != "mine" || read(t, filepath.Join(dir, "bin-failed")) != "old failed" {
		t.Error("a file this run did not produce changed")
	}
	if read(t, filepath.Join(dir, "bin-ok")) != "new ok" {
		t.Error("the new binary did not replace the old one")
	}
	sums := read(t, filepath.Join(dir, SumsFile))
	if n := strings.Count(sums, "\n"); n != 3 || strings.Contains(sums, "notes.txt") {
		t.Errorf("SHA256SUMS must list exactly the list's present files:\n%s", sums)
	}
	cmd := exec.Command("sha256sum", "-c", SumsFile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s", err, out)
	}
}

func TestDiscardLeavesDirectoryAsItWas(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bin-a"), []byte("old"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	write(t, d, "bin-a", "new")
	d.Discard()
	if got := listDir(t, dir); got != "bin-a" {
		t.Errorf("directory holds %q after Discard", got)
	}
	if read(t, filepath.Join(dir, "bin-a")) != "old" {
		t.Error("Discard changed an existing file")
	}
}

func TestWriteRefusesNamesOutsideTheDirectory(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../x", "a/b", ".hidden", SumsFile, ""} {
		if err := d.Write(name, 0o644, time.Time{}, func(io.Writer) error { return nil }); err == nil {
			t.Errorf("Write(%q) accepted", name)
		}
	}
}

// A write that fails half-way never replaces the file that was there.
func TestFailedWriteNeverLands(t *testing.T) {
	dir := t.TempDir()
	writeFileT(t, filepath.Join(dir, "bin-a"), "the good old binary")
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = d.Write("bin-a", 0o755, time.Time{}, func(w io.Writer) error {
		io.WriteString(w, "HALF")
		return errors.New("disk full")
	})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err %v, want the fill error", err)
	}
	if err := d.Commit([]string{"bin-a"}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "bin-a")); got != "the good old binary" {
		t.Errorf("bin-a is %q after a failed write", got)
	}
	if got := listDir(t, dir); got != "SHA256SUMS bin-a" {
		t.Errorf("directory holds %q", got)
	}
}

// A run that writes nothing leaves no directory; a discarded run removes
// the directory it made.
func TestNoTraceWhenNothingLands(t *testing.T) {
	base := t.TempDir()
	d, err := Open(filepath.Join(base, "out"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Commit([]string{"bin-a"}); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, base); got != "" {
		t.Errorf("a run with nothing to write left %q", got)
	}
	write(t, d, "bin-a", "x")
	d.Discard()
	if got := listDir(t, base); got != "" {
		t.Errorf("a discarded run left %q", got)
	}
	// every write failed: the directory made for them goes at Commit
	if err := d.Write("bin-a", 0o755, time.Time{}, func(io.Writer) error { return errors.New("lost") }); err == nil {
		t.Fatal("a failed fill staged")
	}
	if err := d.Commit([]string{"bin-a"}); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, base); got != "" {
		t.Errorf("a run whose writes all failed left %q", got)
	}
}

// A staging file is alive while its writer holds a lock on it, whatever
// its name says: a live run in another PID namespace (its pid unknown here)
// keeps its files, and a dead run's go even when its pid is in use here.
func TestLeftoversAreDecidedByLocks(t *testing.T) {
	dir := t.TempDir()
	deadPidInUse := ".bin-a" + tmpMarker + strconv.Itoa(os.Getpid()) + "-abc"
	deadPid1 := ".bin-b" + tmpMarker + "1-abc"
	deadTemp := "." + SumsFile + tmpMarker + "123456"
	liveOtherNamespace := ".bin-c" + tmpMarker + "999999999-abc"
	live := ".bin-d" + tmpMarker + "0123456789abcdef"
	for _, name := range []string{deadPidInUse, deadPid1, deadTemp, liveOtherNamespace, live} {
		writeFileT(t, filepath.Join(dir, name), "x")
	}
	for _, name := range []string{liveOtherNamespace, live} {
		holdLock(t, filepath.Join(dir, name))
	}
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	write(t, d, "bin-a", "new")
	// another run, here in this process, commits meanwhile: it must keep this run's staged file
	other, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	write(t, other, "bin-e", "other")
	if err := other.Commit([]string{"bin-e"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Commit([]string{"bin-a", "bin-e"}); err != nil {
		t.Fatal(err)
	}
	if got, want := listDir(t, dir), liveOtherNamespace+" "+live+" SHA256SUMS bin-a bin-e"; got != want {
		t.Errorf("directory holds %q, want %q", got, want)
	}
	if read(t, filepath.Join(dir, "bin-a")) != "new" {
		t.Error("the staged file did not land after another run's commit")
	}
}

// holdLock keeps an exclusive flock on path for the test, as a live run
// in another process would.
func holdLock(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

func writeFileT(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Two runs committing into one directory at once: every file is whole and
// SHA256SUMS always matches the binaries it lists.
func TestConcurrentCommits(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := Open(dir)
			if err != nil {
				t.Error(err)
				return
			}
			body := strings.Repeat(string(rune('a'+i)), 1<<20)
			for _, name := range []string{"bin-x", "bin-y"} {
				if err := d.Write(name, 0o755, time.Time{}, func(w io.Writer) error {
					_, err := io.WriteString(w, body)
					return err
				}); err != nil {
					t.Error(err)
					return
				}
			}
			if err := d.Commit([]string{"bin-x", "bin-y"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := listDir(t, dir); got != "SHA256SUMS bin-x bin-y" {
		t.Errorf("directory holds %q", got)
	}
	cmd := exec.Command("sha256sum", "-c", SumsFile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s", err, out)
	}
}
