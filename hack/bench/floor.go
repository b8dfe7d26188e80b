package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/llbgen/llbgen/pkg/targets"
)

// The floor: what any tool must spend on a cold build of the helper. A
// bare `go build` with upstream's flags in the go image, on the same
// daemon, from an empty build cache, after pulling the go image. The
// modules are downloaded in a step of their own (its time is taken out:
// the floor has them already) and the binary is exported.
const floorDockerfile = `ARG GO_IMAGE
FROM ${GO_IMAGE} AS build
ENV PATH=/usr/local/go/bin:$PATH HOME=/tmp GOPATH=/tmp/gopath GOCACHE=/tmp/gocache CGO_ENABLED=0 GOTOOLCHAIN=local GOMODCACHE=/gomod GOFLAGS=-mod=mod
ARG MODULE
ARG VERSION
RUN go mod download "$MODULE@$VERSION" && go -C "/gomod/$MODULE@$VERSION" mod download
ARG PACKAGE
ARG LDFLAGS
RUN --network=none GOPROXY=off go -C "/gomod/$MODULE@$VERSION" build -trimpath -buildvcs=false -ldflags "$LDFLAGS" -o /out/ "$PACKAGE"
FROM scratch
COPY --from=build /out/ /
`

// floorDownload names the floor's download step in the vertex stream.
const floorDownload = "go mod download"

func (b *bench) writeFloor() error {
	dir := filepath.Join(b.cfg.work, "floor")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(floorDockerfile), 0o644)
}

// floor prunes the daemon and builds the floor; it returns the build's
// wall time without its download step, and with it.
func (b *bench) floor(ctx context.Context) (time.Duration, time.Duration, error) {
	spec, ok := targets.KnownHelper(targets.DefaultHelper)
	if !ok {
		return 0, 0, fmt.Errorf("no known helper %s", targets.DefaultHelper)
	}
	if err := b.prune(ctx); err != nil {
		return 0, 0, err
	}
	dir := filepath.Join(b.cfg.work, "floor")
	cmd := exec.CommandContext(ctx, "buildctl", "--addr", b.env.addr, "build",
		"--frontend", "dockerfile.v0", "--local", "context=.", "--local", "dockerfile=.",
		"--opt", "build-arg:GO_IMAGE="+b.goImage(),
		"--opt", "build-arg:MODULE="+spec.Module,
		"--opt", "build-arg:VERSION="+helperVersion,
		"--opt", "build-arg:PACKAGE="+spec.Package,
		// upstream's flags, as llbgen passes them (the commit llbgen
		// stamps is as long as any)
		"--opt", "build-arg:LDFLAGS="+spec.LDFlags(helperVersion)+" -X "+spec.CommitVar+"=0000000",
		"--output", "type=local,dest=out", "--progress", "rawjson")
	cmd.Dir = dir
	stages, total, err := rawSolve(cmd)
	if err != nil {
		return 0, 0, fmt.Errorf("the floor: %w", err)
	}
	var download time.Duration
	for _, s := range stages {
		if strings.Contains(s.name, floorDownload) && !s.cached {
			download += s.end.Sub(s.start)
		}
	}
	if download == 0 {
		return 0, 0, fmt.Errorf("the floor: no %q step in the vertex stream", floorDownload)
	}
	return total - download, total, nil
}
