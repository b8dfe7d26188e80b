package main

import (
	"context"
	"debug/elf"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"

	"github.com/llbgen/llbgen/internal/testbed"
)

// compatList has the three kinds of target: cgo on the glibc stand-in
// (linked against its own libc after setup installs a C compiler), static
// on the musl stand-in, and static for amd64 and arm64 on the musl one.
func compatList(bed *testbed.Bed) string {
	return fmt.Sprintf(`helper:
  version: v0.12.0
go: %s
targets:
  - image: %s
    name: runner-cgo
    cgo: true
    setup:
      - apt-get update
      - apt-get install -y --no-install-recommends gcc libc6-dev
  - image: %s
    name: docker
  - image: %s
    name: multi
    platforms: [linux/amd64, linux/arm64]
`, bed.Golang(), bed.Glibc(), bed.Musl(), bed.Musl())
}

// canRun asks the daemon whether it runs binaries of p, natively or
// emulated: the truth the summary must tell.
func canRun(t *testing.T, addr, p string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ws, err := c.ListWorkers(ctx)
	if err != nil || len(ws) == 0 {
		t.Fatalf("listing workers: %v", err)
	}
	want, err := platforms.Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	return platforms.Any(ws[0].Platforms...).Match(want)
}

// summaryRow returns the summary table's row for a file.
func summaryRow(t *testing.T, stderr, file string) string {
	t.Helper()
	for _, l := range strings.Split(stderr, "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[3] == file {
			return l
		}
	}
	t.Fatalf("no summary row for %s:\n%s", file, tail(stderr, 15))
	return ""
}

func elfOf(t *testing.T, path string) (machine elf.Machine, interp string, needed []string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s is not an ELF file: %v", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, _ := io.ReadAll(p.Open())
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	needed, _ = f.ImportedLibraries()
	return f.Machine, interp, needed
}

func TestCgoStaticAndMultiPlatformTargets(t *testing.T) {
	bed := testbed.Require(t)
	list := writeList(t, compatList(bed))
	out := t.TempDir()

	r := runLLBGen(t, bed.Addr, "build", "-f", list, "--out", out, "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", r.code, tail(r.stderr, 30))
	}

	// The cgo binary is linked against the glibc image's own libc, and was
	// verified in that image as it is.
	cgo := filepath.Join(out, "docker-credential-ecr-login-runner-cgo")
	machine, interp, needed := elfOf(t, cgo)
	if interp != "/lib64/ld-linux-x86-64.so.2" || !slices.Contains(needed, "libc.so.6") || machine != elf.EM_X86_64 {
		t.Errorf("cgo binary: interpreter %q, needed %q, machine %v; want a glibc-linked x86-64 binary", interp, needed, machine)
	}
	if row := summaryRow(t, r.stderr, filepath.Base(cgo)); !strings.HasSuffix(row, " yes") {
		t.Errorf("cgo binary not verified: %s", row)
	}
	assertStatic(t, filepath.Join(out, "docker-credential-ecr-login-docker"))
	assertStatic(t, filepath.Join(out, "docker-credential-ecr-login-multi-linux-amd64"))

	// The arm64 binary is an aarch64 ELF; its state is what the daemon can do.
	arm := "docker-credential-ecr-login-multi-linux-arm64"
	if machine, interp, _ := elfOf(t, filepath.Join(out, arm)); machine != elf.EM_AARCH64 || interp != "" {
		t.Errorf("%s: machine %v interpreter %q, want a static aarch64 binary", arm, machine, interp)
	}
	// The test bed gives the daemon QEMU (hack/install-tools.sh), so the
	// arm64 binary is verified under emulation; TestNoEmulatorIsReportedNotVerified
	// covers a daemon without it.
	if !canRun(t, bed.Addr, "linux/arm64") {
		t.Fatal("the test-bed daemon does not run linux/arm64: hack/testbed.sh up registers QEMU's binfmt handlers before starting it")
	}
	if row := summaryRow(t, r.stderr, arm); !strings.HasSuffix(row, " yes") {
		t.Errorf("the daemon runs linux/arm64, but the arm64 binary is not reported verified: %s", row)
	}
	if !strings.Contains(r.stderr, "verify multi-linux-arm64 in") {
		t.Error("no verify step ran for the arm64 binary")
	}
	if !strings.Contains(r.stderr, "4 of 4 binaries verified") {
		t.Errorf("summary count:\n%s", tail(r.stderr, 10))
	}
	assertSumsList(t, out, "docker-credential-ecr-login-docker",
		"docker-credential-ecr-login-multi-linux-amd64", arm, "docker-credential-ecr-login-runner-cgo")
	assertNoStaging(t, out)

	// The pipe builds the same list to the same bytes.
	dir, log, err := pipe(t, bed, "-f", list)
	if err != nil {
		t.Fatalf("llbgen | buildctl: %v\n%s", err, tail(log, 20))
	}
	if a, b := readFile(t, filepath.Join(out, "SHA256SUMS")), readFile(t, filepath.Join(dir, "SHA256SUMS")); a != b {
		t.Errorf("llbgen build and the pipe differ:\n%s\nvs\n%s", a, b)
	}

	// The matrix shows the original bug and names its cause.
	m := runLLBGen(t, bed.Addr, "matrix", "-f", list, "--progress", "quiet")
	if m.code != 0 {
		t.Fatalf("matrix: exit %d\n%s\n%s", m.code, m.stdout, tail(m.stderr, 20))
	}
	musl := bed.Musl()
	wantLine := "✗ runner-cgo in " + musl + " (linux/amd64): missing ELF interpreter /lib64/ld-linux-x86-64.so.2: the binary is linked against glibc, the image has musl (/lib/ld-musl-x86_64.so.1)"
	armLine := "✗ 5 more: a binary in an image of another platform; not run"
	if !strings.Contains(m.stdout, wantLine) {
		t.Errorf("matrix does not name ld-linux as the cause in the musl column; want line\n%s\ngot:\n%s", wantLine, m.stdout)
	}
	if !strings.Contains(m.stdout, armLine) {
		t.Errorf("matrix does not count the cells across platforms; want\n%s\ngot:\n%s", armLine, m.stdout)
	}
	lines := strings.Split(m.stdout, "\n")
	head := lines[0]
	for _, col := range []string{bed.Glibc() + " (linux/amd64)", musl + " (linux/amd64)", musl + " (linux/arm64)"} {
		if !strings.Contains(head, col) {
			t.Errorf("matrix header lacks column %q: %s", col, head)
		}
	}
	cells := func(name string) []string {
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) > 0 && f[0] == name {
				return f[1:]
			}
		}
		t.Fatalf("no matrix row %s:\n%s", name, m.stdout)
		return nil
	}
	if got := strings.Join(cells("runner-cgo")[:2], " "); got != "✓ ✗" {
		t.Errorf("runner-cgo in glibc, musl: %s, want ✓ ✗\n%s", got, m.stdout)
	}
	if got := strings.Join(cells("docker"), " "); got != "✓ ✓ ✗" {
		t.Errorf("the static amd64 binary in glibc, musl, musl arm64: %s, want ✓ ✓ ✗\n%s", got, m.stdout)
	}
	want := "✗ ✗ ✓"
	if got := strings.Join(cells("multi-linux-arm64"), " "); got != want {
		t.Errorf("the arm64 binary in glibc, musl, musl arm64: %s, want %s\n%s", got, want, m.stdout)
	}
}

// A daemon that cannot run arm64 binaries still builds them, lands them,
// and says they were not verified: never counted as verified. The kernel's
// arm64 emulator is switched off while a private daemon starts and builds
// (buildkitd adds every platform the kernel runs to its worker's list,
// whatever --oci-worker-platform says).
func TestNoEmulatorIsReportedNotVerified(t *testing.T) {
	bed := testbed.Require(t)
	testbed.WithoutEmulation(t, "aarch64")
	d := bed.StartDaemon(t)
	if canRun(t, d.Addr, "linux/arm64") {
		t.Fatal("the private daemon still runs linux/arm64 with the emulator off")
	}
	list := writeList(t, fmt.Sprintf("helper:\n  version: v0.12.0\ngo: %s\ntargets:\n  - image: %s\n    name: multi\n    platforms: [linux/amd64, linux/arm64]\n", bed.Golang(), bed.Musl()))
	out := t.TempDir()
	r := runLLBGen(t, d.Addr, "build", "-f", list, "--out", out, "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", r.code, tail(r.stderr, 30))
	}
	arm := "docker-credential-ecr-login-multi-linux-arm64"
	if row := summaryRow(t, r.stderr, arm); !strings.HasSuffix(row, " NOT VERIFIED") {
		t.Errorf("row %s", row)
	}
	for _, want := range []string{"1 of 2 binaries verified", arm + ": not verified: no emulator for linux/arm64"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, tail(r.stderr, 10))
		}
	}
	if machine, _, _ := elfOf(t, filepath.Join(out, arm)); machine != elf.EM_AARCH64 {
		t.Errorf("%s is for %v", arm, machine)
	}
	assertSumsList(t, out, "docker-credential-ecr-login-multi-linux-amd64", arm)

	// The pipe cannot report "not verified": it fails, naming the platform.
	_, log, err := pipeAt(t, bed, d.Addr, "-f", list)
	if err == nil || !strings.Contains(log, "target multi-linux-arm64: the binary does not run in its image: the binary is for linux/arm64 (aarch64) and nothing here runs it: no emulator for linux/arm64") {
		t.Errorf("the pipe without an emulator: %v\n%s", err, tail(log, 15))
	}

	// The matrix cannot tell: ? in the arm64 column, never ✓ or ✗.
	m := runLLBGen(t, d.Addr, "matrix", "-f", list, "--progress", "quiet")
	if m.code != 0 || !strings.Contains(m.stdout, "? multi-linux-arm64 in "+bed.Musl()+" (linux/arm64): the binary is for linux/arm64 (aarch64) and nothing here runs it: no emulator for linux/arm64") {
		t.Errorf("matrix without an emulator: exit %d\n%s\n%s", m.code, m.stdout, tail(m.stderr, 10))
	}

	strict := runLLBGen(t, d.Addr, "build", "-f", list, "--out", out, "--progress", "quiet", "--require-verified")
	if strict.code != 1 || !strings.Contains(strict.stderr, "1 of 2 binaries not verified (--require-verified)") {
		t.Errorf("--require-verified: exit %d\n%s", strict.code, tail(strict.stderr, 5))
	}
}
