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
