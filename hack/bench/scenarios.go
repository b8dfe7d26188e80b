package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// key names one measured figure.
type key struct {
	scenario string
	n        int
}

type bench struct {
	cfg     config
	env     testbedEnv
	started time.Time
	images  []string // distinct stand-ins, alternately musl and glibc
	// digests holds the image each pushed digest was pushed as: a digest
	// pushed twice would make two "distinct" images one.
	digests map[string]string
	memory  []memRecord // the scale scenario's peak memory, by run
	results map[key][]time.Duration
	order   []key
	// profileText is the markdown of one profiled cold build.
	profileText string
	// fleetStages are the vertices of the fleet scenario's builds, by
	// scenario, from its last repetition.
	fleetStages map[string][]stage
}

const (
	helperVersion = "v0.12.0"
	helperPkg     = "github.com/awslabs/amazon-ecr-credential-helper/ecr-login/cli/docker-credential-ecr-login"
)

func (b *bench) goImage() string { return b.env.registry + "/library/golang:1.26" }

func (b *bench) record(scenario string, n int, d ...time.Duration) {
	if b.results == nil {
		b.results = map[key][]time.Duration{}
	}
	k := key{scenario, n}
	if _, ok := b.results[k]; !ok {
		b.order = append(b.order, k)
	}
	b.results[k] = append(b.results[k], d...)
	for _, x := range d {
		fmt.Fprintf(os.Stderr, "bench: %-22s N=%-4d %8.2fs\n", scenario, n, x.Seconds())
	}
}

// prepare makes the distinct images and the files every scenario reads.
func (b *bench) prepare(ctx context.Context) error {
	if _, err := os.Stat(b.cfg.llbgen); err != nil {
		return fmt.Errorf("no llbgen binary at %s (make bench builds it): %w", b.cfg.llbgen, err)
	}
	stamp := fmt.Sprint(b.started.UnixNano())
	for i := 1; i <= 8; i++ {
		base := []string{"musl", "glibc"}[i%2]
		ref, err := b.distinctImage(ctx, base, fmt.Sprintf("%s-%d", base, i), stamp)
		if err != nil {
			return err
		}
		b.images = append(b.images, ref)
	}
	for _, n := range append([]int{8, b.cfg.profileN}, b.cfg.sizes...) {
		if err := b.writeList(fmt.Sprintf("list-%d.yaml", n), b.images[:n]); err != nil {
			return err
		}
	}
	if err := b.writeListOf("list-8x3.yaml", threeHelpers, b.images); err != nil {
		return err
	}
	// One target on the musl stand-in, an image index for amd64 and arm64:
	// for one platform, then for both (cross-compiled, verified under QEMU).
	musl := b.env.registry + "/standin/musl:latest"
	for name, plats := range map[string]string{"list-platform-1.yaml": "[linux/amd64]", "list-platform-2.yaml": "[linux/amd64, linux/arm64]"} {
		body := fmt.Sprintf("helper:\n  version: %s\ngo: %s\ntargets:\n  - image: %s\n    name: musl\n    platforms: %s\n", helperVersion, b.goImage(), musl, plats)
		if err := os.WriteFile(filepath.Join(b.cfg.work, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	if b.cfg.selected("scale") {
		if err := b.prepareScale(ctx); err != nil {
			return err
		}
	}
	if b.cfg.selected("fleet") {
		if err := b.prepareFleet(ctx); err != nil {
			return err
		}
	}
	if err := b.writeFloor(); err != nil {
		return err
	}
	return b.writeDockerfiles()
}

// writeList writes a list of images building ecr-login.
func (b *bench) writeList(name string, images []string) error {
	return b.writeListOf(name, "helper:\n  version: "+helperVersion+"\n", images)
}

// threeHelpers is the helpers block of the helpers scenario: ecr-login
// and two more real helpers from the module proxy, all static.
const threeHelpers = "helpers:\n  ecr-login: {version: " + helperVersion + "}\n  gcr: {version: v2.2.1}\n  pass: {version: v0.9.13}\n"

// writeListOf writes a list of images building what helpers (a helper:
// or helpers: block) names.
func (b *bench) writeListOf(name, helpers string, images []string) error {
	var s strings.Builder
	fmt.Fprintf(&s, "%sgo: %s\ntargets:\n", helpers, b.goImage())
	for _, img := range images {
		fmt.Fprintf(&s, "  - image: %s\n", img)
	}
	return os.WriteFile(filepath.Join(b.cfg.work, name), []byte(s.String()), 0o644)
}

// repetition runs every scenario once, in a fixed order.
func (b *bench) repetition(ctx context.Context, rep int) error {
	if b.cfg.selected("floor") {
		floor, withDownload, err := b.floor(ctx)
		if err != nil {
			return err
		}
		b.record("the floor: go build, modules downloaded", 1, floor)
		b.record("the floor, download included", 1, withDownload)
	}
	if b.cfg.selected("cold") {
		for _, n := range b.cfg.sizes {
			d, err := b.coldBuild(ctx, fmt.Sprintf("list-%d.yaml", n))
			if err != nil {
				return err
			}
			b.record("cold", n, d)
		}
	}
	if b.cfg.selected("warm") {
		if _, err := b.llbgenBuild(ctx, "list-8.yaml"); err != nil { // built, if cold did not
			return err
		}
		d, err := b.llbgenBuild(ctx, "list-8.yaml")
		if err != nil {
			return err
		}
		b.record("warm", 8, d)
	}
	if b.cfg.selected("add") {
		if _, err := b.llbgenBuild(ctx, "list-8.yaml"); err != nil {
			return err
		}
		added, err := b.distinctImage(ctx, "musl", fmt.Sprintf("added-%d", rep), fmt.Sprint(time.Now().UnixNano()))
		if err != nil {
			return err
		}
		if err := b.writeList("list-add.yaml", append(append([]string(nil), b.images...), added)); err != nil {
			return err
		}
		d, err := b.llbgenBuild(ctx, "list-add.yaml")
		if err != nil {
			return err
		}
		b.record("add one", 9, d)
	}
	if b.cfg.selected("platforms") {
		for n := 1; n <= 2; n++ {
			d, err := b.coldBuild(ctx, fmt.Sprintf("list-platform-%d.yaml", n))
			if err != nil {
				return err
			}
			b.record("cold, one target, platforms", n, d)
		}
	}
	if b.cfg.selected("cache") {
		if err := b.remoteCache(ctx, rep); err != nil {
			return err
		}
	}
	if b.cfg.selected("helpers") {
		for _, c := range []struct {
			list string
			n    int
		}{{"list-8.yaml", 1}, {"list-8x3.yaml", 3}} {
			d, err := b.coldBuild(ctx, c.list)
			if err != nil {
				return err
			}
			b.record("cold N=8, helpers", c.n, d)
		}
	}
	if b.cfg.selected("scale") {
		if err := b.scale(ctx); err != nil {
			return err
		}
	}
	if b.cfg.selected("fleet") {
		if err := b.fleet(ctx); err != nil {
			return err
		}
	}
	if b.cfg.skipSlow {
		return nil
	}
	if b.cfg.selected("one") {
		if err := b.prune(ctx); err != nil {
			return err
		}
		d, err := b.onePerImage(ctx, b.images)
		if err != nil {
			return err
		}
		b.record("one build per image", 8, d)
	}
	if b.cfg.selected("bake") {
		if err := b.prune(ctx); err != nil {
			return err
		}
		d, err := b.bakeMatrix(ctx, b.images)
		if err != nil {
			return err
		}
		b.record("bake matrix", 8, d)
	}
	return nil
}

// prune empties the daemon's cache, cache mounts included: the next build
// starts cold (images are pulled again from the loopback registry).
func (b *bench) prune(ctx context.Context) error {
	_, err := sh(ctx, nil, "", "buildctl", "--addr", b.env.addr, "prune", "--all")
	return err
}

// coldBuild prunes the daemon, then times llbgen build of list.
func (b *bench) coldBuild(ctx context.Context, list string) (time.Duration, error) {
	if err := b.prune(ctx); err != nil {
		return 0, err
	}
	return b.llbgenBuild(ctx, list)
}

func (b *bench) llbgenBuild(ctx context.Context, list string) (time.Duration, error) {
	out := filepath.Join(b.cfg.work, "out-"+strings.TrimSuffix(list, ".yaml"))
	start := time.Now()
	_, err := sh(ctx, nil, "", b.cfg.llbgen, "build", "-f", filepath.Join(b.cfg.work, list), "--out", out,
		"--addr", b.env.addr, "--progress", "plain")
	return time.Since(start), err
}

// The original way: one docker build per image, each from nothing (no
// cache, no cache mounts), one after another.
const onePerImageDockerfile = `ARG GO_IMAGE
ARG IMAGE
FROM ${GO_IMAGE} AS go
FROM ${IMAGE} AS build
COPY --from=go /usr/local/go /usr/local/go
COPY --from=go /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PATH=/usr/local/go/bin:$PATH GOPATH=/tmp/gopath GOCACHE=/tmp/gocache CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN=/out
RUN go install -trimpath -ldflags "-s -buildid= -X github.com/awslabs/amazon-ecr-credential-helper/ecr-login/version.Version=0.12.0" ` + helperPkg + `@` + helperVersion + `
FROM scratch
COPY --from=build /out/ /
`

// The best a careful Dockerfile user would write for bake: the same, with
// cache mounts for modules and for the build cache (locked, as llbgen's).
const bakeDockerfile = `ARG GO_IMAGE
ARG IMAGE
FROM ${GO_IMAGE} AS go
FROM ${IMAGE} AS build
COPY --from=go /usr/local/go /usr/local/go
COPY --from=go /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PATH=/usr/local/go/bin:$PATH GOPATH=/tmp/gopath CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN=/out GOMODCACHE=/gomod GOCACHE=/gocache
RUN --mount=type=cache,id=bench-gomod,target=/gomod \
    --mount=type=cache,id=bench-gocache,target=/gocache,sharing=locked \
    go install -trimpath -ldflags "-s -buildid= -X github.com/awslabs/amazon-ecr-credential-helper/ecr-login/version.Version=0.12.0" ` + helperPkg + `@` + helperVersion + `
FROM scratch
COPY --from=build /out/ /
`

func (b *bench) writeDockerfiles() error {
	for dir, body := range map[string]string{"one": onePerImageDockerfile, "bake": bakeDockerfile} {
		p := filepath.Join(b.cfg.work, dir)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(p, "Dockerfile"), []byte(body), 0o644); err != nil {
			return err
		}
	}
	var hcl strings.Builder
	fmt.Fprintf(&hcl, "group \"default\" {\n  targets = [\"bin\"]\n}\n\ntarget \"bin\" {\n  name = \"bin-${item.name}\"\n  matrix = {\n    item = [\n")
	for i, img := range b.images {
		fmt.Fprintf(&hcl, "      { name = \"img%d\", image = %q },\n", i+1, img)
	}
	fmt.Fprintf(&hcl, "    ]\n  }\n  context = \".\"\n  args = {\n    IMAGE = item.image\n    GO_IMAGE = %q\n  }\n  output = [\"type=local,dest=out/${item.name}\"]\n}\n", b.goImage())
	return os.WriteFile(filepath.Join(b.cfg.work, "bake", "docker-bake.hcl"), []byte(hcl.String()), 0o644)
}

func (b *bench) onePerImage(ctx context.Context, images []string) (time.Duration, error) {
	dir := filepath.Join(b.cfg.work, "one")
	start := time.Now()
	for i, img := range images {
		_, err := sh(ctx, nil, dir, "buildctl", "--addr", b.env.addr, "build", "--no-cache",
			"--frontend", "dockerfile.v0", "--local", "context=.", "--local", "dockerfile=.",
			"--opt", "build-arg:IMAGE="+img, "--opt", "build-arg:GO_IMAGE="+b.goImage(),
			"--output", fmt.Sprintf("type=local,dest=out/%d", i))
		if err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func (b *bench) bakeMatrix(ctx context.Context, images []string) (time.Duration, error) {
	dir := filepath.Join(b.cfg.work, "bake")
	start := time.Now()
	_, err := sh(ctx, []string{"DOCKER_CONFIG=" + b.env.buildxConfig}, dir, "buildx", "--builder", b.env.buildxBuilder, "bake", "--progress", "plain")
	return time.Since(start), err
}

// remoteCache is a fleet's second machine: the N=8 list built on the
// test bed's second daemon, emptied, cold; then emptied again and built
// importing the registry cache the first daemon exported (mode=max), as
// every runner after the first would.
func (b *bench) remoteCache(ctx context.Context, rep int) error {
	if b.env.addr2 == "" {
		return fmt.Errorf("the cache scenario needs the test bed's second buildkitd (LLBGEN_BUILDKIT_HOST2): run hack/testbed.sh up")
	}
	ref := fmt.Sprintf("%s/bench/llbgen-cache:%d-%d", b.env.registry, b.started.Unix(), rep)
	list := filepath.Join(b.cfg.work, "list-8.yaml")
	if _, err := sh(ctx, nil, "", b.cfg.llbgen, "build", "-f", list, "--out", filepath.Join(b.cfg.work, "out-cache-1"),
		"--addr", b.env.addr, "--cache-to", "type=registry,ref="+ref+",mode=max", "--progress", "plain"); err != nil {
		return err
	}
	second := func(args ...string) (time.Duration, error) {
		if _, err := sh(ctx, nil, "", "buildctl", "--addr", b.env.addr2, "prune", "--all"); err != nil {
			return 0, err
		}
		start := time.Now()
		_, err := sh(ctx, nil, "", b.cfg.llbgen, append([]string{"build", "-f", list, "--out", filepath.Join(b.cfg.work, "out-cache-2"),
			"--addr", b.env.addr2, "--progress", "plain"}, args...)...)
		return time.Since(start), err
	}
	cold, err := second()
	if err != nil {
		return err
	}
	b.record("second daemon, cold", 8, cold)
	cached, err := second("--cache-from", "type=registry,ref="+ref)
	if err != nil {
		return err
	}
	b.record("second daemon, registry cache", 8, cached)
	return nil
}
