#!/usr/bin/env bash
# Installs what the test bed needs, once: Debian's runc and debootstrap, and
# buildkitd/buildctl, crane and buildx built from their Go modules into
# LLBGEN_CACHE.
# Safe to run again: every step checks whether its result is already there.
source "$(dirname "$0")/lib.sh"

need_apt=()
command -v runc >/dev/null || need_apt+=(runc)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v python3 >/dev/null || need_apt+=(python3)
command -v curl >/dev/null || need_apt+=(curl)
command -v flock >/dev/null || need_apt+=(util-linux)
if ((${#need_apt[@]})); then
	[[ $(id -u) == 0 ]] || die "need root to apt-get install ${need_apt[*]}"
	log "apt-get install ${need_apt[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# go_module_build MODULE VERSION OUTDIR PKG...: builds PKGs of MODULE@VERSION.
# `go install mod@v` refuses modules whose go.mod has exclude directives
# (buildkit's does), so build inside a writable copy of the module instead.
go_module_build() {
	local module=$1 version=$2 out=$3
	shift 3
	local dir src
	dir=$(GOFLAGS=-mod=mod go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
	src=$(mktemp -d "$LLBGEN_CACHE/src.XXXXXX")
	# shellcheck disable=SC2064 # expand now: the trap outlives the local
	trap "rm -rf '$src' '$out.tmp'" RETURN
	cp -a "$dir/." "$src/"
	chmod -R u+w "$src"
	rm -rf "$out.tmp"
	mkdir -p "$out.tmp"
	(cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$out.tmp/" "$@")
	rm -rf "$out"
	mv "$out.tmp" "$out"
}

mkdir -p "$TOOLS_BIN"
if [[ ! -x $BUILDKIT_BIN/buildkitd || ! -x $BUILDKIT_BIN/buildctl ]]; then
	log "building buildkitd and buildctl $BUILDKIT_VERSION (a few minutes, once)"
	go_module_build github.com/moby/buildkit "$BUILDKIT_VERSION" "$BUILDKIT_BIN" ./cmd/buildkitd ./cmd/buildctl
fi
if [[ ! -x $CRANE ]]; then
	log "building crane $CRANE_VERSION"
	go_module_build github.com/google/go-containerregistry "$CRANE_VERSION" "$(dirname "$CRANE")" ./cmd/crane
fi
if [[ ! -x $BUILDX ]]; then
	log "building buildx $BUILDX_VERSION (a couple of minutes, once)"
	go_module_build github.com/docker/buildx "$BUILDX_VERSION" "$(dirname "$BUILDX")" ./cmd/buildx
fi
log "tools ready in $TOOLS_BIN"
