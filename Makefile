# The README's commands. `make test` brings the test bed up by itself.
SHELL := bash
GO ?= go
OUT ?= out
FILE ?= targets.yaml
TESTBED_ENV = $$(hack/testbed.sh env)

BUILDX ?= docker buildx

.PHONY: all llbgen build demo pipe bake demo-bake matrix demo-matrix bench buildkitd test unit testbed testbed-down vet fuzz clean

all: llbgen

# The tool itself, into bin/.
llbgen:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=auto -o bin/llbgen ./cmd/llbgen

# The main job: build $(FILE) into $(OUT)/ with `llbgen build`, on
# BUILDKIT_HOST, else a BuildKit daemon at its default address, else Docker
# Engine's own BuildKit (as the docker CLI finds the engine). With none of
# them, as root, it starts a BuildKit daemon at the default address first.
build: llbgen
	@[[ -n "$${BUILDKIT_HOST:-}" ]] || hack/buildkitd.sh need
	bin/llbgen build -f $(FILE) --out $(OUT)

# The same job through the LLB pipe: llbgen | buildctl build. buildctl needs
# a BuildKit daemon (it cannot use Docker Engine's own): BUILDKIT_HOST, else
# the default address, where it starts one (root).
pipe: llbgen
	@[[ -n "$${BUILDKIT_HOST:-}" ]] || hack/buildkitd.sh
	bin/llbgen -f $(FILE) | buildctl build --output type=local,dest=$(OUT)
	cd $(OUT) && sha256sum -c SHA256SUMS

# The same job with docker buildx bake (docker-bake.hcl): llbgen runs as a
# BuildKit frontend built by bake itself; nothing is pushed.
bake:
	$(BUILDX) bake

# bake on the test bed, with its standalone buildx and remote builder.
demo-bake: testbed
	source $(TESTBED_ENV) && DOCKER_CONFIG=$$LLBGEN_BUILDX_CONFIG buildx --builder $$LLBGEN_BUILDX_BUILDER bake

# bake on the test bed's Docker Engine: its default builder, the docker driver.
.PHONY: demo-bake-docker
demo-bake-docker: testbed
	source $(TESTBED_ENV) && DOCKER_HOST=$$LLBGEN_DOCKER_HOST DOCKER_CONFIG=$$LLBGEN_DOCKER_CONFIG $$LLBGEN_DOCKER buildx bake

# The frontend image for lists that start with
# `# syntax=$(REGISTRY)/llbgen/frontend:$(FRONTEND_TAG)`: built for linux/amd64
# and linux/arm64 on $(BUILDX)'s builder and pushed there.
REGISTRY ?=
FRONTEND_TAG ?= latest
.PHONY: frontend-image
frontend-image:
	@[[ -n "$(REGISTRY)" ]] || { echo 'usage: make frontend-image REGISTRY=registry.example.com/ci [FRONTEND_TAG=latest]' >&2; exit 2; }
	REGISTRY=$(REGISTRY) FRONTEND_TAG=$(FRONTEND_TAG) $(BUILDX) bake frontend-image

# Which binary of $(FILE) runs in which of its images, and why not; on the
# daemon `make build` uses.
matrix: llbgen
	@[[ -n "$${BUILDKIT_HOST:-}" ]] || hack/buildkitd.sh need
	bin/llbgen matrix -f $(FILE)

# The matrix on the test bed, for a list that shows the original bug: a cgo
# binary linked in the glibc stand-in, run in the musl one, and arm64.
demo-matrix: llbgen testbed
	source $(TESTBED_ENV) && bin/llbgen matrix -f hack/demo/compat.yaml

# A BuildKit daemon at the default address (root, Linux).
buildkitd:
	hack/buildkitd.sh

# The main job on the test bed: its daemon resolves docker.io from the loopback
# registry, which holds STAND-IN images (see hack/standins.sh), not the real ones.
demo: llbgen testbed
	source $(TESTBED_ENV) && bin/llbgen build -f $(FILE) --out $(OUT)

# Unit and integration tests, against the test bed's real buildkitd and registry.
test: testbed vet
	source $(TESTBED_ENV) && CGO_ENABLED=0 $(GO) test -count=1 -timeout 70m ./...

# Unit tests only: integration tests skip (one line each) with no daemon.
# pkg/daemon solves binaries from many goroutines over shared llb states,
# so its tests run under the race detector too (a few seconds).
unit: vet
	env -u BUILDKIT_HOST -u CI $(GO) test ./...
	env -u BUILDKIT_HOST -u CI $(GO) test -race ./pkg/daemon/

vet:
	@out=$$(gofmt -l cmd pkg internal); [[ -z "$$out" ]] || { echo "gofmt needed: $$out" >&2; exit 1; }
	$(GO) vet ./...

# Benchmarks against the test bed's daemon (it prunes that daemon's cache);
# rewrites docs/BENCHMARKS.md. About 30 minutes on 2 cores.
bench: llbgen testbed
	source $(TESTBED_ENV) && $(GO) run ./hack/bench $(BENCHFLAGS)

testbed:
	hack/testbed.sh up

testbed-down:
	hack/testbed.sh down

fuzz:
	$(GO) test ./pkg/targets -run '^$$' -fuzz FuzzParse -fuzztime 60s

clean:
	rm -rf bin $(OUT)
