package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/targets"
)

// A setting that would skip the checksum database for the helper module is
// bad input in every verb that downloads it: exit 2, the variable and the
// pattern named, nothing on stdout, nothing written. No daemon is needed:
// the refusal comes before any contact.
func TestSkippedChecksumDatabaseIsRefused(t *testing.T) {
	envs := []struct {
		name, key, value, pattern string
	}{
		{"GONOSUMDB everything", "GONOSUMDB", "*", "*"},
		{"GONOSUMDB host glob", "GONOSUMDB", "corp.example.com,github.com/*", "github.com/*"},
		{"GONOSUMDB owner prefix", "GONOSUMDB", "github.com/awslabs", "github.com/awslabs"},
		{"GOPRIVATE", "GOPRIVATE", "github.com/awslabs/*", "github.com/awslabs/*"},
	}
	for _, e := range envs {
		refusedByEveryVerb(t, e.name, e.key, e.value, func(t *testing.T, stderr string) {
			want := "llbgen: " + e.key + "=" + e.value + ": pattern \"" + e.pattern + "\" matches " + targets.HelperModule
			if !strings.HasPrefix(stderr, want) || !strings.Contains(stderr, "narrow "+e.key+" to your own modules") {
				t.Errorf("stderr %q\nwant it to start %q and say what to do", stderr, want)
			}
		})
	}
}

// downloadVerbs are the verbs that download the helper module.
var downloadVerbs = map[string][]string{
	"pipe":   nil,
	"build":  {"build", "--out", "out"},
	"lock":   {"lock"},
	"matrix": {"matrix"},
}

// refusedByEveryVerb sets key=value and runs every download verb on a good
// list with no daemon: each must refuse it as bad input (exit 2) before any
// contact, with nothing on stdout and nothing written; check judges stderr.
func refusedByEveryVerb(t *testing.T, name, key, value string, check func(t *testing.T, stderr string)) {
	t.Helper()
	for verb, args := range downloadVerbs {
		t.Run(verb+"/"+name, func(t *testing.T) {
			clearModuleEnv(t)
			t.Setenv("BUILDKIT_HOST", "unix:///nonexistent/buildkitd.sock")
			t.Setenv(key, value)
			dir := dirWith(t, map[string]string{"targets.yaml": goodList})
			code, stdout, stderr := runCLI(t, dir, args...)
			if code != exitBadInput || stdout != "" {
				t.Errorf("exit %d, stdout %d bytes; want 2 and nothing\n%s", code, len(stdout), stderr)
			}
			check(t, stderr)
			if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
				t.Error("the output directory was created")
			}
			if _, err := os.Stat(filepath.Join(dir, "targets.yaml.lock")); !os.IsNotExist(err) {
				t.Error("a lock was written")
			}
		})
	}
}

// With a lock, its h1: hash is the check: the pipe builds from it even when
// GONOSUMDB covers the helper. Patterns for other modules never matter.
func TestChecksumDatabaseRuleAcceptsLocksAndOtherModules(t *testing.T) {
	clearModuleEnv(t)
	t.Setenv("GONOSUMDB", "corp.example.com,github.com/aws/aws-sdk-go-v2")
	dir := dirWith(t, map[string]string{"targets.yaml": goodList})
	if code, stdout, stderr := runCLI(t, dir); code != 0 || stdout == "" {
		t.Fatalf("dependencies' patterns: exit %d: %s", code, stderr)
	}

	t.Setenv("GONOSUMDB", "*")
	writeLockFor(t, filepath.Join(dir, "targets.yaml"))
	code, stdout, stderr := runCLI(t, dir)
	if code != 0 || stdout == "" {
		t.Fatalf("locked: exit %d: %s", code, stderr)
	}
	// `llbgen lock` writes the lock, so an existing one does not excuse it.
	t.Setenv("BUILDKIT_HOST", "unix:///nonexistent/buildkitd.sock")
	if code, _, stderr := runCLI(t, dir, "lock"); code != 2 || !strings.Contains(stderr, "GONOSUMDB=*") {
		t.Errorf("lock with a lock: exit %d: %s", code, stderr)
	}
}

// clearModuleEnv unsets the machine's own module settings for one test.
func clearModuleEnv(t *testing.T) {
	t.Helper()
	for _, k := range graph.PassThroughEnv {
		t.Setenv(k, "")
	}
}

// writeLockFor writes a lock covering list for the pipe's platform.
func writeLockFor(t *testing.T, listPath string) {
	t.Helper()
	list, err := targets.Load(listPath)
	if err != nil {
		t.Fatal(err)
	}
	p := graph.DefaultPlatform()
	f := &lock.File{
		Helper:   lock.Helper{Module: targets.HelperModule, Version: list.Helpers[0].Version, Sum: "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		Platform: p.OS + "/" + p.Architecture,
		Images:   map[string]string{},
	}
	for _, k := range graph.Images(list, p) {
		f.Set(k, "sha256:"+strings.Repeat("a", 64))
	}
	if err := f.Write(lock.Path(listPath)); err != nil {
		t.Fatal(err)
	}
}
