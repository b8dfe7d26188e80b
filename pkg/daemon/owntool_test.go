package daemon

import (
	"bytes"
	"context"
	"debug/elf"
	"io"
	gofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil/types"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/graph/stagetool"
)

// A static executable serves as the stage tool: the daemon receives one
// file under the stage tool's name, its bytes, owned by root, mode 0755,
// at a fixed time whatever the executable's own (so the stages that mount
// it are keyed by its bytes alone), named by its digest, for this
// process's platform only. A dynamically linked one does not serve: it
// could not run in an image of another libc.
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
	if err := os.Chmod(static, 0o700); err != nil {
		t.Fatal(err)
	}
	own, err := newOwnTool(static)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(static)
	if own.digest != digest.FromBytes(want) {
		t.Errorf("digest %s, want the bytes' %s", own.digest, digest.FromBytes(want))
	}
	fs := own.mounts()[graph.OwnToolLocal]
	if fs == nil {
		t.Fatalf("the sessions are offered %v", own.mounts())
	}
	var walked []*types.Stat
	err = fs.Walk(context.Background(), "/", func(path string, e gofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*types.Stat)
		if path != st.Path {
			t.Errorf("walked %s with the stat of %s", path, st.Path)
		}
		walked = append(walked, st)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(walked) != 1 {
		t.Fatalf("walked %d files, want the stage tool alone", len(walked))
	}
	st := walked[0]
	if st.Path != stagetool.Name || st.Mode != 0o755 || st.Uid != 0 || st.Gid != 0 || st.Size != int64(len(want)) || st.ModTime != ownToolTime {
		t.Errorf("the daemon receives %+v", st)
	}
	rc, err := fs.Open(stagetool.Name)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, want) {
		t.Errorf("the daemon receives %d bytes, not the executable's %d", len(got), len(want))
	}
	if _, err := fs.Open("other"); err == nil {
		t.Error("another file can be opened")
	}
	here := ocispecs.Platform{OS: "linux", Architecture: runtime.GOARCH}
	other := ocispecs.Platform{OS: "linux", Architecture: "riscv64"}
	if own.serves(here) != own.digest || own.serves(other) != "" || (*ownTool)(nil).serves(here) != "" {
		t.Errorf("serves %v: %q, %v: %q", here, own.serves(here), other, own.serves(other))
	}

	// A dynamically linked executable (one of this machine's) needs a loader.
	dynamic := ""
	for _, p := range []string{"/bin/sh", "/usr/bin/env", "/bin/ls"} {
		if f, err := elf.Open(p); err == nil {
			for _, prog := range f.Progs {
				if prog.Type == elf.PT_INTERP {
					dynamic = p
				}
			}
			f.Close()
		}
		if dynamic != "" {
			break
		}
	}
	if dynamic == "" {
		t.Fatal("no dynamically linked executable on this machine to test with")
	}
	if _, err := newOwnTool(dynamic); err == nil {
		t.Errorf("%s, dynamically linked, serves as the stage tool", dynamic)
	}
	if _, err := newOwnTool(src); err == nil {
		t.Error("a file that is no executable serves as the stage tool")
	}
}
