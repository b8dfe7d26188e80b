package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/internal/testbed"
)

// Bake's variables: another list, another output directory, a subset.
func TestBakeVariables(t *testing.T) {
	bed := testbed.Require(t)
	x := bed.RequireBuildx(t)
	repo := repoCopy(t)
	writeFile(t, filepath.Join(repo, "ci.yaml"), standInList(bed, bed.Musl(), bed.Glibc()))
	log, err := bake(t, x, repo, "TARGETS_FILE=ci.yaml", "OUT=dist", "TARGETS=gitlab-runner_v13.2.1")
	if err != nil {
		t.Fatalf("buildx bake: %v\n%s", err, tail(log, 30))
	}
	assertFiles(t, filepath.Join(repo, "dist"), map[string]string{"docker-credential-ecr-login-gitlab-runner_v13.2.1": ""})

	log, err = bake(t, x, repo, "TARGETS_FILE=ci.yaml", "TARGETS=nope")
	if err == nil || !strings.Contains(log, `build-arg:TARGETS names "nope", which is not a target of ci.yaml`) {
		t.Errorf("an unknown TARGETS name: err %v, want a message naming it:\n%s", err, tail(log, 15))
	}
}
