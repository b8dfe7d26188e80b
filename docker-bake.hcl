# docker buildx bake: builds the target list into out/ with llbgen running as
# a BuildKit frontend. The frontend image is built by the `frontend` target
# and handed over as a named context: nothing is pushed anywhere. The same
# works on Docker's default builder (the `docker` driver) and on buildkitd
# (`remote`, `docker-container`).
#
#   docker buildx bake                                  # targets.yaml -> out/
#   TARGETS_FILE=ci/targets.yaml OUT=dist docker buildx bake
#   TARGETS=docker_19.03.12 docker buildx bake          # a subset, by name
#   HELPER_VERSION=v0.11.0 docker buildx bake           # another helper version
#   GOPROXY=https://user:token@goproxy.corp docker buildx bake   # a private proxy, as a secret
#   CACHE_FROM=type=registry,ref=reg/ci/llbgen-cache CACHE_TO=type=registry,ref=reg/ci/llbgen-cache,mode=max docker buildx bake
#
# The frontend as an image of its own, for `# syntax=` lines (make frontend-image):
#   REGISTRY=registry.example.com/ci FRONTEND_TAG=v1 docker buildx bake frontend-image

variable "TARGETS_FILE" {
  default = "targets.yaml"
}

variable "OUT" {
  default = "out"
}

# Comma-separated target names; empty builds the whole list.
variable "TARGETS" {
  default = ""
}

# Overrides helper.version of the list when set.
variable "HELPER_VERSION" {
  default = ""
}

# Module settings for the download stage, as llbgen takes them from its
# environment. GOPROXY is not among them: it goes as the secret GOPROXY below,
# so that credentials in it (https://user:token@host/) are kept out of the
# build's history and provenance. A GONOSUMDB or GOPRIVATE pattern that covers
# the helper module fails the build unless targets.yaml.lock pins its hash.
variable "GONOSUMDB" {
  default = ""
}

variable "GOPRIVATE" {
  default = ""
}

variable "GOINSECURE" {
  default = ""
}

# A remote build cache, in buildx's --cache-to/--cache-from forms (as
# llbgen build's --cache-to/--cache-from and LLBGEN_CACHE_TO/FROM), e.g.
#   CACHE_TO=type=registry,ref=registry.example.com/ci/llbgen-cache,mode=max
#   CACHE_FROM=type=registry,ref=registry.example.com/ci/llbgen-cache
# Empty: none.
variable "CACHE_TO" {
  default = ""
}

variable "CACHE_FROM" {
  default = ""
}

# An SBOM of the output, by BuildKit's SBOM generator: "true" for its
# default generator, or a generator image; empty or "false": none.
variable "SBOM" {
  default = ""
}

# Image whose Go toolchain builds the frontend itself.
variable "GO_IMAGE" {
  default = "golang:1.26"
}

# A published frontend image (make frontend-image) to build with instead of
# the `frontend` target: a builder of several nodes needs one, as buildx
# hands a target's result to another only on one node, e.g.
#   FRONTEND=registry.example.com/ci/llbgen/frontend:v1 docker buildx bake --builder fleet \
#     --set binaries.platform=linux/amd64,linux/arm64
variable "FRONTEND" {
  default = ""
}

# Where frontend-image pushes: REGISTRY/llbgen/frontend:FRONTEND_TAG.
variable "REGISTRY" {
  default = ""
}

variable "FRONTEND_TAG" {
  default = "latest"
}

group "default" {
  targets = ["binaries"]
}

target "frontend" {
  context    = "."
  dockerfile = "hack/dockerfiles/frontend.Dockerfile"
  args = {
    GO_IMAGE = GO_IMAGE
  }
  output = ["type=cacheonly"]
}

target "binaries" {
  context    = "."
  dockerfile = TARGETS_FILE
  contexts = FRONTEND == "" ? { llbgen-frontend = "target:frontend" } : {}
  args = {
    BUILDKIT_SYNTAX = FRONTEND == "" ? "llbgen-frontend" : FRONTEND
    TARGETS         = TARGETS
    HELPER_VERSION  = HELPER_VERSION
    GONOSUMDB       = GONOSUMDB
    GOPRIVATE       = GOPRIVATE
    GOINSECURE      = GOINSECURE
  }
  # Read from bake's environment; empty when GOPROXY is unset (Go's default).
  secret     = ["id=GOPROXY,env=GOPROXY"]
  cache-to   = CACHE_TO == "" ? [] : [CACHE_TO]
  cache-from = CACHE_FROM == "" ? [] : [CACHE_FROM]
  attest     = SBOM == "" || SBOM == "false" ? [] : [SBOM == "true" ? "type=sbom" : "type=sbom,generator=${SBOM}"]
  output     = ["type=local,dest=${OUT}"]
}

# The frontend for linux/amd64 and linux/arm64, pushed to REGISTRY; a list
# whose first line is `# syntax=REGISTRY/llbgen/frontend:FRONTEND_TAG` then
# builds with `docker buildx build -f targets.yaml --output type=local,dest=out .`
# or `buildctl build --frontend dockerfile.v0 ...`.
target "frontend-image" {
  inherits  = ["frontend"]
  platforms = ["linux/amd64", "linux/arm64"]
  tags      = ["${REGISTRY}/llbgen/frontend:${FRONTEND_TAG}"]
  output    = ["type=registry"]
}

# Images out: the images the list's publish: block names, made by the
# frontend (build argument PUBLISH) and pushed under the names the list
# gives them (name=*: the image exporter takes the frontend's):
#
#   IMAGES=helpers docker buildx bake images                  # the helpers image
#   IMAGES=helpers,docker_19.03.12 docker buildx bake images  # and a target's job image
#
# BuildKit v0.34 names an attestation's subject before it takes the name
# from the result, so name=* fails with provenance on: it is off here.
# Docker Engine's own exporter (the default builder, docker driver) takes
# no name=*: there, build one image at a time and name it, e.g.
#
#   IMAGES=docker_19.03.12 IMAGE_NAME=registry.example.com/ci/docker:19.03.12-ecr-login PUSH=false docker buildx bake images
#
# (PUSH=false: into the engine only), or use `llbgen build --addr docker://
# --push --load`, which names each image itself.
variable "IMAGES" {
  default = "helpers"
}

variable "PUSH" {
  default = "true"
}

# "*": the name the list gives each image.
variable "IMAGE_NAME" {
  default = "*"
}

target "images" {
  name     = "image-${replace(img, ".", "_")}"
  matrix   = { img = [for s in split(",", IMAGES) : trimspace(s) if trimspace(s) != ""] }
  inherits = ["binaries"]
  args = {
    PUBLISH = img
  }
  attest = ["type=provenance,disabled=true"]
  output = ["type=image,name=${IMAGE_NAME},push=${PUSH},oci-mediatypes=true"]
}
