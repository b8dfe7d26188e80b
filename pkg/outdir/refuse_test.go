package outdir

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// notFile is something other than a regular file put at a name, and the
// words that must name it in the refusal.
type notFile struct {
	name string
	make func(t *testing.T, path string)
	what string
}

func notFiles(t *testing.T) []notFile {
	outside := filepath.Join(t.TempDir(), "secret")
	writeFileT(t, outside, "not yours to hash")
	symlink := func(to string) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			if err := os.Symlink(to, path); err != nil {
				t.Fatal(err)
			}
		}
	}
	return []notFile{
		{"directory", func(t *testing.T, p string) { mustT(t, os.Mkdir(p, 0o755)) }, "is a directory"},
		{"symlink to a directory", symlink(t.TempDir()), "is a symlink to "},
		{"symlink to an outside file", symlink(outside), "is a symlink to " + outside},
		{"symlink to /dev/zero", symlink("/dev/zero"), "is a symlink to /dev/zero"},
		{"dangling symlink", symlink("/nonexistent"), "is a symlink to /nonexistent"},
		{"FIFO", func(t *testing.T, p string) { mustT(t, unix.Mkfifo(p, 0o644)) }, "is a FIFO"},
		{"socket", func(t *testing.T, p string) {
			l, err := net.Listen("unix", p)
			mustT(t, err)
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			t.Cleanup(func() { l.Close() })
		}, "is a socket"},
	}
}

func mustT(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// commitWithin fails the test when Commit blocks: under the directory lock
// it would block every later run.
func commitWithin(t *testing.T, d *Dir, list []string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- d.Commit(list) }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Commit blocked")
		return nil
	}
}

// describe is what Lstat says of path, and where a symlink points: to see
// that a refused thing was left alone.
func describe(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		return err.Error()
	}
	to, _ := os.Readlink(path)
	return fi.Mode().Type().String() + " " + to
}

func writeUnit(t *testing.T, d *Dir, files map[string]string) {
	t.Helper()
	u := d.Unit()
	for name, body := range files {
		if err := u.Write(name, 0o644, time.Time{}, func(w io.Writer) error {
			_, err := io.WriteString(w, body)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	u.Stage()
}

func assertSumsMatch(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("sha256sum", "--strict", "-c", SumsFile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s", err, out)
	}
}

func assertNoStaging(t *testing.T, dir string) {
	t.Helper()
	if got := listDir(t, dir); strings.Contains(got, tmpMarker) || strings.Contains(got, journalFile) {
		t.Errorf("staging or journal files left: %q", got)
	}
}

// Something other than a regular file at a binary's name, at its build
// information's name, or at a failed target's name is never followed, read,
// hashed or replaced; the unit that would replace it does not land, Refused
// names it, and the rest lands with a matching SHA256SUMS.
func TestNamesThatAreNotFilesAreRefused(t *testing.T) {
	for _, nf := range notFiles(t) {
		for _, at := range []string{"binary", "build information", "failed target"} {
			t.Run(nf.name+" at "+at, func(t *testing.T) {
				dir := t.TempDir()
				writeFileT(t, filepath.Join(dir, "bin-a"), "old a")
				writeFileT(t, filepath.Join(dir, "bin-a.buildinfo"), "old a info")
				thing := filepath.Join(dir, "bin-a")
				if at == "build information" {
					thing += ".buildinfo"
				}
				mustT(t, os.Remove(thing))
				nf.make(t, thing)
				before := describe(t, thing)
				d, err := Open(dir)
				mustT(t, err)
				if at != "failed target" {
					writeUnit(t, d, map[string]string{"bin-a": "new a", "bin-a.buildinfo": "new a info"})
				}
				writeUnit(t, d, map[string]string{"bin-ok": "new ok", "bin-ok.buildinfo": "new ok info"})
				if err := commitWithin(t, d, []string{"bin-a", "bin-ok"}); err != nil {
					t.Fatal(err)
				}
				if got := describe(t, thing); got != before {
					t.Errorf("%s changed: %s, was %s", thing, got, before)
				}
				err = d.Refused()[filepath.Base(thing)]
				var nfe *NotFileError
				if !errors.As(err, &nfe) || !strings.Contains(err.Error(), thing+" "+nf.what) || !strings.Contains(err.Error(), "move it away") {
					t.Errorf("refusal of %s: %v", thing, err)
				}
				if at == "build information" {
					if read(t, filepath.Join(dir, "bin-a")) != "old a" {
						t.Error("the binary landed without its build information")
					}
					if d.Refused()["bin-a"] == nil {
						t.Error("the binary of a refused unit is not reported")
					}
				} else if _, err := os.Lstat(thing + ".buildinfo"); at == "binary" && err != nil {
					t.Error("the old build information of a refused binary is gone")
				} else if at == "binary" && read(t, thing+".buildinfo") != "old a info" {
					t.Error("the build information landed without its binary")
				}
				if read(t, filepath.Join(dir, "bin-ok")) != "new ok" {
					t.Error("a good unit did not land")
				}
				sums := read(t, filepath.Join(dir, SumsFile))
				if at != "build information" && strings.Contains(sums, "bin-a") {
					t.Errorf("SHA256SUMS lists what is not a regular file:\n%s", sums)
				}
				if want := map[bool]int{true: 2, false: 1}[at == "build information"]; strings.Count(sums, "\n") != want {
					t.Errorf("SHA256SUMS lists more than the regular files of the list:\n%s", sums)
				}
				assertSumsMatch(t, dir)
				assertNoStaging(t, dir)
			})
		}
	}
}

// SHA256SUMS itself held by a directory, a symlink or a FIFO: the commit is
// refused, clearly and at once, and nothing lands.
func TestSumsFileThatIsNotAFileIsRefused(t *testing.T) {
	for _, nf := range notFiles(t) {
		t.Run(nf.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFileT(t, filepath.Join(dir, "bin-a"), "old a")
			thing := filepath.Join(dir, SumsFile)
			nf.make(t, thing)
			before := describe(t, thing)
			d, err := Open(dir)
			mustT(t, err)
			writeUnit(t, d, map[string]string{"bin-a": "new a"})
			err = commitWithin(t, d, []string{"bin-a"})
			var nfe *NotFileError
			if !errors.As(err, &nfe) || !strings.Contains(err.Error(), thing+" "+nf.what) {
				t.Errorf("Commit: %v", err)
			}
			if got := describe(t, thing); got != before {
				t.Errorf("%s changed: %s, was %s", thing, got, before)
			}
			if read(t, filepath.Join(dir, "bin-a")) != "old a" {
				t.Error("a binary landed without its SHA256SUMS")
			}
			assertNoStaging(t, dir)
		})
	}
}

// A target's binary and build information land together or not at all:
// when staging the second fails, the first never lands.
func TestUnitLandsWholeOrNotAtAll(t *testing.T) {
	dir := t.TempDir()
	writeFileT(t, filepath.Join(dir, "bin-a"), "old a")
	writeFileT(t, filepath.Join(dir, "bin-a.buildinfo"), "old a info")
	d, err := Open(dir)
	mustT(t, err)
	u := d.Unit()
	mustT(t, u.Write("bin-a", 0o755, time.Time{}, func(w io.Writer) error {
		_, err := io.WriteString(w, "new a")
		return err
	}))
	if err := u.Write("bin-a.buildinfo", 0o644, time.Time{}, func(io.Writer) error { return errors.New("lost") }); err == nil {
		t.Fatal("a failed fill staged")
	}
	u.Drop()
	// a unit never marked staged does not land either
	v := d.Unit()
	mustT(t, v.Write("bin-b", 0o755, time.Time{}, func(w io.Writer) error {
		_, err := io.WriteString(w, "half b")
		return err
	}))
	writeUnit(t, d, map[string]string{"bin-c": "new c", "bin-c.buildinfo": "new c info"})
	mustT(t, d.Commit([]string{"bin-a", "bin-b", "bin-c"}))
	if read(t, filepath.Join(dir, "bin-a")) != "old a" || read(t, filepath.Join(dir, "bin-a.buildinfo")) != "old a info" {
		t.Error("half a unit landed")
	}
	if got := listDir(t, dir); got != "SHA256SUMS bin-a bin-a.buildinfo bin-c bin-c.buildinfo" {
		t.Errorf("directory holds %q", got)
	}
	assertSumsMatch(t, dir)
}

// The output path may be a symlink to a directory (the user's choice): it
// is followed and stays a symlink. One to nothing is refused clearly.
func TestOutputPathSymlink(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	mustT(t, os.Mkdir(real, 0o755))
	link := filepath.Join(base, "out")
	mustT(t, os.Symlink(real, link))
	d, err := Open(link)
	mustT(t, err)
	write(t, d, "bin-a", "new")
	mustT(t, d.Commit([]string{"bin-a"}))
	if got := listDir(t, real); got != "SHA256SUMS bin-a" {
		t.Errorf("the linked directory holds %q", got)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the output symlink was replaced: %v", err)
	}
	dangling := filepath.Join(base, "dangling")
	mustT(t, os.Symlink(filepath.Join(base, "nothing"), dangling))
	if _, err := Open(dangling); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Open of a dangling symlink: %v", err)
	}
}
