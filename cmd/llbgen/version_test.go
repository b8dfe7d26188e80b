package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
)

// --version names llbgen's version, its commit and its Go version, on
// one line, and exits 0.
func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--version"}, &stdout, &stderr)
	out := stdout.String()
	if code != 0 || !strings.HasPrefix(out, "llbgen ") || !strings.Contains(out, "(commit ") || !strings.HasSuffix(out, ", "+runtime.Version()+")\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("exit %d, %q (stderr %q)", code, out, stderr.String())
	}
	version = "v9.8.7"
	defer func() { version = "" }()
	if line := versionLine(); !strings.HasPrefix(line, "llbgen v9.8.7 (commit ") {
		t.Errorf("with -X main.version: %q", line)
	}
}

// --debug shows a failure's chain, a line per wrapper, after its one line.
func TestDebugShowsTheChain(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"build", "--debug", "--addr", "unix:///nonexistent/llbgen.sock", "-f", "../../targets.yaml", "--out", t.TempDir()}, &stdout, &stderr)
	out := stderr.String()
	if code != 1 || !strings.Contains(out, "llbgen: debug: 0 *daemon.UnreachableError: cannot reach a BuildKit daemon at unix:///nonexistent/llbgen.sock") ||
		!strings.Contains(out, "llbgen: debug: 1 ") || !strings.Contains(out, "\nllbgen: cannot reach") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
