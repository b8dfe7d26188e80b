package testbed

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Engine is the test bed's Docker Engine (hack/engine.sh): a dockerd of its
// own, with its built-in BuildKit, reached by the docker CLI whose config
// directory holds the test bed's buildx as its CLI plugin. Its registry
// mirror for docker.io is the test bed's registry, as for the buildkitd.
type Engine struct {
	Host   string // DOCKER_HOST: unix://.../docker.sock
	Docker string // path of the docker CLI
	Config string // DOCKER_CONFIG: a directory with cli-plugins/docker-buildx
}

var (
	engineOnce   sync.Once
	engine       *Engine
	engineReason string
)

// RequireEngine returns the test bed's Docker Engine, or skips (fails in CI)
// when there is none.
func (b *Bed) RequireEngine(t testing.TB) *Engine {
	t.Helper()
	engineOnce.Do(func() { engine, engineReason = findEngine() })
	if engine == nil {
		unusable(t, "the test bed's Docker Engine", engineReason)
	}
	return engine
}

func findEngine() (*Engine, string) {
	e := &Engine{
		Host:   os.Getenv("LLBGEN_DOCKER_HOST"),
		Docker: os.Getenv("LLBGEN_DOCKER"),
		Config: os.Getenv("LLBGEN_DOCKER_CONFIG"),
	}
	if e.Host == "" || e.Docker == "" || e.Config == "" {
		return nil, "LLBGEN_DOCKER, LLBGEN_DOCKER_HOST or LLBGEN_DOCKER_CONFIG is not set"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := e.Command(ctx, "version", "--format", "{{.Server.APIVersion}}").CombinedOutput()
	if err != nil {
		return nil, fmt.Sprintf("no Docker Engine answers at %s: %v: %s", e.Host, err, strings.TrimSpace(string(out)))
	}
	return e, ""
}

// Env is the environment for docker on the engine: this process's, with
// DOCKER_HOST and DOCKER_CONFIG the engine's and nothing that would pick
// another daemon, context or builder.
func (e *Engine) Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH",
			"BUILDX_BUILDER", "BUILDKIT_HOST":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "DOCKER_HOST="+e.Host, "DOCKER_CONFIG="+e.Config)
}

// Command is `docker args...` on the engine.
func (e *Engine) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.Docker, args...)
	cmd.Env = e.Env()
	return cmd
}

// Run runs `docker args...` on the engine in dir (the current directory when
// empty) with extra environment, and returns its combined output.
func (e *Engine) Run(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := e.Command(ctx, args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
