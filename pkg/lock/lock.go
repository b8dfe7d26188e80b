// Package lock is a target list's lock file (targets.yaml.lock): every image
// pinned to its manifest digest for the platform built, and the helper
// module's checksum from the Go checksum database. With a lock, every way of
// building a list builds from exactly these inputs.
package lock

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/containerd/platforms"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/llbgen/llbgen/internal/atomicfile"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
	digest "github.com/opencontainers/go-digest"
	"go.yaml.in/yaml/v3"
)

// File is a lock.
type File struct {
	Helper Helper `yaml:"helper"`
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
	if f.Helper.Module != targets.HelperModule || f.Helper.Version != list.Helper.Version {
		bad = append(bad, fmt.Sprintf("helper: locked %s@%s, the list wants %s@%s", f.Helper.Module, f.Helper.Version, targets.HelperModule, list.Helper.Version))
	}
	if f.Helper.Sum == "" {
		bad = append(bad, "helper: no sum")
	}
	if c := f.Helper.Commit; c != "" && !hexCommit(c) {
		if len(c) > 80 {
			c = c[:80] + "..."
		}
		bad = append(bad, fmt.Sprintf("helper: commit %q is not a commit hash (40 or 64 lower-case hex digits); it would reach the linker's flags", c))
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

// Apply pins opt to the lock: image digests, the module hash, and the
// version's commit and time as the lock recorded them.
func (f *File) Apply(opt *graph.Options) {
	opt.Images = f.Resolved()
	opt.ModuleSum = f.Helper.Sum
	opt.LockedCommit = f.Helper.Commit
	opt.LockedTime = f.Helper.Time
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
	if old.Helper != new.Helper {
		d = append(d, fmt.Sprintf("helper: %+v -> %+v", old.Helper, new.Helper))
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

// hexCommit says whether c is a full git commit hash (SHA-1 or SHA-256):
// the commit is stamped into the binary with -ldflags.
func hexCommit(c string) bool {
	if len(c) != 40 && len(c) != 64 {
		return false
	}
	return strings.Trim(c, "0123456789abcdef") == ""
}
