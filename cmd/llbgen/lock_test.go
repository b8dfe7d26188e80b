package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llbgen/llbgen/internal/testbed"
	"github.com/llbgen/llbgen/pkg/lock"
)

// From a lock, two builds with the daemon's cache pruned between give the
// same bits; the lock checks; files carry a fixed time; --provenance leaves
// BuildKit's attestation; a list the lock does not cover is refused.
func TestLockedBuildsAreReproducible(t *testing.T) {
	bed := testbed.Require(t)
	d := bed.StartDaemon(t)
	list := writeList(t, standInList(bed, bed.Musl(), bed.Glibc()))

	r := runLLBGen(t, d.Addr, "lock", "-f", list, "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("lock: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	lk, err := lock.Read(lock.Path(list))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(lk.Helper.Sum, "h1:") || len(lk.Images) != 3 || lk.Platform != "linux/amd64" {
		t.Fatalf("lock %+v: want an h1: sum, three images and linux/amd64", lk)
	}
	if r := runLLBGen(t, d.Addr, "lock", "-f", list, "--check", "--progress", "quiet"); r.code != 0 || !strings.Contains(r.stderr, "up to date") {
		t.Errorf("lock --check on a fresh lock: exit %d\n%s", r.code, r.stderr)
	}

	first := t.TempDir()
	r = runLLBGen(t, d.Addr, "build", "-f", list, "--out", first, "--locked", "--provenance", "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("build --locked: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	if !strings.Contains(r.stderr, "check the helper module against the lock") {
		t.Error("the locked build did not check the module hash")
	}
	provenance, _ := filepath.Glob(filepath.Join(first, "*.json"))
	if len(provenance) == 0 {
		t.Errorf("--provenance left no attestation: %s", snapshotNames(t, first))
	} else if data, _ := os.ReadFile(provenance[0]); !strings.Contains(string(data), "slsa") {
		t.Errorf("%s is not a SLSA provenance", provenance[0])
	}
	bin := filepath.Join(first, "docker-credential-ecr-login-docker_19.03.12")
	info, err := os.ReadFile(bin + ".buildinfo")
	if err != nil || !strings.Contains(string(info), "github.com/awslabs/amazon-ecr-credential-helper/ecr-login") {
		t.Errorf("build info %q (%v)", info, err)
	}
	want, err := time.Parse(time.RFC3339, lk.Helper.Time)
	if err != nil {
		t.Fatalf("the lock's helper time %q: %v (the module proxy reports one)", lk.Helper.Time, err)
	}
	for _, f := range []string{bin, bin + ".buildinfo", filepath.Join(first, "SHA256SUMS")} {
		if fi, err := os.Stat(f); err != nil || !fi.ModTime().Equal(want) {
			t.Errorf("%s: time %v, want the helper version's %v", filepath.Base(f), fi.ModTime(), want)
		}
	}

	d.Prune(t)
	second := t.TempDir()
	if r := runLLBGen(t, d.Addr, "build", "-f", list, "--out", second, "--locked", "--progress", "quiet"); r.code != 0 {
		t.Fatalf("second build: exit %d\n%s", r.code, r.stderr)
	}
	for _, f := range []string{"SHA256SUMS", "docker-credential-ecr-login-docker_19.03.12", "docker-credential-ecr-login-gitlab-runner_v13.2.1.buildinfo"} {
		if readFile(t, filepath.Join(first, f)) != readFile(t, filepath.Join(second, f)) {
			t.Errorf("two cold builds of one lock differ in %s", f)
		}
	}

	// SOURCE_DATE_EPOCH wins over the version's time.
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	third := t.TempDir()
	if r := runLLBGen(t, d.Addr, "build", "-f", list, "--out", third, "--progress", "quiet"); r.code != 0 {
		t.Fatalf("build with SOURCE_DATE_EPOCH: exit %d\n%s", r.code, r.stderr)
	}
	for _, f := range []string{"docker-credential-ecr-login-docker_19.03.12", "SHA256SUMS"} {
		if fi, err := os.Stat(filepath.Join(third, f)); err != nil || fi.ModTime().Unix() != 1700000000 {
			t.Errorf("%s: time %v, want SOURCE_DATE_EPOCH", f, fi.ModTime())
		}
	}
	// 0 is a date (1970), not "unset"; past 2262 file times wrap, so refused.
	t.Setenv("SOURCE_DATE_EPOCH", "0")
	zero := t.TempDir()
	if r := runLLBGen(t, d.Addr, "build", "-f", list, "--out", zero, "--progress", "quiet"); r.code != 0 {
		t.Fatalf("build with SOURCE_DATE_EPOCH=0: exit %d\n%s", r.code, r.stderr)
	}
	for _, f := range []string{"docker-credential-ecr-login-docker_19.03.12", "docker-credential-ecr-login-docker_19.03.12.buildinfo", "SHA256SUMS"} {
		if fi, err := os.Stat(filepath.Join(zero, f)); err != nil || fi.ModTime().Unix() != 0 {
			t.Errorf("%s: time %v, want 1970-01-01 (SOURCE_DATE_EPOCH=0)", f, fi.ModTime())
		}
	}
	t.Setenv("SOURCE_DATE_EPOCH", "9223372037")
	if r := runLLBGen(t, d.Addr, "build", "-f", list, "--out", t.TempDir(), "--progress", "quiet"); r.code != 2 || !strings.Contains(r.stderr, "SOURCE_DATE_EPOCH") {
		t.Errorf("SOURCE_DATE_EPOCH past 2262: exit %d, want 2\n%s", r.code, r.stderr)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "")

	// A target the lock does not know: refused, naming the entry.
	writeFile(t, list, standInList(bed, bed.Musl(), bed.Glibc(), bed.MuslRunner()))
	r = runLLBGen(t, d.Addr, "build", "-f", list, "--out", t.TempDir(), "--locked", "--progress", "quiet")
	if r.code != 2 || !strings.Contains(r.stderr, bed.MuslRunner()+" is not locked") {
		t.Errorf("an unlocked image: exit %d, want 2 naming it\n%s", r.code, r.stderr)
	}
	if r := runLLBGen(t, d.Addr, "lock", "-f", list, "--check", "--progress", "quiet"); r.code != 1 || !strings.Contains(r.stderr, "added") {
		t.Errorf("lock --check on a stale lock: exit %d\n%s", r.code, r.stderr)
	}
}

func snapshotNames(t *testing.T, dir string) string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}
