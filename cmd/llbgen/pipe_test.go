package main

import (
	"testing"

	"github.com/llbgen/llbgen/internal/testbed"
)

// What the original ./build script did, with flags instead of a list. With
// no targets.yaml in the working directory the defaults apply (golang:1.26,
// through the test bed's mirror).
func TestPipeImageFlags(t *testing.T) {
	bed := testbed.Require(t)
	t.Chdir(t.TempDir())
	dir, log, err := pipe(t, bed, "--image", bed.Musl(), "--name", "alpine", "--image", bed.Glibc())
	if err != nil {
		t.Fatalf("llbgen --image ... | buildctl: %v\n%s", err, log)
	}
	assertFiles(t, dir, map[string]string{
		"docker-credential-ecr-login-alpine":                "",
		"docker-credential-ecr-login-gitlab-runner_v13.2.1": "",
	})
	assertSums(t, dir)
}
