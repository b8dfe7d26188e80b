#!/usr/bin/env bash
# Builds the STAND-IN base images and pushes them to the test-bed registry.
#
# These are NOT the real docker:19.03.12, gitlab/gitlab-runner or golang
# images: no public registry is reachable on the machines this project is
# tested on. They are made from Debian packages to have the property that
# matters to llbgen, the C library each real image carries:
#
#   musl   busybox-static + Debian's musl at /lib/ld-musl-x86_64.so.1 (Alpine's
#          layout); stands in for docker:19.03.12 and
#          gitlab/gitlab-runner:alpine-v13.2.1 (both Alpine 3.12 based).
#   glibc  debootstrap --variant=minbase bookworm; stands in for
#          gitlab/gitlab-runner:v13.2.1 (Ubuntu 18.04 based). Its config sets
#          USER nobody and a WORKDIR that does not exist, so tests prove that
#          llbgen runs as root whatever the image says.
#   golang the glibc root plus this machine's Go tree at /usr/local/go and its
#          CA bundle; stands in for golang:1.26.
#
# Root file systems are cached as tarballs under LLBGEN_CACHE/standins; a
# second run only pushes what the registry lacks.
#
# Usage: hack/standins.sh REGISTRY   (e.g. 127.0.0.1:5000)
source "$(dirname "$0")/lib.sh"

registry=${1:?usage: hack/standins.sh REGISTRY}
STANDINS=$LLBGEN_CACHE/standins-v2
PUSHED=$LLBGEN_STATE/pushed
mkdir -p "$STANDINS"
arch=amd64

build_musl() {
	local out=$STANDINS/musl-$arch.tar
	[[ -s $out ]] && return
	log "building musl stand-in root file system"
	local work
	work=$(mktemp -d)
	(cd "$work" && { apt-get download -qq -o APT::Sandbox::User=root "busybox-static:$arch" "musl:$arch" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get download -qq -o APT::Sandbox::User=root "busybox-static:$arch" "musl:$arch" >/dev/null; }; })
	mkdir -p "$work/deb" "$work/root"/{bin,sbin,lib,etc,tmp,root,usr/bin,usr/sbin}
	for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/deb"; done
	local busybox libc
	busybox=$(find "$work/deb" -path '*bin/busybox' -type f -perm -u+x | head -1)
	libc=$(find "$work/deb" -path '*x86_64-linux-musl/libc.so' -type f | head -1)
	[[ -n $busybox && -n $libc ]] || die "busybox or musl libc.so not found in the Debian packages"
	cp "$busybox" "$work/root/bin/busybox"
	# Alpine's layout: the dynamic loader is libc itself.
	cp "$libc" "$work/root/lib/ld-musl-x86_64.so.1"
	ln -s ld-musl-x86_64.so.1 "$work/root/lib/libc.musl-x86_64.so.1"
	for applet in sh ls cat echo env sed grep; do ln -s busybox "$work/root/bin/$applet"; done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' >"$work/root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/root/etc/group"
	printf 'NAME="llbgen musl stand-in (NOT Alpine)"\nID=llbgen-standin-musl\n' >"$work/root/etc/os-release"
	chmod 1777 "$work/root/tmp"
	tar --numeric-owner -C "$work/root" -cf "$out.tmp" .
	mv "$out.tmp" "$out"
	rm -rf "$work"
}

build_glibc() {
	local out=$STANDINS/glibc-$arch.tar
	[[ -s $out ]] && return
	log "building glibc stand-in root file system (debootstrap, about a minute)"
	local work
	work=$(mktemp -d)
	debootstrap --variant=minbase --arch="$arch" bookworm "$work/root" http://deb.debian.org/debian >"$work/log" 2>&1 ||
		{ tail -20 "$work/log" >&2; die "debootstrap failed"; }
	rm -rf "$work/root"/var/cache/apt/archives/*.deb "$work/root"/var/lib/apt/lists/*
	printf 'NAME="llbgen glibc stand-in (NOT Ubuntu)"\nID=llbgen-standin-glibc\n' >"$work/root/etc/os-release.llbgen"
	tar --numeric-owner -C "$work/root" -cf "$out.tmp" .
	mv "$out.tmp" "$out"
	rm -rf "$work"
}

build_gotree() {
	local out=$STANDINS/go-$(go env GOVERSION)-$arch.tar
	[[ -s $out ]] && { echo "$out"; return; }
	log "packing this machine's Go tree ($(go env GOVERSION)) for the golang stand-in"
	local goroot work
	goroot=$(go env GOROOT)
	work=$(mktemp -d)
	mkdir -p "$work/usr/local/go" "$work/etc/ssl/certs"
	cp -a "$goroot"/{bin,pkg,src,lib,VERSION,go.env} "$work/usr/local/go/"
	rm -rf "$work/usr/local/go/pkg/obj"
	# Debian's minbase has no CA bundle; the real golang image has one.
	cp /etc/ssl/certs/ca-certificates.crt "$work/etc/ssl/certs/ca-certificates.crt"
	tar --numeric-owner -C "$work" -cf "$out.tmp" .
	mv "$out.tmp" "$out"
	rm -rf "$work"
	echo "$out"
}

# push REF TAR [BASE] [crane mutate flags...]: one image from a rootfs layer.
# A stamp records what was pushed, so a second run pushes only what changed.
push() {
	local ref=$1 tar=$2 base=$3
	shift 3
	local stamp key
	stamp=$PUSHED/$(printf '%s' "$ref" | tr '/:' '__')
	key="$tar $(stat -c %Y.%s "$tar") $base $*"
	if [[ -f $stamp && "$(cat "$stamp")" == "$key" ]] && "$CRANE" digest --insecure "$ref" >/dev/null 2>&1; then
		return
	fi
	log "pushing stand-in $ref"
	local out
	mkdir -p "$PUSHED"
	if [[ -n $base ]]; then
		out=$("$CRANE" append --insecure -b "$base" -f "$tar" -t "$ref.tmp" 2>&1) || die "crane append: $out"
	else
		out=$("$CRANE" append --insecure --oci-empty-base -f "$tar" -t "$ref.tmp" 2>&1) || die "crane append: $out"
	fi
	out=$("$CRANE" mutate --insecure --set-platform "linux/$arch" \
		-l org.opencontainers.image.description="llbgen test stand-in, not the real image" \
		"$@" -t "$ref" "$ref.tmp" 2>&1) || die "crane mutate: $out"
	printf '%s' "$key" >"$stamp"
}

build_musl
build_glibc
gotree=$(build_gotree)

std_path=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
r=$registry
push "$r/standin/musl:latest" "$STANDINS/musl-$arch.tar" "" -e "$std_path"
push "$r/standin/glibc:latest" "$STANDINS/glibc-$arch.tar" "" -e "$std_path"
push "$r/library/docker:19.03.12" "$STANDINS/musl-$arch.tar" "" -e "$std_path" -e DOCKER_VERSION=19.03.12
push "$r/gitlab/gitlab-runner:alpine-v13.2.1" "$STANDINS/musl-$arch.tar" "" -e "$std_path"
push "$r/gitlab/gitlab-runner:v13.2.1" "$STANDINS/glibc-$arch.tar" "" -e "$std_path" \
	-u nobody -w /no/such/workdir
push "$r/library/golang:1.26" "$gotree" "$r/standin/glibc:latest" \
	-e "PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" -e GOLANG_VERSION=1.26 -e GOPATH=/go
log "stand-in images are in $registry"
