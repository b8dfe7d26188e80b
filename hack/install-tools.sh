#!/usr/bin/env bash
# Installs what the test bed needs, once: Debian's runc and debootstrap, QEMU
# user emulation (qemu-user-static, binfmt-support) with its binfmt_misc
# handlers registered, and buildkitd/buildctl, crane, buildx and syft built
# from their Go modules into LLBGEN_CACHE.
# Safe to run again: every step checks whether its result is already there.
source "$(dirname "$0")/lib.sh"

need_apt=()
command -v runc >/dev/null || need_apt+=(runc)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v python3 >/dev/null || need_apt+=(python3)
command -v curl >/dev/null || need_apt+=(curl)
command -v flock >/dev/null || need_apt+=(util-linux)
# Unit tests of the stage tool's ELF diagnosis build real C programs.
command -v gcc >/dev/null || need_apt+=(gcc libc6-dev)
[[ -x /usr/bin/qemu-aarch64-static ]] || need_apt+=(qemu-user-static)
command -v update-binfmts >/dev/null || need_apt+=(binfmt-support)
if ((${#need_apt[@]})); then
	[[ $(id -u) == 0 ]] || die "need root to apt-get install ${need_apt[*]}"
	log "apt-get install ${need_apt[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# QEMU user emulation, so that BuildKit can run linux/arm64 (and other) images.
# binfmt-support's postinst registers nothing where no init system runs (it is
# denied by policy-rc.d in containers and CI images), so register here: mount
# binfmt_misc, then enable Debian's qemu-* handlers (and only those, not
# binfmt-support's others such as jar or python). Debian registers them with
# the F (fix-binary) flag: the kernel opens the emulator at registration, so it
# also runs inside containers whose root file system has no qemu, BuildKit's.
# A qemu-aarch64 handler that is disabled is enabled again; one that lacks F
# (registered by something else) is registered again, by hand, from Debian's
# description of it.
BINFMT=/proc/sys/fs/binfmt_misc
binfmt_up() {
	local name
	if [[ ! -e $BINFMT/register ]]; then
		[[ $(id -u) == 0 ]] || die "need root to mount binfmt_misc at $BINFMT"
		mount -t binfmt_misc binfmt_misc "$BINFMT" || die "cannot mount binfmt_misc at $BINFMT"
	fi
	for name in /usr/share/binfmts/qemu-*; do
		name=${name##*/}
		[[ -e $BINFMT/$name ]] && continue
		[[ $(id -u) == 0 ]] || die "need root to register binfmt handler $name"
		update-binfmts --enable "$name" >/dev/null 2>&1 || log "warning: update-binfmts --enable $name failed"
	done
	if [[ -e $BINFMT/qemu-aarch64 ]] && grep -q '^flags: .*F' "$BINFMT/qemu-aarch64"; then
		# Registered as it should be; only switched off (a test disables it
		# while it runs, and a killed test leaves it so): switch it on.
		[[ $(head -1 "$BINFMT/qemu-aarch64") == enabled ]] || echo 1 >"$BINFMT/qemu-aarch64"
		return
	fi
	log "registering qemu-aarch64 with binfmt_misc by hand, with the F flag"
	[[ $(id -u) == 0 ]] || die "need root to register binfmt handler qemu-aarch64"
	binfmt_register_fixed qemu-aarch64
	grep -q '^flags: .*F' "$BINFMT/qemu-aarch64" || die "qemu-aarch64 has no F flag: $(cat "$BINFMT/qemu-aarch64")"
}

# binfmt_register_fixed NAME: (re)registers Debian's handler NAME with flags
# OF, as Debian's binfmt.d does (P too when Debian's asks to preserve argv[0];
# its -binfmt-P emulator path expects it). No C: foreign setuid binaries get
# no credentials.
binfmt_register_fixed() {
	local name=$1 desc=/usr/share/binfmts/$1 flags=OF
	[[ -f $desc ]] || die "no $desc (is qemu-user-static installed?)"
	[[ $(desc_field "$desc" preserve) == yes ]] && flags=P$flags
	[[ -e $BINFMT/$name ]] && echo -1 >"$BINFMT/$name"
	# %s keeps the \x escapes for the kernel, which decodes them itself.
	printf ':%s:M:%s:%s:%s:%s:%s' "$name" "$(desc_field "$desc" offset)" "$(desc_field "$desc" magic)" \
		"$(desc_field "$desc" mask)" "$(desc_field "$desc" interpreter)" "$flags" >"$BINFMT/register"
}

# desc_field FILE KEY: the value of KEY in a binfmt-support description.
desc_field() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }
binfmt_up

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
if [[ ! -x $SYFT ]]; then
	log "building syft $SYFT_VERSION (several minutes, once)"
	go_module_build github.com/anchore/syft "$SYFT_VERSION" "$(dirname "$SYFT")" ./cmd/syft
fi
log "tools ready in $TOOLS_BIN"
