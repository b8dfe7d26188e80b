#!/usr/bin/env bash
# Builds the STAND-IN base images and pushes them to the test-bed registry.
#
# These are NOT the real docker:19.03.12, gitlab/gitlab-runner or golang
# images: no public registry is reachable on the machines this project is
# tested on. They are made from Debian packages to have the property that
# matters to llbgen, the C library each real image carries:
#
#   musl   busybox-static + Debian's musl as Alpine lays it out: libc at
#          /lib/ld-musl-<arch>.so.1, /lib/libc.musl-<arch>.so.1 a symlink to
#          it. Built for linux/amd64 (x86_64) and linux/arm64 (aarch64, from
#          Debian's arm64 packages) and pushed as multi-platform image indexes
#          (both platforms) as standin/musl:latest, library/docker:19.03.12 and
#          gitlab/gitlab-runner:alpine-v13.2.1, standing in for the real two
#          (both Alpine 3.12 based, both multi-platform). The per-platform
#          images are also tagged <tag>-amd64 and <tag>-arm64.
#   glibc  debootstrap --variant=minbase bookworm; linux/amd64 only. Stands in
#          for gitlab/gitlab-runner:v13.2.1 (Ubuntu 18.04 based). Its config
#          sets USER nobody and a WORKDIR that does not exist, so tests prove
#          that llbgen runs as root whatever the image says.
#   golang the glibc root plus this machine's Go tree at /usr/local/go and its
#          CA bundle; linux/amd64 only. Stands in for golang:1.26.
#
# And two HOSTILE stand-ins, for tests that prove one image's code cannot
# reach another target's binary (cmd/llbgen/hostile_test.go). Each is the
# glibc stand-in plus one small layer made from hack/hostile/; never use
# them for anything else:
#
#   standin/hostile-cc       /usr/local/bin/gcc and cc are a script
#          (hack/hostile/cc.sh) that drops a canary into every writable mount,
#          overwrites the Go build cache's outputs with same-size garbage, and
#          fails: what a cgo compile in it runs. So are /usr/local/bin/git, hg,
#          svn, bzr and fossil, and /.git and /llbgen/.git are directories:
#          what a go build rooted in it runs with VCS stamping on, cgo or not.
#          /go.work and /llbgen/go.work name / as a workspace module: what a
#          go build there reads unless GOWORK=off.
#   standin/hostile-preload  /etc/ld.so.preload names a library built here
#          from hack/hostile/preload.c (raw system calls, no libc) whose
#          constructor, in the helper or where /llbgen/out exists, writes a
#          garbage docker-credential-ecr-login-victim (and .buildinfo) there
#          and into every writable mount, and truncates the other files in
#          /llbgen/out to garbage: what verifying a cgo binary in it runs.
#
# And an SBOM generator for BuildKit (llbgen build --sbom; the test bed cannot
# pull docker/buildkit-syft-scanner):
#
#   standin/syft-scanner  the musl stand-in (amd64) plus syft, built from its
#          Go module (install-tools.sh), and hack/sbom/scan.sh, which speaks
#          BuildKit's scanner protocol around it, as its entrypoint.
#
# And four BROKEN-TOOLCHAIN stand-ins, for tests of what llbgen says when
# the list's go: image cannot build (cmd/llbgen/toolchain_test.go). All are
# linux/amd64 with the golang stand-in's environment:
#
#   standin/go-broken     the golang stand-in plus one layer: its
#          /usr/local/go/src/net/http/server.go with a line appended that does
#          not compile (`func standin {`), so compiling the helper (which
#          imports net/http) fails with `server.go:LINE:14: syntax error:
#          unexpected {, expected (`. llbgen's stage tool does not import
#          net/http, so it still compiles there.
#   standin/go-none       the glibc stand-in alone: a Go image with no
#          /usr/local/go at all.
#   standin/go-file       the glibc stand-in plus one layer: /usr/local/go is
#          a regular file, so BuildKit's stat of /usr/local/go/bin/go fails
#          inside the image's path ("not a directory"), not as "no such file".
#   standin/go-wrongarch  the golang stand-in plus one layer: its
#          /usr/local/go/bin/go is the arm64 musl stand-in's busybox, an
#          aarch64 ELF in an image whose config says linux/amd64: a toolchain
#          of the wrong platform.
#
# Running the arm64 stand-ins needs QEMU user emulation (install-tools.sh
# registers it) and a buildkitd started after that (testbed.sh sees to it).
#
# Root file systems are cached as tarballs under LLBGEN_CACHE/standins-v3; a
# stamp per reference under LLBGEN_STATE/pushed records what was pushed and its
# digest, so a second run pushes only what changed or what the registry lost.
#
# Usage: hack/standins.sh REGISTRY   (e.g. 127.0.0.1:5000)
source "$(dirname "$0")/lib.sh"

registry=${1:?usage: hack/standins.sh REGISTRY}
STANDINS=$LLBGEN_CACHE/standins-v3
PUSHED=$LLBGEN_STATE/pushed
mkdir -p "$STANDINS"
arch=amd64 # the glibc and golang stand-ins' only platform

# musl_triple ARCH: the architecture in musl's file names for Debian's ARCH.
musl_triple() {
	case $1 in
	amd64) echo x86_64 ;;
	arm64) echo aarch64 ;;
	*) die "no musl stand-in for $1" ;;
	esac
}

# apt_download DIR PKG...: downloads Debian packages into DIR, updating the
# package lists once when they lack them (a foreign architecture just added).
apt_download() {
	local dir=$1
	shift
	(cd "$dir" && { apt-get download -qq -o APT::Sandbox::User=root "$@" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get download -qq -o APT::Sandbox::User=root "$@" >/dev/null; }; })
}

# build_musl ARCH: the musl stand-in's root file system for Debian's ARCH.
build_musl() {
	local a=$1 triple
	triple=$(musl_triple "$a")
	local out=$STANDINS/musl-$a.tar
	[[ -s $out ]] && return
	log "building musl stand-in root file system ($a)"
	if [[ $a != "$(dpkg --print-architecture)" ]] && ! dpkg --print-foreign-architectures | grep -x "$a" >/dev/null; then
		log "dpkg --add-architecture $a (to download its busybox-static and musl)"
		dpkg --add-architecture "$a"
		apt-get update -qq
	fi
	local work
	work=$(mktemp -d)
	apt_download "$work" "busybox-static:$a" "musl:$a"
	mkdir -p "$work/deb" "$work/root"/{bin,sbin,lib,etc,tmp,root,usr/bin,usr/sbin}
	for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/deb"; done
	local busybox libc
	busybox=$(find "$work/deb" -path '*bin/busybox' -type f -perm -u+x | head -1)
	libc=$(find "$work/deb" -path "*$triple-linux-musl/libc.so" -type f | head -1)
	[[ -n $busybox && -n $libc ]] || die "busybox or musl libc.so not found in the Debian $a packages"
	cp "$busybox" "$work/root/bin/busybox"
	# Alpine's layout: the dynamic loader is libc itself.
	cp "$libc" "$work/root/lib/ld-musl-$triple.so.1"
	ln -s "ld-musl-$triple.so.1" "$work/root/lib/libc.musl-$triple.so.1"
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

# build_hostile: the layers of the hostile stand-ins, made from hack/hostile/
# on this machine (the library with its gcc); named by their sources' hash,
# so a changed source makes a new layer and a new push, and nothing else.
# build_scanner: the scanner stand-in's layer, named by its inputs' hash.
build_scanner() {
	local src hash work
	src=$(cd "$(dirname "$0")/sbom" && pwd)
	[[ -x $SYFT ]] || die "no syft at $SYFT: run hack/install-tools.sh"
	hash=$({ cat "$src/scan.sh" "$SYFT"; declare -f build_scanner; } | sha256sum | cut -c1-12)
	scanner=$STANDINS/syft-scanner-$hash.tar
	[[ -s $scanner ]] && return
	log "building the SBOM generator stand-in's layer (syft, hack/sbom/scan.sh)"
	work=$(mktemp -d)
	mkdir -p "$work/usr/local/bin"
	install -m 0755 "$SYFT" "$work/usr/local/bin/syft"
	install -m 0755 "$src/scan.sh" "$work/usr/local/bin/llbgen-sbom-scan"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work" -cf "$scanner.tmp" .
	mv "$scanner.tmp" "$scanner"
	rm -rf "$work"
}

build_hostile() {
	local src hash work
	src=$(cd "$(dirname "$0")/hostile" && pwd)
	# This function's own text is hashed too: it lays the layers out.
	hash=$({ cat "$src/cc.sh" "$src/preload.c"; declare -f build_hostile; } | sha256sum | cut -c1-12)
	hostile_cc=$STANDINS/hostile-cc-$hash.tar
	hostile_preload=$STANDINS/hostile-preload-$hash.tar
	[[ -s $hostile_cc && -s $hostile_preload ]] && return
	log "building the HOSTILE stand-ins' layers (hack/hostile/)"
	work=$(mktemp -d)
	mkdir -p "$work/cc/usr/local/bin" "$work/preload/usr/local/lib" "$work/preload/etc"
	install -m 0755 "$src/cc.sh" "$work/cc/usr/local/bin/gcc"
	local tool dir
	for tool in cc git hg svn bzr fossil; do
		ln -s gcc "$work/cc/usr/local/bin/$tool"
	done
	# Repositories where go build looks for one (from the module's directory,
	# /llbgen/gomod/..., up to /), and workspace files where it looks for one.
	for dir in "$work/cc" "$work/cc/llbgen"; do
		mkdir -p "$dir/.git"
		echo 'ref: refs/heads/main' >"$dir/.git/HEAD"
		printf 'go 1.22\n\nuse /\n' >"$dir/go.work"
	done
	local lib=/usr/local/lib/llbgen-hostile-preload.so
	gcc -shared -fPIC -nostdlib -ffreestanding -fno-stack-protector -fno-builtin -O2 -Wall \
		-o "$work/preload$lib" "$src/preload.c" || die "compiling hack/hostile/preload.c"
	echo "$lib" >"$work/preload/etc/ld.so.preload"
	local layer tar_flags=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner)
	for layer in cc preload; do
		tar "${tar_flags[@]}" -C "$work/$layer" -cf "$STANDINS/hostile-$layer-$hash.tar.tmp" .
		mv "$STANDINS/hostile-$layer-$hash.tar.tmp" "$STANDINS/hostile-$layer-$hash.tar"
	done
	rm -rf "$work"
}

# build_toolchain_layers: the layers of the broken-toolchain stand-ins, made
# from the golang stand-in's Go tree ($gotree) and the arm64 musl stand-in's
# busybox; named by the hash of their contents, so a new Go tree or busybox
# makes new layers and new pushes, and nothing else does.
build_toolchain_layers() {
	local server=./usr/local/go/src/net/http/server.go gobin=./usr/local/go/bin/go
	local work hash
	work=$(mktemp -d)
	mkdir -p "$work/broken" "$work/wrongarch" "$work/file/usr/local"
	tar -C "$work/broken" -xf "$gotree" "$server" || die "no $server in $gotree"
	tar -C "$work/wrongarch" -xf "$STANDINS/musl-arm64.tar" ./bin/busybox || die "no busybox in musl-arm64.tar"
	# This function's own text is hashed too: it lays the layers out.
	hash=$({ cat "$work/broken/$server" "$work/wrongarch/bin/busybox"; declare -f build_toolchain_layers; } |
		sha256sum | cut -c1-12)
	go_broken=$STANDINS/go-broken-$hash.tar
	go_wrongarch=$STANDINS/go-wrongarch-$hash.tar
	go_file=$STANDINS/go-file-$hash.tar
	if [[ ! -s $go_broken || ! -s $go_wrongarch || ! -s $go_file ]]; then
		log "building the broken-toolchain stand-ins' layers"
		# Appended, so every line number above stays upstream's.
		echo 'func standin { // llbgen test stand-in go-broken: a syntax error in the standard library' \
			>>"$work/broken/$server"
		mkdir -p "$work/wrongarch/usr/local/go/bin"
		mv "$work/wrongarch/bin/busybox" "$work/wrongarch/$gobin"
		rmdir "$work/wrongarch/bin"
		chmod 0755 "$work/wrongarch/$gobin"
		echo 'llbgen test stand-in go-file: a file where the Go toolchain should be' >"$work/file/usr/local/go"
		local layer tar_flags=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner)
		for layer in broken wrongarch file; do
			tar "${tar_flags[@]}" -C "$work/$layer" -cf "$STANDINS/go-$layer-$hash.tar.tmp" .
			mv "$STANDINS/go-$layer-$hash.tar.tmp" "$STANDINS/go-$layer-$hash.tar"
		done
	fi
	rm -rf "$work"
}

stamp_of() { printf '%s/%s' "$PUSHED" "$(printf '%s' "$1" | tr '/:' '__')"; }
remote_digest() { "$CRANE" digest --insecure "$1" 2>/dev/null; }

# pushed_already REF KEY: true when REF's stamp records KEY, and the digest
# the stamp records is the one the registry serves for REF now; sets $digest.
# A stamp is two lines, key and digest: older stamps (one line, no digest,
# written before the image indexes) never match, so they are pushed again.
pushed_already() {
	local stamp key want
	stamp=$(stamp_of "$1")
	[[ -f $stamp ]] || return 1
	{ IFS= read -r key && IFS= read -r want; } <"$stamp" || return 1
	[[ $key == "$2" && $want == sha256:* ]] || return 1
	digest=$(remote_digest "$1") && [[ $digest == "$want" ]]
}

# record REF KEY: writes REF's stamp after a push; sets $digest.
record() {
	digest=$(remote_digest "$1") || die "pushed $1, but the registry has no digest for it"
	mkdir -p "$PUSHED"
	printf '%s\n%s\n' "$2" "$digest" >"$(stamp_of "$1").tmp"
	mv "$(stamp_of "$1").tmp" "$(stamp_of "$1")"
}

# push ARCH REF TAR [BASE] [crane mutate flags...]: one linux/ARCH image from a
# rootfs layer, on BASE when not empty; sets $digest. Pushes only when its
# inputs changed or the registry does not serve what was pushed.
push() {
	local a=$1 ref=$2 tar=$3 base=$4
	shift 4
	local key=${base:+$base@} mtime
	[[ -z $base ]] || key+=$(remote_digest "$base") || die "no base image $base in the registry"
	mtime=$(stat -c %Y.%s "$tar")
	key="image linux/$a $tar $mtime $key $*"
	pushed_already "$ref" "$key" && return
	log "pushing stand-in $ref (linux/$a)"
	local out
	if [[ -n $base ]]; then
		out=$("$CRANE" append --insecure -b "$base" -f "$tar" -t "$ref.tmp" 2>&1) || die "crane append: $out"
	else
		out=$("$CRANE" append --insecure --oci-empty-base -f "$tar" -t "$ref.tmp" 2>&1) || die "crane append: $out"
	fi
	out=$("$CRANE" mutate --insecure --set-platform "linux/$a" \
		-l org.opencontainers.image.description="llbgen test stand-in, not the real image" \
		"$@" -t "$ref" "$ref.tmp" 2>&1) || die "crane mutate: $out"
	record "$ref" "$key"
}

# push_multi REF [crane mutate flags...]: the musl stand-in for every platform
# in MUSL_ARCHES, each as REF-ARCH, and REF an image index of them (crane
# takes each one's platform from its config).
MUSL_ARCHES=(amd64 arm64)
push_multi() {
	local ref=$1 a key=index args=()
	shift
	for a in "${MUSL_ARCHES[@]}"; do
		push "$a" "$ref-$a" "$STANDINS/musl-$a.tar" "" "$@"
		key+=" ${ref%:*}@$digest"
		args+=(-m "${ref%:*}@$digest")
	done
	pushed_already "$ref" "$key" && return
	log "pushing stand-in $ref (image index: ${MUSL_ARCHES[*]})"
	local out
	out=$("$CRANE" index append --insecure "${args[@]}" -t "$ref" 2>&1) || die "crane index append: $out"
	record "$ref" "$key"
}

for a in "${MUSL_ARCHES[@]}"; do build_musl "$a"; done
build_glibc
gotree=$(build_gotree)
build_hostile
build_toolchain_layers
build_scanner

std_path=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
r=$registry
push_multi "$r/standin/musl:latest" -e "$std_path"
push "$arch" "$r/standin/glibc:latest" "$STANDINS/glibc-$arch.tar" "" -e "$std_path"
push_multi "$r/library/docker:19.03.12" -e "$std_path" -e DOCKER_VERSION=19.03.12
push_multi "$r/gitlab/gitlab-runner:alpine-v13.2.1" -e "$std_path"
push "$arch" "$r/gitlab/gitlab-runner:v13.2.1" "$STANDINS/glibc-$arch.tar" "" -e "$std_path" \
	-u nobody -w /no/such/workdir
go_env=(-e "PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" -e GOLANG_VERSION=1.26 -e GOPATH=/go)
push "$arch" "$r/library/golang:1.26" "$gotree" "$r/standin/glibc:latest" "${go_env[@]}"
broken_label=org.opencontainers.image.title="BROKEN-TOOLCHAIN llbgen test stand-in"
push "$arch" "$r/standin/go-broken:latest" "$go_broken" "$r/library/golang:1.26" "${go_env[@]}" -l "$broken_label"
push "$arch" "$r/standin/go-none:latest" "$STANDINS/glibc-$arch.tar" "" "${go_env[@]}" -l "$broken_label"
push "$arch" "$r/standin/go-file:latest" "$go_file" "$r/standin/glibc:latest" "${go_env[@]}" -l "$broken_label"
push "$arch" "$r/standin/go-wrongarch:latest" "$go_wrongarch" "$r/library/golang:1.26" "${go_env[@]}" -l "$broken_label"
hostile_label=org.opencontainers.image.title="HOSTILE llbgen test stand-in: attacks the build"
push "$arch" "$r/standin/hostile-cc:latest" "$hostile_cc" "$r/standin/glibc:latest" \
	-e "$std_path" -l "$hostile_label"
push "$arch" "$r/standin/hostile-preload:latest" "$hostile_preload" "$r/standin/glibc:latest" \
	-e "$std_path" -l "$hostile_label"
push "$arch" "$r/standin/syft-scanner:latest" "$scanner" "$r/standin/musl:latest-$arch" \
	-e "$std_path" -e SYFT_CHECK_FOR_APP_UPDATE=false --entrypoint /usr/local/bin/llbgen-sbom-scan \
	-l org.opencontainers.image.title="llbgen test stand-in: syft as BuildKit's SBOM generator"
log "stand-in images are in $registry"
