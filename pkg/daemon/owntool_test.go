package daemon

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/graph/stagetool"
)

// A static executable serves as the stage tool: copied under the stage
// tool's name, executable, with its time (a daemon that has it is sent
// nothing again), for this process's platform only; the copy goes with
// the run. A dynamically linked one does not serve: it could not run in
// an image of another libc.
func TestOwnTool(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH == "arm" {
		t.Skipf("skipping: llbgen runs itself as the stage tool on Linux, not arm: this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	static := filepath.Join(dir, "static")
	build := exec.Command("go", "build", "-o", static, src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(static, when, when); err != nil {
		t.Fatal(err)
	}
	own, err := newOwnTool(static)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(own.dir, stagetool.Name)
	fi, err := os.Stat(copied)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(static)
	got, _ := os.ReadFile(copied)
	if !bytes.Equal(got, want) || fi.Mode().Perm() != 0o755 || !fi.ModTime().Equal(when) {
		t.Errorf("the copy is %v %v, %d bytes (want %d), want 0755 and %v", fi.Mode(), fi.ModTime(), len(got), len(want), when)
	}
	if m := own.mounts(); len(m) != 1 {
		t.Errorf("the sessions are offered %v", m)
	}
	here := ocispecs.Platform{OS: "linux", Architecture: runtime.GOARCH}
	other := ocispecs.Platform{OS: "linux", Architecture: "riscv64"}
	if !own.serves(here) || own.serves(other) || (*ownTool)(nil).serves(here) {
		t.Errorf("serves %v: %v, %v: %v", here, own.serves(here), other, own.serves(other))
	}
	own.remove()
	if _, err := os.Stat(own.dir); !os.IsNotExist(err) {
		t.Errorf("the copy is left after the run: %v", err)
	}

	// /bin/sh, as every distribution links it, needs a loader.
	if _, err := newOwnTool("/bin/sh"); err == nil {
		t.Error("a dynamically linked executable serves as the stage tool")
	}
	if _, err := newOwnTool(src); err == nil {
		t.Error("a file that is no executable serves as the stage tool")
	}
}
