package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// testbedEnv is what hack/testbed.sh's env file provides.
type testbedEnv struct {
	addr, registry, crane, buildxConfig, buildxBuilder string
	// addr2 is the test bed's second buildkitd, another machine of a
	// fleet; "" when the test bed has none.
	addr2 string
}

func loadEnv() (testbedEnv, error) {
	e := testbedEnv{
		addr:          os.Getenv("BUILDKIT_HOST"),
		registry:      os.Getenv("LLBGEN_TEST_REGISTRY"),
		crane:         os.Getenv("LLBGEN_CRANE"),
		buildxConfig:  os.Getenv("LLBGEN_BUILDX_CONFIG"),
		buildxBuilder: os.Getenv("LLBGEN_BUILDX_BUILDER"),
		addr2:         os.Getenv("LLBGEN_BUILDKIT_HOST2"),
	}
	if e.addr == "" || e.registry == "" || e.crane == "" || e.buildxConfig == "" {
		return e, fmt.Errorf("the test bed's environment is missing: source $(hack/testbed.sh env) (make bench does)")
	}
	return e, nil
}

// sh runs a command and returns its output; failures carry the output.
func sh(ctx context.Context, env []string, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(out.String(), 25))
	}
	return out.String(), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
