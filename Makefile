# The README's commands. `make test` brings the test bed up by itself.
SHELL := bash
GO ?= go
OUT ?= out
FILE ?= targets.yaml
TESTBED_ENV = $$(hack/testbed.sh env)

.PHONY: all llbgen build demo test unit testbed testbed-down vet fuzz clean

all: llbgen

# The tool itself, into bin/.
llbgen:
	$(GO) build -trimpath -o bin/llbgen ./cmd/llbgen

# The main job: build $(FILE) on the daemon at BUILDKIT_HOST into $(OUT)/.
build: llbgen
	@[[ -n "$${BUILDKIT_HOST:-}" ]] || { echo "BUILDKIT_HOST is not set: point it at a BuildKit daemon, or run 'make demo' to use the test bed" >&2; exit 2; }
	bin/llbgen -f $(FILE) | buildctl build --output type=local,dest=$(OUT)
	cd $(OUT) && sha256sum -c SHA256SUMS

# The same job on the test bed: its daemon resolves docker.io from the loopback
# registry, which holds STAND-IN images (see hack/standins.sh), not the real ones.
demo: llbgen testbed
	source $(TESTBED_ENV) && bin/llbgen -f $(FILE) | buildctl build --output type=local,dest=$(OUT)
	cd $(OUT) && sha256sum -c SHA256SUMS

# Unit and integration tests, against the test bed's real buildkitd and registry.
test: testbed vet
	source $(TESTBED_ENV) && $(GO) test -count=1 -timeout 40m ./...

unit: vet
	$(GO) test -short ./...

vet:
	@out=$$(gofmt -l cmd pkg internal); [[ -z "$$out" ]] || { echo "gofmt needed: $$out" >&2; exit 1; }
	$(GO) vet ./...

testbed:
	hack/testbed.sh up

testbed-down:
	hack/testbed.sh down

fuzz:
	$(GO) test ./pkg/targets -run '^$$' -fuzz FuzzParse -fuzztime 60s

clean:
	rm -rf bin $(OUT)
