package stagetool

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	const ok = "docker-credential-ecr-login (github.com/awslabs/amazon-ecr-credential-helper/ecr-login) 0.12.0\n"
	tests := []struct {
		name   string
		output string
		runErr error
		want   string // substring of the error; "" for success
	}{
		{"ok", ok, nil, ""},
		{"trailing space", ok + "  \n", nil, ""},
		{"other version", strings.Replace(ok, "0.12.0", "0.11.0", 1), nil, `printed "docker-credential-ecr-login`},
		{"development build", "docker-credential-ecr-login (x) development", nil, "want output ending in \"0.12.0\""},
		{"no output", "", nil, "(nothing)"},
		{"longer version", strings.Replace(ok, "0.12.0", "10.12.0", 1), nil, "want output ending in"},
		// The binary cannot be read here: diagnose falls back to the run.
		{"unreadable binary", "", &os.PathError{Op: "fork/exec", Path: "/llbgen/in/x", Err: os.ErrNotExist}, "does not run in its image: `version` failed: fork/exec /llbgen/in/x: file does not exist; it printed nothing"},
		{"exit status", "Error relocating: __vfprintf_chk: symbol not found", &exec.ExitError{}, "symbol not found"},
		{"timeout", "", errors.New("timed out after 2m0s"), "timed out"},
	}
	bin := filepath.Join(t.TempDir(), "x") // none: see diagnose_test.go for real ones
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := check("docker_19.03.12", "/", bin, "0.12.0", tc.output, tc.runErr)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "target docker_19.03.12") {
				t.Errorf("error %q: want the target name and %q", err, tc.want)
			}
		})
	}
}

func TestSums(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"b": "bee", "a": "ay", "SHA256SUMS": "old"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := sums(dir)
	if err != nil {
		t.Fatal(err)
	}
	// echo -n ay | sha256sum; echo -n bee | sha256sum
	want := "69d61997a241e97931db9dd1cfcef218041a752485f5f7956b09766287682da3  a\n" +
		"62cb81b5904a262ffaeed02abef36bfc540b09f964b8b0b636662f77ffce6714  b\n"
	if string(got) != want {
		t.Fatalf("sums = %q\nwant %q (regular files but SHA256SUMS, sorted)", got, want)
	}
	if path, err := exec.LookPath("sha256sum"); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), got, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(path, "-c", "SHA256SUMS")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c rejects our file: %v\n%s", err, out)
		}
	}
}

func TestStampCommit(t *testing.T) {
	args := []string{"go", "build", "-ldflags", "-s -buildid=", "./x"}
	origin := func(h string) moduleInfo { return moduleInfo{Origin: &struct{ VCS, URL, Hash string }{Hash: h}} }
	got, err := stampCommit(args, "m/version.GitCommitSHA", origin("0123456789abcdef0123456789abcdef01234567"))
	if err != nil || got[3] != "-s -buildid= -X m/version.GitCommitSHA=0123456" {
		t.Errorf("ldflags %q, %v", got, err)
	}
	if args[3] != "-s -buildid=" {
		t.Error("stampCommit changed its input")
	}
	if got, err := stampCommit(args, "m/version.GitCommitSHA", moduleInfo{}); err != nil || strings.Join(got, " ") != strings.Join(args, " ") {
		t.Errorf("no origin: args changed to %q (%v)", got, err)
	}
	// Whatever reaches -ldflags from a proxy's .info or a lock is a commit
	// hash, or the build fails: a value with a space would add linker flags.
	for _, bad := range []string{"0 -X m.x=y0123456789abcdef0123456789abcdef", "0123456", "0123456789ABCDEF0123456789ABCDEF01234567", "0123456789abcdef0123456789abcdef0123456g", strings.Repeat("a", 5000)} {
		if got, err := stampCommit(args, "m/version.GitCommitSHA", origin(bad)); err == nil || len(err.Error()) > 300 {
			t.Errorf("origin %.40q: stamped %q, err %v", bad, got, err)
		}
	}
	if _, err := stampCommit(args, "v", origin(strings.Repeat("ab", 32))); err != nil {
		t.Errorf("a SHA-256 commit refused: %v", err)
	}
}

// SOURCE_DATE_EPOCH=0 is a date (1970), not "unset".
func TestFileTimeEpochZero(t *testing.T) {
	got, err := fileTime("", "2020-01-02T03:04:05Z", 0)
	if err != nil || !got.Equal(time.Unix(0, 0)) {
		t.Errorf("epoch 0: %v %v, want 1970-01-01", got, err)
	}
	got, err = fileTime("", "2020-01-02T03:04:05Z", -1)
	if err != nil || got.Year() != 2020 {
		t.Errorf("epoch unset: %v %v, want the locked time", got, err)
	}
}

func TestModSum(t *testing.T) {
	f := filepath.Join(t.TempDir(), "v1.ziphash")
	if err := os.WriteFile(f, []byte("h1:abc="), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runModSum([]string{"-ziphash", f, "-want", "h1:abc="}); err != nil {
		t.Errorf("matching hash refused: %v", err)
	}
	if err := runModSum([]string{"-ziphash", f, "-want", "h1:xyz="}); err == nil || !strings.Contains(err.Error(), "the lock says h1:xyz=") {
		t.Errorf("a changed module passed: %v", err)
	}
}

// The copy keeps the binary's time; the .buildinfo beside it holds what
// `go version -m` prints.
func TestCopyKeepsTimeAndWritesBuildInfo(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "out", "dst")
	if err := copyFile(self, src); err != nil {
		t.Fatal(err)
	}
	when := time.Unix(1700000000, 0)
	if err := os.Chtimes(src, when, when); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(src, dst); err != nil {
		t.Fatal(err)
	}
	if err := writeBuildInfo(dst); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dst, dst + BuildInfoSuffix} {
		fi, err := os.Stat(p)
		if err != nil || !fi.ModTime().Equal(when) {
			t.Errorf("%s: time %v (%v), want %v", p, fi.ModTime(), err, when)
		}
	}
	info, _ := os.ReadFile(dst + BuildInfoSuffix)
	if !strings.HasPrefix(string(info), "dst: go1.") || !strings.Contains(string(info), "\n\tpath\t") {
		t.Errorf("build info %q", info)
	}
}

// A locked build takes the commit and time from the lock, not the proxy.
func TestLockedInfo(t *testing.T) {
	info, err := lockedInfo("0123456789abcdef", "2026-02-25T22:29:07Z")
	if err != nil || info.Origin == nil || info.Origin.Hash != "0123456789abcdef" || info.Time.Unix() != 1772058547 {
		t.Errorf("info %+v, err %v", info, err)
	}
	if info, err := lockedInfo("", ""); err != nil || info.Origin != nil || !info.Time.IsZero() {
		t.Errorf("empty lock entries: %+v %v", info, err)
	}
	if _, err := lockedInfo("", "yesterday"); err == nil {
		t.Error("a bad locked time was accepted")
	}
}

// A wrong `version` output is quoted, clipped: an image can make a binary
// print anything, and the cause is one line of the summary and the matrix.
func TestVersionMismatchIsClipped(t *testing.T) {
	got := versionMismatch("0.12.0", strings.Repeat("\x1b[2K", 20000))
	if len(got) > 3*maxPrinted+200 || !strings.Contains(got, "(80000 bytes)") {
		t.Errorf("%d bytes: %.300q", len(got), got)
	}
	if got := versionMismatch("0.12.0", "docker-credential-ecr-login 0.11.0"); !strings.Contains(got, `printed "docker-credential-ecr-login 0.11.0"`) {
		t.Errorf("short output: %q", got)
	}
}

// A static compile finishes its binary itself: gobuild -buildinfo dates the
// binary and writes its build information beside it, dated alike.
func TestGoBuildWritesBuildInfo(t *testing.T) {
	self, info := goBuildFixture(t)
	dir := t.TempDir()
	for _, withInfo := range []bool{false, true} {
		out := filepath.Join(dir, fmt.Sprint(withInfo), "docker-credential-ecr-login")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		args := []string{"-info", info, "-epoch", "1700000000", "-out", out}
		if withInfo {
			args = append(args, "-buildinfo")
		}
		if err := runGoBuild(append(args, "--", "/bin/cp", self, out)); err != nil {
			t.Fatal(err)
		}
		_, statErr := os.Stat(out + BuildInfoSuffix)
		if withInfo != (statErr == nil) {
			t.Errorf("-buildinfo %v: build information written: %v", withInfo, statErr == nil)
		}
		paths := []string{out}
		if withInfo {
			paths = append(paths, out+BuildInfoSuffix)
		}
		for _, p := range paths {
			if fi, err := os.Stat(p); err != nil || !fi.ModTime().Equal(time.Unix(1700000000, 0)) {
				t.Errorf("%s: %v (%v), want dated at the epoch", p, fi.ModTime(), err)
			}
		}
	}
}

// A lock without a time dates a static binary at the proxy's time, as
// finish dates a cgo one; a lock's time wins over the proxy's.
func TestGoBuildLockedTime(t *testing.T) {
	self, info := goBuildFixture(t)
	for lockTime, want := range map[string]string{"": "2024-01-02T03:04:05Z", "2023-11-14T22:13:20Z": "2023-11-14T22:13:20Z"} {
		out := filepath.Join(t.TempDir(), "docker-credential-ecr-login")
		args := []string{"-info", info, "-locked", "-time", lockTime, "-out", out, "--", "/bin/cp", self, out}
		if err := runGoBuild(args); err != nil {
			t.Fatal(err)
		}
		w, _ := time.Parse(time.RFC3339, want)
		if fi, err := os.Stat(out); err != nil || !fi.ModTime().Equal(w) {
			t.Errorf("lock time %q: binary dated %v (%v), want %v", lockTime, fi.ModTime(), err, w)
		}
	}
}

// goBuildFixture is a binary for gobuild's command to copy (this test's
// own, so it has build information) and a module proxy .info file dated
// 2024-01-02T03:04:05Z.
func goBuildFixture(t *testing.T) (self, info string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	info = filepath.Join(t.TempDir(), "v1.info")
	if err := os.WriteFile(info, []byte(`{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return self, info
}

// A helper's own check arguments reach the binary, and the messages name
// them; an argument that looks like a flag stays an argument.
func TestCheckRunsTheHelpersArguments(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "helper")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"args: $*\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := checkArgs
	t.Cleanup(func() { checkArgs = old })
	checkArgs = argList{"list", "-out", "x"}
	out, err := run(bin, time.Minute)
	if err != nil || strings.TrimSpace(out) != "args: list -out x" {
		t.Fatalf("run: %q, %v; want the helper's arguments", out, err)
	}
	if err := check("t", "/", bin, "nope", out, nil); err == nil || !strings.Contains(err.Error(), "`list -out x` printed") {
		t.Errorf("mismatch: %v, want it to name `list -out x`", err)
	}
	checkArgs = nil
	if out, _ := run(bin, time.Minute); strings.TrimSpace(out) != "args: version" {
		t.Errorf("default run: %q, want `version`", out)
	}
}

// A check's verdict names the sha256 of the binary it ran, and the parser
// takes only what Verdict writes.
func TestVerdictNamesTheBinaryRun(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "helper")
	body := []byte("#!/bin/sh\necho 'docker-credential-ecr-login (x) 0.12.0'\n")
	if err := os.WriteFile(bin, body, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "verdict")
	if err := runCheck([]string{"-target", "t", "-want", "0.12.0", "-in", bin, "-out", out}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum, ok := VerdictSum(data)
	if want := fmt.Sprintf("%x", sha256.Sum256(body)); !ok || sum != want {
		t.Errorf("verdict %q: sum %q (%v), want %q", data, sum, ok, want)
	}
	if len(data) > MaxVerdict {
		t.Errorf("verdict of %d bytes, over MaxVerdict", len(data))
	}
	// What a cgo image's compiler may leave where the binary should be is
	// refused at once, not read without end.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{fifo, zero} {
		done := make(chan error, 1)
		go func() {
			done <- runCheck([]string{"-target", "t", "-want", "0.12.0", "-in", in, "-out", filepath.Join(dir, "v2")})
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "reading the binary") {
				t.Errorf("check of %s: %v, want it refused", in, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("check of %s did not end", in)
		}
	}
	for _, bad := range []string{"", "verified\n", "verified sha256:" + sum, "verified sha256:" + strings.ToUpper(sum) + "\n", "verified sha256:" + sum[:63] + "\n", "verified sha256:" + sum + "\nmore"} {
		if _, ok := VerdictSum([]byte(bad)); ok {
			t.Errorf("VerdictSum(%q) accepted", bad)
		}
	}
}
