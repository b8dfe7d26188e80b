package main

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llbgen/llbgen/internal/testbed"
	"github.com/llbgen/llbgen/pkg/targets"
)

// dockerDriverLine is how buildx says it builds on Docker's default builder.
const dockerDriverLine = `building with "default" instance using docker driver`

// TestBakeDockerDriver: `docker buildx bake` on a Docker Engine's default
// builder (the docker driver, no `buildx create`), with the repository's
// docker-bake.hcl and its frontend handed over as the `target:frontend`
// named context, builds the repository's targets.yaml into the same bytes as
// bake on the test bed's buildkitd (the remote driver) and `llbgen build`.
func TestBakeDockerDriver(t *testing.T) {
	bed := testbed.Require(t)
	engine := bed.RequireEngine(t)
	x := bed.RequireBuildx(t)
	repo := repoCopy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	dirs := map[string]string{"bake-docker": t.TempDir(), "bake-remote": t.TempDir(), "build": t.TempDir()}
	allow := func(dir string) string { return "--allow=fs.write=" + dir }

	// As a Docker user runs it: the docker CLI with buildx as its plugin.
	log, err := engine.Run(ctx, repo, []string{"OUT=" + dirs["bake-docker"]}, "buildx", "bake", "--progress", "plain", allow(dirs["bake-docker"]))
	if err != nil {
		t.Fatalf("docker buildx bake on the engine: %v\n%s", err, tail(log, 30))
	}
	if !strings.Contains(log, dockerDriverLine) {
		t.Errorf("docker buildx bake did not say %q:\n%s", dockerDriverLine, tail(log, 30))
	}
	log, err = x.Bake(ctx, repo, []string{"OUT=" + dirs["bake-remote"]}, allow(dirs["bake-remote"]))
	if err != nil {
		t.Fatalf("buildx bake on the test bed's buildkitd: %v\n%s", err, tail(log, 30))
	}
	cmd := llbgenCmd(t, bed.Addr, "build", "-f", "targets.yaml", "--out", dirs["build"], "--progress", "plain")
	cmd.Dir = repo
	if r := runCmd(t, cmd); r.code != 0 {
		t.Fatalf("llbgen build: exit %d\n%s", r.code, tail(r.stderr, 30))
	}

	want := listFiles(t, filepath.Join(repo, "targets.yaml"))
	for _, dir := range dirs {
		assertFiles(t, dir, want)
		assertSums(t, dir)
	}
	assertSameOutputs(t, dirs)
}

// listFiles is the binaries a list's build writes, by file name, for
// assertFiles.
func listFiles(t *testing.T, path string) map[string]string {
	t.Helper()
	list, err := targets.Parse(filepath.Base(path), []byte(readFile(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, b := range list.Binaries() {
		files[b.FileName()] = ""
	}
	if len(files) == 0 {
		t.Fatalf("%s lists no binary", path)
	}
	return files
}

// assertSameOutputs holds output directories, by the way that wrote each, to
// each other: the same files, byte for byte and with the same times.
func assertSameOutputs(t *testing.T, dirs map[string]string) {
	t.Helper()
	names := slices.Sorted(maps.Keys(dirs))
	ref := readDir(t, dirs[names[0]])
	for _, n := range names[1:] {
		got := readDir(t, dirs[n])
		if a, b := slices.Sorted(maps.Keys(ref)), slices.Sorted(maps.Keys(got)); !slices.Equal(a, b) {
			t.Errorf("%s wrote %q, %s wrote %q", names[0], a, n, b)
			continue
		}
		for name, f := range got {
			switch r := ref[name]; {
			case r.data != f.data:
				t.Errorf("%s: %s and %s wrote different bytes", name, names[0], n)
			case !r.modTime.Equal(f.modTime):
				t.Errorf("%s: %s gave it the time %v, %s %v", name, names[0], r.modTime, n, f.modTime)
			}
		}
	}
}

// writeListIn writes body as targets.yaml into a new directory and returns
// the directory.
func writeListIn(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "targets.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
