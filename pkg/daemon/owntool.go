package daemon

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	gofs "io/fs"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"
	"github.com/tonistiigi/fsutil/types"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/graph/stagetool"
)

// ownTool is llbgen's own executable as the stage tool (Options.StageTool,
// graph.Options.OwnTool), read once into memory and offered by every
// session as graph.OwnToolLocal: one file named "stagetool", owned by
// root, mode 0755, with a fixed time, so that the stages that mount it are
// keyed by its bytes alone, whoever runs llbgen and wherever. Nothing then
// compiles the stage tool on a daemon of its platform, and the helper's
// compile, which the stage tool wraps, starts as soon as the modules are
// downloaded. The graph names the local by the bytes' digest: a daemon
// keeps one copy per digest, and no run is served another run's tool.
type ownTool struct {
	data     []byte
	digest   digest.Digest
	platform ocispecs.Platform
}

// ownToolTime is the file's time as the daemon receives it.
const ownToolTime = int64(1e9) // 1970-01-01T00:00:01Z, in nanoseconds

// maxOwnTool bounds what is read of the executable.
const maxOwnTool = 512 << 20

var ownTools = struct {
	sync.Mutex
	byPath map[string]ownToolResult
}{byPath: map[string]ownToolResult{}}

type ownToolResult struct {
	t   *ownTool
	err error
}

// loadOwnTool is exe as the stage tool, read once per process, or why it
// cannot serve.
func loadOwnTool(exe string) (*ownTool, error) {
	ownTools.Lock()
	defer ownTools.Unlock()
	r, ok := ownTools.byPath[exe]
	if !ok {
		r.t, r.err = newOwnTool(exe)
		ownTools.byPath[exe] = r
	}
	return r.t, r.err
}

// newOwnTool reads exe, or says why it cannot serve: it must be a static
// Linux executable (it runs in target images of any libc), of this
// process's architecture at its baseline level (an arm executable, or one
// built for GOAMD64=v3, could not run on every daemon of its
// architecture: those compile the stage tool).
func newOwnTool(exe string) (*ownTool, error) {
	if runtime.GOOS != "linux" || runtime.GOARCH == "arm" {
		return nil, fmt.Errorf("llbgen runs on %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	if level := buildSetting("GO" + strings.ToUpper(runtime.GOARCH)); level != "" && level != "v1" && level != "v8.0" {
		return nil, fmt.Errorf("llbgen is built for %s %s", runtime.GOARCH, level)
	}
	f, err := os.Open(exe)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxOwnTool+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxOwnTool {
		return nil, fmt.Errorf("%s is larger than %d MiB", exe, maxOwnTool>>20)
	}
	if err := checkStatic(exe, data); err != nil {
		return nil, err
	}
	return &ownTool{
		data:     data,
		digest:   digest.FromBytes(data),
		platform: platforms.Normalize(ocispecs.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}),
	}, nil
}

// buildSetting is this executable's build setting key ("" when unset).
func buildSetting(key string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// checkStatic fails unless data is an ELF executable without an
// interpreter or needed libraries.
func checkStatic(exe string, data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: %w", exe, err)
	}
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

// serves is the digest the graph names the own tool by when it runs on a
// daemon of platform p (the daemon's, where the stage tool runs), or "".
func (t *ownTool) serves(p ocispecs.Platform) digest.Digest {
	if t == nil {
		return ""
	}
	p = platforms.Normalize(p)
	if p.OS != t.platform.OS || p.Architecture != t.platform.Architecture {
		return ""
	}
	return t.digest
}

// mounts is what a session offers: the own tool, or nothing.
func (t *ownTool) mounts() map[string]fsutil.FS {
	if t == nil {
		return nil
	}
	return map[string]fsutil.FS{graph.OwnToolLocal: ownToolFS{t}}
}

// ownToolFS is the directory the daemon receives: the one file.
type ownToolFS struct{ t *ownTool }

func (f ownToolFS) stat() *types.Stat {
	return &types.Stat{Path: stagetool.Name, Mode: 0o755, Size: int64(len(f.t.data)), ModTime: ownToolTime}
}

func (f ownToolFS) Walk(ctx context.Context, target string, fn gofs.WalkDirFunc) error {
	if t := strings.Trim(target, "/"); t != "" && t != "." && t != stagetool.Name {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn(stagetool.Name, &fsutil.DirEntryInfo{Stat: f.stat()}, nil)
}

func (f ownToolFS) Open(p string) (io.ReadCloser, error) {
	if strings.Trim(p, "/") != stagetool.Name {
		return nil, &os.PathError{Op: "open", Path: p, Err: errors.ErrUnsupported}
	}
	return io.NopCloser(bytes.NewReader(f.t.data)), nil
}
