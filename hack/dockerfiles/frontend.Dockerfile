# The llbgen frontend image, used by docker-bake.hcl through a named context
# (no registry, no push). No `# syntax=` line on purpose: the daemon's
# built-in Dockerfile frontend builds this, so nothing is pulled from Docker Hub.
ARG GO_IMAGE=golang:1.26

FROM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
RUN --mount=type=bind,source=go.mod,target=go.mod \
    --mount=type=bind,source=go.sum,target=go.sum \
    --mount=type=cache,id=llbgen-frontend-gomod,target=/go/pkg/mod \
    go mod download
RUN --mount=type=bind,target=. \
    --mount=type=cache,id=llbgen-frontend-gomod,target=/go/pkg/mod \
    --mount=type=cache,id=llbgen-frontend-gocache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -buildid=" -o /out/llbgen ./cmd/llbgen

FROM scratch
# The labels BuildKit's own Dockerfile frontend image carries.
LABEL moby.buildkit.frontend.network.none="true"
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
COPY --from=build /out/llbgen /bin/llbgen
ENTRYPOINT ["/bin/llbgen", "frontend"]
