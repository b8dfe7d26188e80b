package testbed

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
)

// Buildx is the test bed's standalone buildx with its remote builder.
type Buildx struct {
	Path, Config, Builder string
}

// RequireBuildx returns the test bed's buildx, or skips (fails in CI).
func (b *Bed) RequireBuildx(t testing.TB) *Buildx {
	t.Helper()
	x := &Buildx{Config: os.Getenv("LLBGEN_BUILDX_CONFIG"), Builder: os.Getenv("LLBGEN_BUILDX_BUILDER")}
	path, err := exec.LookPath("buildx")
	reason := ""
	switch {
	case err != nil:
		reason = "buildx is not on PATH"
	case x.Config == "" || x.Builder == "":
		reason = "LLBGEN_BUILDX_CONFIG or LLBGEN_BUILDX_BUILDER is not set"
	}
	if reason != "" {
		unusable(t, "the test bed's buildx", reason)
	}
	x.Path = path
	return x
}

// Bake runs `buildx bake` in dir with extra environment (bake variables),
// and returns its combined output.
func (x *Buildx) Bake(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	full := append([]string{"--builder", x.Builder, "bake", "--progress", "plain"}, args...)
	cmd := exec.CommandContext(ctx, x.Path, full...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "DOCKER_CONFIG="+x.Config), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
