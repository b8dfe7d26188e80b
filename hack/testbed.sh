#!/usr/bin/env bash
# The test bed: a registry on loopback holding the stand-in images, a
# buildkitd of its own (and a second, the other machine of a fleet) and a Docker Engine of its own (hack/engine.sh), whose
# docker.io mirror is that registry, so that `docker:19.03.12` and
# `golang:1.26` resolve to the stand-ins. buildkitd starts
# after install-tools.sh has registered QEMU's binfmt handlers, so it runs
# linux/arm64 (and other) images under emulation; one that was started before
# and lists no linux/arm64 is restarted.
#
#   hack/testbed.sh up     install, start what is not running, print the env file
#   hack/testbed.sh down   stop the Docker Engine, buildkitd and the registry
#   hack/testbed.sh env    print the path of the env file (source it)
#
# The registry port is picked free at first start; the daemons listen on unix
# sockets under LLBGEN_STATE. All are recorded in LLBGEN_STATE/env. A second
# `up` on a warm machine takes seconds.
source "$(dirname "$0")/lib.sh"
hack=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$LLBGEN_STATE"
ENV_FILE=$LLBGEN_STATE/env
REG_PID=$LLBGEN_STATE/registry.pid
REG_PORT_FILE=$LLBGEN_STATE/registry.port
BK_PID=$LLBGEN_STATE/buildkitd.pid
BK_SOCK=$LLBGEN_STATE/buildkitd.sock
BK_ROOT=$LLBGEN_STATE/buildkitd-root
BK_CONF=$LLBGEN_STATE/buildkitd.toml
# A second buildkitd, with the same configuration and a root of its own:
# the other machine of a fleet (a remote cache test imports into it).
BK2_PID=$LLBGEN_STATE/buildkitd2.pid
BK2_SOCK=$LLBGEN_STATE/buildkitd2.sock
BK2_ROOT=$LLBGEN_STATE/buildkitd2-root

registry_up() {
	if pid_alive "$REG_PID" && [[ -s $REG_PORT_FILE ]] &&
		curl -fsS -o /dev/null "http://127.0.0.1:$(cat "$REG_PORT_FILE")/v2/"; then
		return
	fi
	local port
	port=${LLBGEN_REGISTRY_PORT:-$(free_port)}
	log "starting registry on 127.0.0.1:$port"
	mkdir -p "$LLBGEN_STATE/registry-data"
	setsid "$CRANE" registry serve --address "127.0.0.1:$port" --disk "$LLBGEN_STATE/registry-data" \
		>"$LLBGEN_STATE/registry.log" 2>&1 </dev/null &
	write_pid "$REG_PID" $! "127.0.0.1:$port"
	echo "$port" >"$REG_PORT_FILE"
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null && return
		sleep 0.1
	done
	cat "$LLBGEN_STATE/registry.log" >&2
	die "registry did not come up on 127.0.0.1:$port"
}

buildkitd_up() {
	local port conf
	port=$(cat "$REG_PORT_FILE")
	conf=$(
		cat <<TOML
# written by hack/testbed.sh: the test bed's daemon
[worker.oci]
  enabled = true
[worker.containerd]
  enabled = false
# stand-in images: docker.io/* is served by the loopback registry
[registry."docker.io"]
  mirrors = ["127.0.0.1:$port"]
[registry."127.0.0.1:$port"]
  http = true
TOML
	)
	if pid_alive "$BK_PID" && [[ -S $BK_SOCK ]] && [[ "$(cat "$BK_CONF" 2>/dev/null)" == "$conf" ]] &&
		"$BUILDKIT_BIN/buildctl" --addr "unix://$BK_SOCK" debug workers >/dev/null 2>&1; then
		buildkitd_emulates && return
		log "buildkitd does not list linux/arm64 though QEMU can run it (started before binfmt registration): restarting it"
	fi
	buildkitd_down
	printf '%s\n' "$conf" >"$BK_CONF"
	start_buildkitd "unix://$BK_SOCK" "$BK_ROOT" "$BK_CONF" "$BK_PID" "$LLBGEN_STATE/buildkitd.log"
}

buildkitd_down() { stop_pid "$BK_PID"; rm -f "$BK_SOCK"; }

# buildkitd2_up starts the second daemon unless it runs with the first's
# configuration (buildkitd_up wrote it).
buildkitd2_up() {
	if pid_alive "$BK2_PID" && [[ -S $BK2_SOCK ]] && [[ "$(cat "$BK2_PID.conf" 2>/dev/null)" == "$(cat "$BK_CONF")" ]] &&
		"$BUILDKIT_BIN/buildctl" --addr "unix://$BK2_SOCK" debug workers >/dev/null 2>&1; then
		return
	fi
	buildkitd2_down
	cp "$BK_CONF" "$BK2_PID.conf"
	start_buildkitd "unix://$BK2_SOCK" "$BK2_ROOT" "$BK2_PID.conf" "$BK2_PID" "$LLBGEN_STATE/buildkitd2.log"
}

buildkitd2_down() { stop_pid "$BK2_PID"; rm -f "$BK2_SOCK"; }

# buildkitd_emulates: false when the kernel has an enabled qemu-aarch64 binfmt
# handler (install-tools.sh registers it) but the daemon does not list
# linux/arm64. buildkitd probes which platforms it can emulate when it starts;
# v0.34.2 probes again only when asked for its workers and its last probe is
# older than 20 s (platformsCacheMaxAge), so one started before the
# registration may not list them. (Its arm64 execs would run all the same: the
# kernel's handler runs them. The list is what clients and tests read.)
buildkitd_emulates() {
	local handler=/proc/sys/fs/binfmt_misc/qemu-aarch64
	[[ -r $handler && $(head -1 "$handler") == enabled ]] || return 0
	"$BUILDKIT_BIN/buildctl" --addr "unix://$BK_SOCK" debug workers -v 2>/dev/null |
		grep -E '^Platforms:' | grep -E '(^|[[:space:],])linux/arm64(/v8)?($|[[:space:],])' >/dev/null
}

# buildx_up registers the daemon as a `remote` buildx builder in a Docker
# config directory of the test bed's own, so the user's is never touched.
BUILDX_CONFIG=$LLBGEN_STATE/docker-config
BUILDX_BUILDER=llbgen-testbed
buildx_up() {
	mkdir -p "$BUILDX_CONFIG"
	[[ -f $BUILDX_CONFIG/config.json ]] || echo '{}' >"$BUILDX_CONFIG/config.json"
	if DOCKER_CONFIG=$BUILDX_CONFIG "$BUILDX" inspect "$BUILDX_BUILDER" >/dev/null 2>&1; then
		return
	fi
	log "registering buildx builder $BUILDX_BUILDER (remote driver, unix://$BK_SOCK)"
	DOCKER_CONFIG=$BUILDX_CONFIG "$BUILDX" create --name "$BUILDX_BUILDER" --driver remote "unix://$BK_SOCK" >/dev/null
}

write_env() {
	cat >"$ENV_FILE.tmp" <<ENV
# written by hack/testbed.sh up; source it
export BUILDKIT_HOST=unix://$BK_SOCK
export LLBGEN_BUILDKIT_HOST2=unix://$BK2_SOCK
export LLBGEN_TEST_REGISTRY=127.0.0.1:$(cat "$REG_PORT_FILE")
export LLBGEN_TESTBED=$LLBGEN_STATE
export LLBGEN_CRANE=$CRANE
export LLBGEN_BUILDKIT_VERSION=$BUILDKIT_VERSION
export LLBGEN_BUILDX_CONFIG=$BUILDX_CONFIG
export LLBGEN_BUILDX_BUILDER=$BUILDX_BUILDER
export PATH=$BUILDKIT_BIN:$(dirname "$BUILDX"):\$PATH
ENV
	"$hack/engine.sh" env >>"$ENV_FILE.tmp"
	mv "$ENV_FILE.tmp" "$ENV_FILE"
}

up() {
	"$hack/install-tools.sh"
	registry_up
	"$hack/standins.sh" "127.0.0.1:$(cat "$REG_PORT_FILE")"
	buildkitd_up
	buildkitd2_up
	buildx_up
	"$hack/engine.sh" up
	write_env
	log "test bed ready: source $ENV_FILE"
}

down() {
	"$hack/engine.sh" down
	buildkitd2_down
	buildkitd_down
	stop_pid "$REG_PID"
	rm -f "$ENV_FILE"
}

# Two bring-ups of one test bed take turns: the script runs itself again under
# flock. -o keeps the lock out of the daemons it starts.
case ${1:-up} in
up | down) exec flock -o "$LLBGEN_STATE/.lock" "$0" "locked-$1" ;;
# LLBGEN_TESTBED_LOCKED tells hack/engine.sh that the lock is held.
locked-up) export LLBGEN_TESTBED_LOCKED=1 && up ;;
locked-down) export LLBGEN_TESTBED_LOCKED=1 && down ;;
env) echo "$ENV_FILE" ;;
*) die "usage: hack/testbed.sh up|down|env" ;;
esac
