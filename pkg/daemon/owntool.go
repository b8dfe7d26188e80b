package daemon

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/graph/stagetool"
)

// ownTool is llbgen's own executable as the stage tool (Options.StageTool,
// graph.Options.OwnTool): a copy named "stagetool" in a directory of its
// own, which every session of the run offers as graph.OwnToolLocal.
// Nothing then compiles the stage tool on a daemon of its platform, and the
// helper's compile, which the stage tool wraps, starts as soon as the
// modules are downloaded. The copy keeps the executable's time, so a daemon
// that already has it is sent nothing again.
type ownTool struct {
	dir      string
	platform ocispecs.Platform
	fs       fsutil.FS
}

// newOwnTool copies exe for the run, or says why it cannot serve: it must
// be a static Linux executable (it runs in target images of any libc) of
// this process's architecture (an arm executable has variants a daemon may
// not run: those compile the stage tool).
func newOwnTool(exe string) (*ownTool, error) {
	if runtime.GOOS != "linux" || runtime.GOARCH == "arm" {
		return nil, fmt.Errorf("llbgen runs on %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	if err := checkStatic(exe); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "llbgen-stagetool-")
	if err != nil {
		return nil, err
	}
	t := &ownTool{dir: dir, platform: platforms.Normalize(ocispecs.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH})}
	if err := copyExecutable(exe, filepath.Join(dir, stagetool.Name)); err != nil {
		t.remove()
		return nil, err
	}
	if t.fs, err = fsutil.NewFS(dir); err != nil {
		t.remove()
		return nil, err
	}
	return t, nil
}

// checkStatic fails unless exe is an ELF executable without an interpreter
// or needed libraries.
func checkStatic(exe string) error {
	f, err := elf.Open(exe)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked", exe)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries", exe)
	}
	return nil
}

// copyExecutable copies exe to dst, executable, with exe's time.
func copyExecutable(exe, dst string) error {
	in, err := os.Open(exe)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}

// serves reports whether the own tool runs on a daemon of platform p (the
// daemon's, where the stage tool runs).
func (t *ownTool) serves(p ocispecs.Platform) bool {
	if t == nil {
		return false
	}
	p = platforms.Normalize(p)
	return p.OS == t.platform.OS && p.Architecture == t.platform.Architecture
}

// mounts is what a session offers: the own tool's directory, or nothing.
func (t *ownTool) mounts() map[string]fsutil.FS {
	if t == nil {
		return nil
	}
	return map[string]fsutil.FS{graph.OwnToolLocal: t.fs}
}

func (t *ownTool) remove() {
	if t != nil {
		os.RemoveAll(t.dir)
	}
}
