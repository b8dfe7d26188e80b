package main

import (
	"strings"
	"testing"
)

// The pipe writes no password and says which buildctl flag supplies it.
func TestPipeProxyCredentialsHint(t *testing.T) {
	clearModuleEnv(t)
	t.Setenv("GOPROXY", "https://user:SECRETPASSWORD@goproxy.corp,direct")
	dir := dirWith(t, map[string]string{"targets.yaml": goodList})
	code, stdout, stderr := runCLI(t, dir)
	if code != 0 || stdout == "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stdout+stderr, "SECRETPASSWORD") {
		t.Error("the password was printed")
	}
	want := "llbgen: GOPROXY carries credentials, so the definition reads it from the BuildKit secret GOPROXY, not from plain text: add --secret id=GOPROXY,env=GOPROXY to buildctl build\n"
	if stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}

	t.Setenv("GOPROXY", "https://goproxy.corp")
	if _, _, stderr := runCLI(t, dir); stderr != "" {
		t.Errorf("a proxy without credentials needs no secret: %q", stderr)
	}
}

func TestProvenanceFlag(t *testing.T) {
	t.Setenv("BUILDKIT_HOST", "")
	dir := dirWith(t, map[string]string{"targets.yaml": goodList})
	code, _, stderr := runCLI(t, dir, "build", "--out", "out", "--provenance=full")
	if code != 2 || !strings.Contains(stderr, "--provenance=full: want min (the default) or max") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
