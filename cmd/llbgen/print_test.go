package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// lockedList is a list with a target of two platforms, and its lock.
const (
	lockedList = `helper:
  version: v0.12.0
targets:
  - image: docker:19.03.12
  - image: docker:19.03.12
    name: multi
    platforms: [linux/amd64, linux/arm64]
`
	lockedLock = `helper:
  module: github.com/awslabs/amazon-ecr-credential-helper/ecr-login
  version: v0.12.0
  sum: h1:JFWXO6QPihCknDdnL6VaQE57km4ZKheHIGd9YiOGcTo=
platform: linux/amd64
images:
  docker.io/library/docker:19.03.12: sha256:1111111111111111111111111111111111111111111111111111111111111111
  docker.io/library/golang:1.26: sha256:2222222222222222222222222222222222222222222222222222222222222222
platforms:
  linux/arm64:
    docker.io/library/docker:19.03.12: sha256:3333333333333333333333333333333333333333333333333333333333333333
    docker.io/library/golang:1.26: sha256:4444444444444444444444444444444444444444444444444444444444444444
`
)

// --print shows the plan the build makes: with a lock, its platform and
// the digest each image is pinned to.
func TestPrintLockedGolden(t *testing.T) {
	dir := dirWith(t, map[string]string{"targets.yaml": lockedList, "targets.yaml.lock": lockedLock})
	code, stdout, stderr := runCLI(t, dir, "build", "--print", "--out", "dist", "--addr", "unix:///nonexistent")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden(t, "print-locked.golden", stableVersion(stdout))
}

// --print refuses what the build refuses before contacting a daemon, as
// bad input, and prints nothing.
func TestPrintRefusesWhatBuildRefuses(t *testing.T) {
	stale := strings.Replace(lockedLock, "  docker.io/library/golang:1.26: sha256:2222222222222222222222222222222222222222222222222222222222222222\n", "", 1)
	for _, c := range []struct {
		name  string
		files map[string]string
		env   string // SOURCE_DATE_EPOCH
		args  []string
		want  string
	}{
		{"a lock that does not cover the list", map[string]string{"targets.yaml": lockedList, "targets.yaml.lock": stale}, "", nil,
			"docker.io/library/golang:1.26 is not locked"},
		{"--locked without a lock", map[string]string{"targets.yaml": lockedList}, "", []string{"--locked"},
			"--locked: no lock at targets.yaml.lock"},
		{"a bad SOURCE_DATE_EPOCH", map[string]string{"targets.yaml": lockedList}, "yesterday", nil,
			"SOURCE_DATE_EPOCH"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", c.env)
			dir := dirWith(t, c.files)
			args := append([]string{"build", "--print", "--addr", "unix:///nonexistent"}, c.args...)
			code, stdout, stderr := runCLI(t, dir, args...)
			if code != exitBadInput || stdout != "" || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, nothing on stdout, %q", code, stdout, stderr, exitBadInput, c.want)
			}
		})
	}
}

// --print names the images --push and --load would publish: each target's
// job image and the helpers image, as the list's publish: block renders
// them.
func TestPrintNamesImages(t *testing.T) {
	list := "helper: {version: v0.12.0}\npublish:\n  images: \"registry.example.com/ci/{repo}:{tag}-ecr-login\"\n  helpers: \"registry.example.com/ci/helpers:{version}\"\ntargets:\n  - image: docker:19.03.12\n  - image: gitlab/gitlab-runner:v13.2.1\n"
	dir := dirWith(t, map[string]string{"targets.yaml": list})
	code, stdout, stderr := runCLI(t, dir, "build", "--print", "--addr", "unix:///nonexistent")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got metadata
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	want := []metaImageOut{
		{What: "job image of docker_19.03.12", Name: "registry.example.com/ci/docker:19.03.12-ecr-login"},
		{What: "job image of gitlab-runner_v13.2.1", Name: "registry.example.com/ci/gitlab/gitlab-runner:v13.2.1-ecr-login"},
		{What: "helpers image", Name: "registry.example.com/ci/helpers:v0.12.0"},
	}
	if !slices.Equal(got.Images, want) {
		t.Errorf("--print:\n%s", stdout)
	}
}
