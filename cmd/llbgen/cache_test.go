package main

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llbgen/llbgen/internal/testbed"
)

// staticCompile is the name of the vertex that compiles the helper.
const staticCompile = "compile the helper once for linux/amd64, for every static binary"

// A fleet's second machine, its daemon empty, imports the first one's
// cache from a registry: every file comes out byte-identical, and the
// helper is not compiled again.
func TestRemoteCache(t *testing.T) {
	bed := testbed.Require(t)
	second := bed.RequireSecondDaemon(t)
	ref := fmt.Sprintf("%s/llbgen-test/cache-%d:llbgen", bed.Registry, time.Now().UnixNano())
	file := writeList(t, fmt.Sprintf("helper: {version: v0.12.0}\ngo: %s\ntargets:\n  - {image: %s, name: musl}\n  - {image: %s, name: glibc}\n", bed.Golang(), bed.Musl(), bed.Glibc()))

	first := t.TempDir()
	r := runLLBGen(t, bed.Addr, "build", "-f", file, "--out", first, "--cache-to", "type=registry,ref="+ref+",mode=max", "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("build with --cache-to: exit %d\n%s", r.code, tail(r.stderr, 20))
	}

	// The second daemon forgets all it built.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bed.Buildctl, "--addr", second, "prune", "--all").CombinedOutput(); err != nil {
		t.Fatalf("buildctl prune --all on %s: %v\n%s", second, err, out)
	}
	out := t.TempDir()
	r = runLLBGen(t, second, "build", "-f", file, "--out", out, "--cache-from", "type=registry,ref="+ref, "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("build with --cache-from on the second daemon: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	want, got := readDir(t, first), readDir(t, out)
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, slices.Sorted(maps.Keys(want))) {
		t.Fatalf("the second daemon wrote %q, the first %q", names, slices.Sorted(maps.Keys(want)))
	}
	for name, f := range want {
		if got[name].data != f.data || !got[name].modTime.Equal(f.modTime) {
			t.Errorf("%s differs: %d bytes, %s on the second daemon; %d bytes, %s on the first", name, len(got[name].data), got[name].modTime, len(f.data), f.modTime)
		}
	}
	// Every binary's own check came from the cache, not only the shared
	// compile: the export held each of them. (A vertex whose result is
	// loaded from the imported cache, rather than found there while the
	// keys are computed, is shown DONE after its layers, not CACHED: a
	// check the export holds as a result of its own, and the compile,
	// which runs llbgen's own executable, a local source, so its key is
	// found from that file's content.) A check that ran logs the stage
	// tool's "verified" line.
	for _, name := range []string{"verify musl in " + bed.Musl(), "verify glibc in " + bed.Glibc()} {
		state := vertexState(r.stderr, name)
		if state != "CACHED" && !strings.HasPrefix(state, "DONE") || vertexLogged(r.stderr, name) {
			t.Errorf("the second daemon's %q: %q, logged %v; want CACHED or loaded, without a run\n%s", name, state, vertexLogged(r.stderr, name), tail(r.stderr, 40))
		}
	}
	if state := vertexState(r.stderr, staticCompile); state != "CACHED" && !strings.HasPrefix(state, "DONE") {
		t.Errorf("the second daemon's %q: %q, want CACHED or loaded\n%s", staticCompile, state, tail(r.stderr, 40))
	}
	// Nothing was compiled there: no stage ever mounted a Go build cache.
	du, err := exec.CommandContext(ctx, bed.Buildctl, "--addr", second, "du", "--verbose", "--filter", "type==exec.cachemount").CombinedOutput()
	if err != nil {
		t.Fatalf("buildctl du on %s: %v\n%s", second, err, du)
	}
	if strings.Contains(string(du), "llbgen-go-build-cache") || strings.Contains(string(du), "llbgen-cgo-build-cache") {
		t.Errorf("the second daemon compiled: it has a Go build cache:\n%s", du)
	}
}

// A cache the daemon cannot export to fails the run (exit 1) once the
// binaries are written, and says so in one line.
func TestFailedCacheExport(t *testing.T) {
	bed := testbed.Require(t)
	closed := closedPort(t)
	file := writeList(t, fmt.Sprintf("helper: {version: v0.12.0}\ngo: %s\ntargets:\n  - {image: %s, name: musl}\n", bed.Golang(), bed.Musl()))
	out := t.TempDir()
	r := runLLBGen(t, bed.Addr, "build", "-f", file, "--out", out, "--cache-to", "type=registry,ref="+closed+"/cache:llbgen", "--progress", "plain")
	line := lineFrom(r.stderr, "build cache not exported: exporting the build cache (registry ref="+closed+"/cache:llbgen): ")
	if r.code != 1 || line == "" || !strings.Contains(line, "connection refused") {
		t.Errorf("exit %d, want 1 and the cause in one line:\n%s", r.code, tail(r.stderr, 10))
	}
	if _, ok := readDir(t, out)["docker-credential-ecr-login-musl"]; !ok {
		t.Error("the binary was not written")
	}
}

// vertexLogged reports whether the vertex named name, in a plain progress
// log, printed a line of its process's output ("#12 0.051 ..."): it ran.
// Every number the name was shown under is looked at.
func vertexLogged(log, name string) bool {
	for _, m := range regexp.MustCompile(`(?m)^(#\d+) (?:\[[^\]]*\] )?`+regexp.QuoteMeta(name)).FindAllStringSubmatch(log, -1) {
		if regexp.MustCompile(`(?m)^` + m[1] + ` \d+\.\d+ `).MatchString(log) {
			return true
		}
	}
	return false
}

// vertexState is how BuildKit's plain progress ended the vertex named
// name: "CACHED", "DONE ...", "ERROR ..." or "" when it is not there.
func vertexState(log, name string) string {
	re := regexp.MustCompile(`(?m)^(#\d+) (?:\[[^\]]*\] )?` + regexp.QuoteMeta(name))
	m := re.FindStringSubmatch(log)
	if m == nil {
		return ""
	}
	end := regexp.MustCompile(`(?m)^` + m[1] + ` (CACHED|DONE.*|ERROR.*)$`).FindStringSubmatch(log)
	if end == nil {
		return "running"
	}
	return end[1]
}
