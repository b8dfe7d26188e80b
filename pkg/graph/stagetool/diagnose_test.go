package stagetool

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests hold real ELF files, built with gcc, against fake image root
// file systems.

const (
	versionSrc = `#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "version") == 0) { puts("x (y) 0.12.0"); return 0; }
	fputs("usage: x version\n", stderr);
	return 2;
}
`
	failSrc = `#include <stdio.h>
int main(void) { fputs("boom\nsecond line\n", stderr); return 3; }
`
	fakeUserSrc = `#include <stdio.h>
int fake_one(void);
int fake_two(void);
int main(void) { printf("%d\n", fake_one() + fake_two()); return 0; }
`
	fakeLibSrc = `int fake_one(void) { return 1; }
int fake_two(void) { return 2; }
int fake_nine(void) { return 9; }
int fake_ten(void) { return 10; }
`
	// The library the binary is linked against defines FAKE_2.0; the image's
	// older one stops at FAKE_1.10 (which sorts before 1.9 as text).
	newMap = "FAKE_1.0 { global: fake_one; local: *; };\nFAKE_2.0 { global: fake_two; } FAKE_1.0;\n"
	oldMap = "FAKE_1.0 { global: fake_one; local: *; };\nFAKE_1.9 { global: fake_nine; } FAKE_1.0;\nFAKE_1.10 { global: fake_ten; } FAKE_1.9;\n"

	muslLoader = "/lib/ld-musl-x86_64.so.1"
)

// gcc compiles src in dir to dir/name with the extra arguments.
func gcc(t *testing.T, dir, name, src string, args ...string) string {
	t.Helper()
	cc, err := exec.LookPath("gcc")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("gcc not found, and in CI these tests must run: hack/install-tools.sh installs it")
		}
		t.Skip("gcc not found: these tests build real ELF binaries with it")
	}
	c := filepath.Join(dir, name+".c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command(cc, append([]string{"-o", out, c}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", name, err, b)
	}
	return out
}

// interpOf is the ELF interpreter of a binary built here.
func interpOf(t *testing.T, bin string) string {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	interp := interpreter(f)
	if interp == "" {
		t.Fatalf("%s has no ELF interpreter: gcc links statically here?", bin)
	}
	return interp
}

func writeFile(t *testing.T, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// copyHost copies the host file src (symlinks followed) to dst.
func copyHost(t *testing.T, src, dst string) {
	t.Helper()
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(real, dst); err != nil {
		t.Fatal(err)
	}
}

// muslRoot is an image with musl's loader only (an empty file will do).
func muslRoot(t *testing.T) string {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, muslLoader), "")
	return root
}

// glibcRoot is an image with the host's glibc loader and libc.so.6, as a
// glibc-linked bin needs them. The loader is an absolute symbolic link to
// a directory only the image has.
func glibcRoot(t *testing.T, bin string) string {
	t.Helper()
	root := t.TempDir()
	interp := interpOf(t, bin)
	copyHost(t, interp, filepath.Join(root, "opt/glibc", filepath.Base(interp)))
	symlink(t, "/opt/glibc/"+filepath.Base(interp), filepath.Join(root, interp))
	libc, err := exec.Command("gcc", "-print-file-name=libc.so.6").Output()
	if err != nil {
		t.Fatal(err)
	}
	copyHost(t, strings.TrimSpace(string(libc)), filepath.Join(root, "usr/lib/libc.so.6"))
	return root
}

func notFound(bin string) error {
	return &os.PathError{Op: "fork/exec", Path: bin, Err: syscall.ENOENT}
}

func TestDiagnoseGlibcBinaryInMuslImage(t *testing.T) {
	bin := gcc(t, t.TempDir(), "glibc", versionSrc)
	got := diagnose(muslRoot(t), bin, notFound(bin), "")
	want := "missing ELF interpreter " + interpOf(t, bin) + ": the binary is linked against glibc, the image has musl (/lib/ld-musl-x86_64.so.1); " +
		"needed library libc.so.6 is not in the image's library path"
	if got != want {
		t.Errorf("diagnose:\n got %s\nwant %s", got, want)
	}
}

func TestDiagnoseMuslBinaryInGlibcImage(t *testing.T) {
	dir := t.TempDir()
	glibc := gcc(t, dir, "glibc", versionSrc)
	musl := gcc(t, dir, "musl", versionSrc, "-Wl,--dynamic-linker="+muslLoader)
	got := diagnose(glibcRoot(t, glibc), musl, notFound(musl), "")
	want := "missing ELF interpreter /lib/ld-musl-x86_64.so.1: the binary is linked against musl, the image has glibc (" + interpOf(t, glibc) + ")"
	if got != want {
		t.Errorf("diagnose:\n got %s\nwant %s", got, want)
	}

	// The same, run for real on this (glibc) host.
	if _, err := os.Stat(muslLoader); err == nil {
		t.Skipf("this host has %s: the musl-linked binary would run", muslLoader)
	}
	output, runErr := run(musl, time.Minute)
	if !errors.Is(runErr, os.ErrNotExist) {
		t.Fatalf("running a binary whose interpreter is missing: %v", runErr)
	}
	got = diagnose("/", musl, runErr, output)
	if !strings.HasPrefix(got, "missing ELF interpreter /lib/ld-musl-x86_64.so.1: the binary is linked against musl, the image has glibc (") {
		t.Errorf("on this host: %s", got)
	}
	err := check("musl-cgo", "/", musl, "0.12.0", output, runErr)
	if err == nil || !strings.HasPrefix(err.Error(), "target musl-cgo: the binary does not run in its image: missing ELF interpreter /lib/ld-musl-x86_64.so.1: ") {
		t.Errorf("check: %v", err)
	}
}

func TestDiagnoseImageWithoutLoader(t *testing.T) {
	bin := gcc(t, t.TempDir(), "glibc", versionSrc)
	got := diagnose(t.TempDir(), bin, notFound(bin), "")
	if !strings.Contains(got, ": the binary is linked against glibc, the image has no dynamic loader") {
		t.Errorf("diagnose: %s", got)
	}
}

// A link's absolute target is the image's file, not the host's.
func TestDiagnoseSymlinkStaysInRoot(t *testing.T) {
	bin := gcc(t, t.TempDir(), "glibc", versionSrc)
	root := glibcRoot(t, bin)
	hostLibc, err := exec.Command("gcc", "-print-file-name=libc.so.6").Output()
	if err != nil {
		t.Fatal(err)
	}
	hostPath, err := filepath.EvalSymlinks(strings.TrimSpace(string(hostLibc)))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(root, "usr/lib/libc.so.6"))
	symlink(t, hostPath, filepath.Join(root, "usr/lib/libc.so.6")) // there on the host, not in the image
	symlink(t, "../../../..", filepath.Join(root, "usr/lib/up"))
	symlink(t, "up"+hostPath, filepath.Join(root, "usr/lib/libc.so.6.up")) // ".." stops at the root
	got := diagnose(root, bin, notFound(bin), "")
	if got != "needed library libc.so.6 is not in the image's library path" {
		t.Errorf("diagnose: %s", got)
	}
	if _, err := inRoot(root, "/usr/lib/libc.so.6.up"); err == nil {
		t.Error("a link climbed out of the root")
	}
	if h, err := inRoot(root, "/usr/lib/up/opt/glibc"); err != nil || h != filepath.Join(root, "opt/glibc") {
		t.Errorf("inRoot: %q, %v", h, err)
	}
}

// fakeUser builds a binary that needs FAKE_2.0 from libfake.so.1, and the
// image's older libfake.so.1 that stops at FAKE_1.10.
func fakeUser(t *testing.T) (bin, newLib, oldLib string) {
	dir := t.TempDir()
	for _, d := range []string{"new", "old"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "new.map"), newMap)
	writeFile(t, filepath.Join(dir, "old.map"), oldMap)
	newLib = gcc(t, dir, "new/libfake.so.1", fakeLibSrc, "-shared", "-fPIC", "-Wl,-soname,libfake.so.1", "-Wl,--version-script="+filepath.Join(dir, "new.map"))
	oldLib = gcc(t, dir, "old/libfake.so.1", fakeLibSrc, "-shared", "-fPIC", "-Wl,-soname,libfake.so.1", "-Wl,--version-script="+filepath.Join(dir, "old.map"))
	bin = gcc(t, dir, "user", fakeUserSrc, "-L"+filepath.Join(dir, "new"), "-l:libfake.so.1")
	return bin, newLib, oldLib
}

func TestDiagnoseMissingLibrary(t *testing.T) {
	bin, _, _ := fakeUser(t)
	// Run for real: the host lacks libfake.so.1 in its library path too.
	output, runErr := run(bin, time.Minute)
	if runErr == nil || !strings.Contains(output, "libfake.so.1") {
		t.Fatalf("run: %v, %q", runErr, output)
	}
	got := diagnose(glibcRoot(t, bin), bin, runErr, output)
	// The ELF cause first, then what the run printed.
	if !strings.HasPrefix(got, "needed library libfake.so.1 is not in the image's library path; it printed: ") ||
		!strings.HasSuffix(got, "libfake.so.1: cannot open shared object file: No such file or directory") {
		t.Errorf("diagnose: %s", got)
	}
	// Before: the interpreter; after: the versions.
	got = diagnose(muslRoot(t), bin, runErr, output)
	want := ": the binary is linked against glibc, the image has musl (/lib/ld-musl-x86_64.so.1); needed libraries libfake.so.1, libc.so.6 are not in the image's library path; it printed: "
	if !strings.HasPrefix(got, "missing ELF interpreter ") || !strings.Contains(got, want) {
		t.Errorf("diagnose: %s", got)
	}
}

func TestDiagnoseSymbolVersions(t *testing.T) {
	bin, newLib, oldLib := fakeUser(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	tuple := multiarch[f.Machine][0]
	f.Close()
	const want = "needs FAKE_2.0 from libfake.so.1; the image's libfake.so.1 provides up to FAKE_1.10"
	cases := []struct {
		name string
		lib  string // where the old library goes
		conf map[string]string
	}{
		{"/usr/local/lib", "usr/local/lib", nil},
		{"multiarch", "usr/lib/" + tuple, nil},
		{"ld.so.conf include", "opt/a/lib", map[string]string{
			"etc/ld.so.conf":            "# libraries\ninclude ld.so.conf.d/*.conf\n",
			"etc/ld.so.conf.d/a.conf":   "/opt/a/lib # the fake one\n",
			"etc/ld.so.conf.d/b.conf~x": "/nowhere\n",
		}},
		{"musl path", "opt/m/lib", map[string]string{"etc/ld-musl-x86_64.path": "/nowhere:/opt/m/lib\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := glibcRoot(t, bin)
			copyHost(t, oldLib, filepath.Join(root, tc.lib, "libfake.so.1"))
			for p, body := range tc.conf {
				writeFile(t, filepath.Join(root, p), body)
			}
			if got := diagnose(root, bin, &exec.ExitError{}, ""); got != want {
				t.Errorf("diagnose:\n got %s\nwant %s", got, want)
			}
		})
	}

	t.Run("library for another machine", func(t *testing.T) {
		root := glibcRoot(t, bin)
		lib := filepath.Join(root, "usr/lib/libfake.so.1")
		copyHost(t, newLib, lib)
		patchMachine(t, lib, foreignMachine())
		got := diagnose(root, bin, &exec.ExitError{}, "")
		want := "needed library libfake.so.1 is not in the image's library path (/usr/lib/libfake.so.1 is for " + foreignPlatform() + ")"
		if got != want {
			t.Errorf("diagnose:\n got %s\nwant %s", got, want)
		}
	})

	t.Run("all there", func(t *testing.T) {
		root := glibcRoot(t, bin)
		copyHost(t, newLib, filepath.Join(root, "usr/lib/libfake.so.1"))
		got := diagnose(root, bin, errors.New("exit status 1"), "Error relocating x: __vfprintf_chk: symbol not found\n\n2nd\n3rd\n4th\n")
		if got != "`version` failed: exit status 1; it printed: Error relocating x: __vfprintf_chk: symbol not found | 2nd | 3rd" {
			t.Errorf("diagnose: %s", got)
		}
	})
}

// foreignMachine is a machine other than this one, with its platform.
func foreignMachine() elf.Machine {
	if runtime.GOARCH == "arm64" {
		return elf.EM_X86_64
	}
	return elf.EM_AARCH64
}

func foreignPlatform() string {
	if runtime.GOARCH == "arm64" {
		return "linux/amd64"
	}
	return "linux/arm64"
}

// patchMachine rewrites e_machine (bytes 18-19 of the ELF header).
func patchMachine(t *testing.T, p string, m elf.Machine) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [2]byte
	binary.LittleEndian.PutUint16(b[:], uint16(m))
	if _, err := f.WriteAt(b[:], 18); err != nil {
		t.Fatal(err)
	}
}

func TestDiagnoseExecFormatError(t *testing.T) {
	dir := t.TempDir()
	bin := gcc(t, dir, "native", versionSrc)
	if p, err := elfPlatform(bin); err != nil || p != "linux/"+runtime.GOARCH {
		t.Errorf("elfPlatform(native) = %q, %v", p, err)
	}

	foreign := filepath.Join(dir, "foreign")
	if err := copyFile(bin, foreign); err != nil {
		t.Fatal(err)
	}
	patchMachine(t, foreign, foreignMachine())
	if p, err := elfPlatform(foreign); err != nil || p != foreignPlatform() {
		t.Errorf("elfPlatform(foreign) = %q, %v", p, err)
	}
	output, runErr := run(foreign, time.Minute)
	if !errors.Is(runErr, syscall.ENOEXEC) {
		// binfmt_misc hands it to an emulator here (and it fails there):
		// the kernel's answer without one is simulated.
		t.Logf("this host runs %s binaries (%v, %q): simulating the exec format error", foreignPlatform(), runErr, output)
		runErr = &os.PathError{Op: "fork/exec", Path: foreign, Err: syscall.ENOEXEC}
	}
	got := diagnose("/", foreign, runErr, output)
	want := map[string]string{
		"linux/arm64": "the binary is for linux/arm64 (aarch64) and nothing here runs it: no emulator for linux/arm64 (this is linux/" + runtime.GOARCH + ")",
		"linux/amd64": "the binary is for linux/amd64 (x86_64) and nothing here runs it: no emulator for linux/amd64 (this is linux/arm64)",
	}[foreignPlatform()]
	if got != want {
		t.Errorf("diagnose:\n got %s\nwant %s", got, want)
	}

	// A machine nothing emulates: the kernel's own exec format error.
	ia64 := filepath.Join(dir, "ia64")
	if err := copyFile(bin, ia64); err != nil {
		t.Fatal(err)
	}
	patchMachine(t, ia64, elf.EM_IA_64)
	if _, err := elfPlatform(ia64); err == nil {
		t.Error("elfPlatform: IA-64 is no platform of llbgen's")
	}
	output, runErr = run(ia64, time.Minute)
	if !errors.Is(runErr, syscall.ENOEXEC) {
		t.Fatalf("running an IA-64 binary: %v, %q", runErr, output)
	}
	if got := diagnose("/", ia64, runErr, output); got != "the binary is for ELF machine EM_IA_64 and nothing here runs it (this is linux/"+runtime.GOARCH+")" {
		t.Errorf("diagnose: %s", got)
	}

	// Not ELF at all.
	text := filepath.Join(dir, "text")
	if err := os.WriteFile(text, []byte("echo hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	output, runErr = run(text, time.Minute)
	if got := diagnose("/", text, runErr, output); !strings.Contains(got, "exec format error") || !strings.Contains(got, "not an ELF executable") {
		t.Errorf("diagnose: %s (%v)", got, runErr)
	}
}

func TestDiagnoseFailedRun(t *testing.T) {
	bin := gcc(t, t.TempDir(), "fail", failSrc)
	output, runErr := run(bin, time.Minute)
	if got := diagnose("/", bin, runErr, output); got != "`version` failed: exit status 3; it printed: boom | second line" {
		t.Errorf("diagnose: %s", got)
	}
	if got := diagnose("/", bin, errors.New("timed out after 1s"), ""); got != "`version` failed: timed out after 1s; it printed nothing" {
		t.Errorf("diagnose: %s", got)
	}
}

func TestVersions(t *testing.T) {
	ordered := []string{"GLIBC_2.2.5", "GLIBC_2.3", "GLIBC_2.3.4", "GLIBC_2.28", "GLIBC_2.34"}
	for i := 0; i+1 < len(ordered); i++ {
		if compareVersions(ordered[i], ordered[i+1]) >= 0 || compareVersions(ordered[i+1], ordered[i]) <= 0 {
			t.Errorf("%s, %s out of order", ordered[i], ordered[i+1])
		}
	}
	if got := missingVersions([]string{"GLIBC_2.34", "GLIBC_2.2.5", "GLIBC_2.32", "GLIBC_2.34"}, ordered[:4]); strings.Join(got, " ") != "GLIBC_2.32 GLIBC_2.34" {
		t.Errorf("missing %q", got)
	}
	for _, tc := range []struct {
		defined, missing []string
		want             string
	}{
		{[]string{"GLIBC_2.28", "GLIBC_2.3", "GLIBC_PRIVATE"}, []string{"GLIBC_2.34"}, "provides up to GLIBC_2.28"},
		{[]string{"OTHER_9"}, []string{"FAKE_2.0"}, "defines no FAKE_ versions"},
		{[]string{"GLIBC_2.28"}, []string{"GLIBC_PRIVATE"}, "does not define it"},
	} {
		if got := versionGap(tc.defined, tc.missing); got != tc.want {
			t.Errorf("versionGap(%q, %q) = %q, want %q", tc.defined, tc.missing, got, tc.want)
		}
	}
}

func TestClip(t *testing.T) {
	if got := clip("abc", 3); got != "abc" {
		t.Errorf("clip = %q", got)
	}
	got := clip(strings.Repeat("é", 10), 8) // 2 bytes each; "…" is 3
	if got != "éé…" {
		t.Errorf("clip = %q", got)
	}
}
