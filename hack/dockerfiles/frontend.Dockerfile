# The llbgen frontend image. docker-bake.hcl builds it for the builder's
# platform and hands it to the `binaries` target as a named context (no
# registry, no push); `make frontend-image` builds it for linux/amd64 and
# linux/arm64 and pushes it, for lists that start with
# `# syntax=REGISTRY/llbgen/frontend:TAG`.
# No `# syntax=` line on purpose: the daemon's built-in Dockerfile frontend
# builds this, so nothing is pulled from Docker Hub.
ARG GO_IMAGE=golang:1.26

# Go cross-compiles: the toolchain runs on the build platform whatever the
# target, and the go image needs no variant for it.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
RUN --mount=type=bind,source=go.mod,target=go.mod \
    --mount=type=bind,source=go.sum,target=go.sum \
    --mount=type=cache,id=llbgen-frontend-gomod,target=/go/pkg/mod \
    go mod download
# Declared after the download, which every platform shares.
ARG TARGETOS TARGETARCH
RUN --mount=type=bind,target=. \
    --mount=type=cache,id=llbgen-frontend-gomod,target=/go/pkg/mod \
    --mount=type=cache,id=llbgen-frontend-gocache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -buildid=" -o /out/llbgen ./cmd/llbgen

FROM scratch
# The labels BuildKit's own Dockerfile frontend image carries.
LABEL moby.buildkit.frontend.network.none="true"
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
COPY --from=build /out/llbgen /bin/llbgen
ENTRYPOINT ["/bin/llbgen", "frontend"]
