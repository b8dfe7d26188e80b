package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// withStdin runs llbgen with args and data on standard input.
func withStdin(t *testing.T, data string, args ...string) (int, string, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.WriteString(data); w.Close() }()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old; r.Close() }()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// -f - reads the list from standard input, refusals named <stdin>; it has
// no lock, so --locked and lock refuse it.
func TestListOnStdin(t *testing.T) {
	t.Setenv("BUILDKIT_HOST", "")
	list := "helper: {version: v0.12.0}\ntargets:\n  - {image: docker:19.03.12, name: from-stdin}\n"
	if code, out, errs := withStdin(t, list, "build", "-f", "-", "--print"); code != 0 || !strings.Contains(out, `"from-stdin"`) {
		t.Errorf("build -f - --print: exit %d\n%s%s", code, out, errs)
	}
	for _, c := range []struct {
		data string
		args []string
		want string
	}{
		{"helper: {version: v0.12.0}\ntargets:\n  - image: \"docker:\"\n", []string{"build", "-f", "-", "--print"}, "<stdin>:3:12: image \"docker:\""},
		{"", []string{"build", "-f", "-", "--print"}, "-f -: standard input is empty"},
		{list, []string{"build", "-f", "-", "--print", "--locked"}, "a list on standard input (-f -) has no lock"},
		{list, []string{"lock", "-f", "-"}, "-f - has no file"},
		{strings.Repeat("#", 1<<20), []string{"build", "-f", "-", "--print"}, "<stdin>:1:1: the file is more than"},
	} {
		if code, _, errs := withStdin(t, c.data, c.args...); code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d, want 2 and %q:\n%s", c.args, code, c.want, errs)
		}
	}
}

// The metadata file is refused, before anything is built, inside the
// output directory (whatever path names it), as a directory, or where no
// directory holds it.
func TestMetadataPath(t *testing.T) {
	dir := t.TempDir()
	out := dir + "/out"
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(out, dir+"/link"); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		out + "/SHA256SUMS":        "is in the output directory",
		dir + "/link/m.json":       "is in the output directory",
		dir + "/out/../out/m.json": "is in the output directory",
		dir:                        "is a directory",
		dir + "/missing/m.json":    "does not exist",
		dir + "/llbgen-meta.json":  "",
	} {
		err := checkMetadataPath(path, out)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
}
