package lock

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tonistiigi/fsutil"
)

// The frontend finds a list's lock with llb.FollowPaths (the client sends
// what matches) and gateway ReadDir's IncludePattern (the daemon lists
// what matches): both globs. Through the escaped name each finds the lock
// of its list and nothing else, with the code BuildKit runs for them:
// fsutil's filter, with FollowPaths on the client, and with IncludePatterns
// as buildkit's cache/util.ReadDir calls it (its walk stops at directories).
func TestIncludePattern(t *testing.T) {
	root := t.TempDir()
	files := []string{
		"targets[1].yaml.lock", "targets1.yaml.lock",
		"*.yaml.lock", "a.yaml.lock",
		"t?.yaml.lock", "tt.yaml.lock",
		"!x.yaml.lock", "x.yaml.lock",
		" sp.yaml.lock", "sp.yaml.lock",
		`back\slash.yaml.lock`, "backslash.yaml.lock",
		"^c[^a].yaml.lock", "^cb.yaml.lock",
		"ci[x]/t*.yaml.lock", "ci[x]/tt.yaml.lock", "cix/t*.yaml.lock",
		"targets2.yaml.lock",
	}
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, name := range append(files, "targets[2].yaml.lock") {
		want := []string{}
		if name != "targets[2].yaml.lock" {
			want = []string{name}
		}
		// The client's side of llb.Local with FollowPaths.
		var sent []string
		err := fsutil.Walk(ctx, root, &fsutil.FilterOpt{FollowPaths: []string{IncludePattern(name)}}, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if !fi.IsDir() {
				sent = append(sent, filepath.ToSlash(p))
			}
			return nil
		})
		if err != nil || !slices.Equal(sent, want) {
			t.Errorf("%q: FollowPaths %q sends %q (%v), want %q", name, IncludePattern(name), sent, err, want)
		}
		// The daemon's side of ReadDir.
		dir := path.Dir(name)
		if dir == "." {
			dir = "/"
		}
		listed := []string{}
		err = fsutil.Walk(ctx, filepath.Join(root, dir), &fsutil.FilterOpt{IncludePatterns: []string{IncludePattern(path.Base(name))}}, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			listed = append(listed, path.Join(path.Dir(name), filepath.ToSlash(p)))
			if fi.IsDir() {
				return filepath.SkipDir
			}
			return nil
		})
		if err != nil || !slices.Equal(listed, want) {
			t.Errorf("%q: ReadDir %q lists %q (%v), want %q", name, IncludePattern(path.Base(name)), listed, err, want)
		}
	}
}
