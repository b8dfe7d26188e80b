// Package lock is a target list's lock file (targets.yaml.lock): every image
// pinned to its manifest digest for the platform built, and the helper
// module's checksum from the Go checksum database. With a lock, every way of
// building a list builds from exactly these inputs.
package lock

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	"go.yaml.in/yaml/v3"

	"github.com/llbgen/llbgen/internal/atomicfile"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

// File is a lock.
type File struct {
	// Helper pins a list's one helper module; Helpers pins each of the
	// module versions of a list of several helpers (then Helper is zero).
	Helper  Helper   `yaml:"helper,omitempty"`
	Helpers []Helper `yaml:"helpers,omitempty"`
	// Platform is the daemon's, which targets without platforms build for.
	Platform string `yaml:"platform"`
	// Images pins the images used on Platform: full reference -> digest.
	Images map[string]string `yaml:"images"`
	// Platforms pins the images used on other platforms (targets'
	// platforms): platform -> full reference -> digest.
	Platforms map[string]map[string]string `yaml:"platforms,omitempty"`
}

// Digest is the locked digest of k, or "".
func (f *File) Digest(k graph.ImageKey) string {
	if k.Platform == f.Platform {
		return f.Images[k.Ref]
	}
	return f.Platforms[k.Platform][k.Ref]
}

// Set pins k to d.
func (f *File) Set(k graph.ImageKey, d string) {
	if k.Platform == f.Platform {
		if f.Images == nil {
			f.Images = map[string]string{}
		}
		f.Images[k.Ref] = d
		return
	}
	if f.Platforms == nil {
		f.Platforms = map[string]map[string]string{}
	}
	if f.Platforms[k.Platform] == nil {
		f.Platforms[k.Platform] = map[string]string{}
	}
	f.Platforms[k.Platform][k.Ref] = d
}

// Len counts the pinned images, on every platform.
func (f *File) Len() int { return len(f.entries()) }

// entries is every pinned image.
func (f *File) entries() map[graph.ImageKey]string {
	out := map[graph.ImageKey]string{}
	for ref, d := range f.Images {
		out[graph.ImageKey{Ref: ref, Platform: f.Platform}] = d
	}
	for p, m := range f.Platforms {
		for ref, d := range m {
			out[graph.ImageKey{Ref: ref, Platform: p}] = d
		}
	}
	return out
}

// name is how messages name an entry: the reference, with its platform
// when it is not the lock's.
func (f *File) name(k graph.ImageKey) string {
	if k.Platform == f.Platform {
		return k.Ref
	}
	return k.String()
}

// Helper pins the helper module.
type Helper struct {
	Module  string `yaml:"module"`
	Version string `yaml:"version"`
	Sum     string `yaml:"sum"`              // h1: hash, as in go.sum
	Time    string `yaml:"time,omitempty"`   // the version's time, from the module proxy
	Commit  string `yaml:"commit,omitempty"` // origin commit, when the proxy reports it
}

// Modules are the helper modules f pins.
func (f *File) Modules() []Helper {
	if len(f.Helpers) > 0 {
		return f.Helpers
	}
	if f.Helper == (Helper{}) {
		return nil
	}
	return []Helper{f.Helper}
}

// SetModules pins hs: in Helper when there is one (the form of a list of
// one helper, as every lock before several helpers), in Helpers otherwise.
func (f *File) SetModules(hs []Helper) {
	f.Helper, f.Helpers = Helper{}, nil
	if len(hs) == 1 {
		f.Helper = hs[0]
		return
	}
	f.Helpers = hs
}

// Module is the pin of module@version, if f has one.
func (f *File) Module(mod, version string) (Helper, bool) {
	for _, h := range f.Modules() {
		if h.Module == mod && h.Version == version {
			return h, true
		}
	}
	return Helper{}, false
}

// Locked reports whether f pins the hash of helper h's module version.
func (f *File) Locked(h targets.Helper) bool {
	m, ok := f.Module(h.Spec().Module, h.Version)
	return ok && m.Sum != ""
}

// Path is the lock of a list file: FILE.lock beside it.
func Path(list string) string { return list + ".lock" }

const header = "# Written by `llbgen lock`: every input of the target list, pinned.\n# Commit it; `llbgen lock --check` says when it is out of date.\n"

// Marshal encodes f in its stable, diff-friendly form: one line per image,
// sorted by reference.
func (f *File) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("encoding the lock: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding the lock: %w", err)
	}
	return buf.Bytes(), nil
}

// Write replaces the lock file at path atomically.
func (f *File) Write(path string) error {
	data, err := f.Marshal()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, "."+filepath.Base(path)+".tmp-*", data, 0o644, time.Time{}); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Read reads a lock; a missing file is os.ErrNotExist.
func Read(path string) (*File, error) {
	// At most one byte past the limit: a FIFO or /dev/zero cannot grow it,
	// and a FIFO without a writer is refused at once, not waited for.
	data, err := targets.ReadBounded(path, MaxBytes)
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return nil, err // names the file already; fs.ErrNotExist when missing
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Parse(path, data)
}

// MaxBytes bounds a lock: a line per image of a list at its limits
// (targets.MaxBinaries) fits many times over.
const MaxBytes = 4 << 20

// Parse decodes a lock, strictly.
func Parse(path string, data []byte) (*File, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%s: the lock is more than %d bytes (%d MiB), far more than any list needs; run llbgen lock to write it again", path, MaxBytes, MaxBytes>>20)
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w; run llbgen lock to write it again", path, err)
	}
	if _, ok := f.Platforms[f.Platform]; ok {
		return nil, fmt.Errorf("%s: platforms: %s is the lock's own platform, whose images belong under images:; run llbgen lock to write it again", path, f.Platform)
	}
	if f.Helper != (Helper{}) && len(f.Helpers) > 0 {
		return nil, fmt.Errorf("%s: the lock has both helper: and helpers:; run llbgen lock to write it again", path)
	}
	seen := map[string]bool{}
	for _, m := range f.Helpers {
		k := m.Module + "@" + m.Version
		if seen[k] {
			return nil, fmt.Errorf("%s: helpers: %s is pinned twice; run llbgen lock to write it again", path, k)
		}
		seen[k] = true
	}
	return &f, nil
}

// MismatchError says a lock does not cover its list.
type MismatchError struct {
	Path    string
	Entries []string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s does not match the target list: %s; run llbgen lock", e.Path, strings.Join(e.Entries, "; "))
}

// Check reports, naming each entry, where f does not cover list.
func (f *File) Check(path string, list *targets.List) error {
	var bad []string
	for _, h := range list.Helpers {
		if _, ok := f.Module(h.Spec().Module, h.Version); !ok {
			bad = append(bad, fmt.Sprintf("helper: %s is not locked (locked: %s)", graph.ModuleKey(h), f.lockedModules()))
		}
	}
	for _, m := range f.Modules() {
		what := "helper: "
		if len(f.Modules()) > 1 {
			what = "helper " + m.Module + "@" + m.Version + ": "
		}
		if m.Sum == "" {
			bad = append(bad, what+"no sum")
		}
		if err := CheckCommit(m.Commit); err != nil {
			bad = append(bad, what+err.Error())
		}
		if err := CheckTime(m.Time); err != nil {
			bad = append(bad, what+err.Error())
		}
	}
	def, err := platforms.Parse(f.Platform)
	if err != nil {
		bad = append(bad, fmt.Sprintf("platform: %q: %v", f.Platform, err))
	} else {
		for _, k := range graph.Images(list, def) {
			if f.Digest(k) == "" {
				bad = append(bad, fmt.Sprintf("images: %s is not locked", f.name(k)))
			}
		}
	}
	for k, d := range f.entries() {
		if _, err := digest.Parse(d); err != nil {
			bad = append(bad, fmt.Sprintf("images: %s: %q is not a digest (%v)", f.name(k), d, err))
		}
	}
	sort.Strings(bad)
	if len(bad) == 0 {
		return nil
	}
	return &MismatchError{Path: path, Entries: bad}
}

// lockedModules names the modules f pins, for messages.
func (f *File) lockedModules() string {
	var names []string
	for _, m := range f.Modules() {
		names = append(names, m.Module+"@"+m.Version)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Apply pins opt to the lock: image digests, and each module's hash and
// its version's commit and time as the lock recorded them.
func (f *File) Apply(opt *graph.Options) {
	opt.Images = f.Resolved()
	opt.Locked = map[string]graph.LockedModule{}
	for _, m := range f.Modules() {
		opt.Locked[m.Module+"@"+m.Version] = graph.LockedModule{Sum: m.Sum, Commit: m.Commit, Time: m.Time}
	}
}

// Resolved gives the locked digests in the form the graph takes.
func (f *File) Resolved() map[graph.ImageKey]graph.Resolved {
	out := map[graph.ImageKey]graph.Resolved{}
	for k, d := range f.entries() {
		out[k] = graph.Resolved{Digest: digest.Digest(d)}
	}
	return out
}

// Diff lists what changed from old to new, one entry per line.
func Diff(old, new *File) []string {
	var d []string
	if a, b := old.Modules(), new.Modules(); !slices.Equal(a, b) {
		d = append(d, fmt.Sprintf("helper: %+v -> %+v", a, b))
	}
	if old.Platform != new.Platform {
		d = append(d, fmt.Sprintf("platform: %s -> %s", old.Platform, new.Platform))
	}
	olds, news := old.entries(), new.entries()
	keys := map[graph.ImageKey]bool{}
	for k := range olds {
		keys[k] = true
	}
	for k := range news {
		keys[k] = true
	}
	var sorted []graph.ImageKey
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].String() < sorted[j].String() })
	for _, k := range sorted {
		if a, b := olds[k], news[k]; a != b {
			switch {
			case a == "":
				d = append(d, fmt.Sprintf("images: %s added (%s)", new.name(k), b))
			case b == "":
				d = append(d, fmt.Sprintf("images: %s no longer used", old.name(k)))
			default:
				d = append(d, fmt.Sprintf("images: %s moved from %s to %s", new.name(k), a, b))
			}
		}
	}
	return d
}

// CheckCommit refuses a helper commit that is not a full git commit hash
// (SHA-1 or SHA-256, lower-case hex): the commit is stamped into the binary
// with -ldflags. "" (none recorded) is fine.
func CheckCommit(c string) error {
	if c == "" || (len(c) == 40 || len(c) == 64) && strings.Trim(c, "0123456789abcdef") == "" {
		return nil
	}
	return fmt.Errorf("commit %s is not a commit hash (40 or 64 lower-case hex digits); it would reach the linker's flags", targets.Quote(c))
}

// maxTime is the latest version time a lock takes: the file times it
// dates are nanoseconds since 1970 in an int64, which wrap after it.
var maxTime = time.Unix(graph.MaxSourceDateEpoch, 0).UTC()

// CheckTime refuses a helper version time that is not RFC 3339 or that the
// exported files' times cannot hold: before 1970 or after
// graph.MaxSourceDateEpoch (2262-04-11), where os.Chtimes would wrap it.
// "" (none recorded) is fine.
func CheckTime(t string) error {
	if t == "" {
		return nil
	}
	when, err := time.Parse(time.RFC3339, t)
	if err != nil {
		return fmt.Errorf("time %s is not an RFC 3339 time such as 2026-02-25T22:29:07Z; it dates the exported files", targets.Quote(t))
	}
	if when.Before(time.Unix(0, 0)) || when.After(maxTime) {
		return fmt.Errorf("time %s is not between 1970-01-01 and %s; it dates the exported files, whose times would wrap", targets.Quote(t), maxTime.Format(time.RFC3339))
	}
	return nil
}

// IncludePattern is path as a BuildKit include pattern (llb.FollowPaths,
// gateway.ReadDirRequest.IncludePattern) that matches path alone. Those
// are globs: a list named targets[1].yaml would otherwise never find its
// lock (and build unpinned), and one named *.yaml would find another's.
// Glob characters, the backslash, "!" (an exclusion when first) and
// whitespace (trimmed) are escaped with a backslash; "/" separates.
func IncludePattern(path string) string {
	var b strings.Builder
	for _, r := range path {
		switch r {
		case '*', '?', '[', ']', '\\', '^', '!', ' ', '\t', '\n', '\v', '\f', '\r':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
