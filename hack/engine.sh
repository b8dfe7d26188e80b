#!/usr/bin/env bash
# The test bed's Docker Engine: dockerd, containerd and containerd-shim-runc-v2
# built from their Go modules, the docker CLI with buildx as its CLI plugin,
# and Debian's runc and iptables. It runs as root on sockets, state
# directories and a network bridge of its own, never the machine's defaults,
# with the test bed's registry as docker.io's mirror.
#
#   hack/engine.sh install   build what is missing (dockerd: ~12 min on 2 cores, once)
#   hack/engine.sh up        install, then start what is not running
#   hack/engine.sh down      stop dockerd and containerd
#
# Called by hack/testbed.sh, which holds the test bed's lock; `up` needs the
# registry's port in LLBGEN_STATE/registry.port.
source "$(dirname "$0")/lib.sh"

ENGINE_BIN=$TOOLS_BIN/docker-engine-$MOBY_VERSION-$CONTAINERD_VERSION-$DOCKER_CLI_VERSION
ENGINE_STATE=$LLBGEN_STATE/engine
CTD_SOCK=$ENGINE_STATE/containerd.sock
CTD_PID=$ENGINE_STATE/containerd.pid
DOCKER_SOCK=$ENGINE_STATE/docker.sock
DOCKERD_PID=$ENGINE_STATE/dockerd.pid
DOCKERD_CONF=$ENGINE_STATE/dockerd.args
# The docker CLI's config directory for the test bed: buildx is its plugin
# there, and the user's ~/.docker is never read or written.
ENGINE_DOCKER_CONFIG=$ENGINE_STATE/docker-config

install() {
	need_apt=()
	command -v iptables >/dev/null || need_apt+=(iptables)
	command -v ip >/dev/null || need_apt+=(iproute2)
	command -v runc >/dev/null || need_apt+=(runc)
	if ((${#need_apt[@]})); then
		[[ $(id -u) == 0 ]] || die "need root to apt-get install ${need_apt[*]}"
		log "apt-get install ${need_apt[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
	fi
	if [[ -x $ENGINE_BIN/dockerd && -x $ENGINE_BIN/containerd && -x $ENGINE_BIN/containerd-shim-runc-v2 && -x $ENGINE_BIN/docker ]]; then
		return
	fi
	mkdir -p "$ENGINE_BIN"
	if [[ ! -x $ENGINE_BIN/containerd || ! -x $ENGINE_BIN/containerd-shim-runc-v2 ]]; then
		log "building containerd $CONTAINERD_VERSION (a couple of minutes, once)"
		go_module_build github.com/containerd/containerd/v2 "$CONTAINERD_VERSION" "$ENGINE_BIN.ctd" \
			./cmd/containerd ./cmd/containerd-shim-runc-v2
		mv "$ENGINE_BIN.ctd"/* "$ENGINE_BIN/" && rmdir "$ENGINE_BIN.ctd"
	fi
	if [[ ! -x $ENGINE_BIN/docker ]]; then
		# docker/cli has no go.mod: its module file is vendor.mod, which
		# its own scripts copy into place the same way. Its dependencies
		# come from its vendor directory: the module proxy refuses some
		# (github.com/moby/swarmkit/v2 v2.1.3).
		log "building the docker CLI $DOCKER_CLI_VERSION (a few minutes, once)"
		GO_MODULE_PREPARE='cp vendor.mod go.mod && cp vendor.sum go.sum && rm -rf vendor && go mod edit -replace github.com/moby/swarmkit/v2=github.com/moby/swarmkit/v2@v2.0.0' \
			go_module_build github.com/docker/cli "$DOCKER_CLI_VERSION" "$ENGINE_BIN.cli" ./cmd/docker
		mv "$ENGINE_BIN.cli"/docker "$ENGINE_BIN/" && rm -rf "$ENGINE_BIN.cli"
	fi
	if [[ ! -x $ENGINE_BIN/dockerd ]]; then
		log "building dockerd $MOBY_VERSION (about 12 minutes on 2 cores, once)"
		go_module_build github.com/moby/moby/v2 "$MOBY_VERSION" "$ENGINE_BIN.dockerd" ./cmd/dockerd
		mv "$ENGINE_BIN.dockerd"/dockerd "$ENGINE_BIN/" && rm -rf "$ENGINE_BIN.dockerd"
	fi
}

# The bridge and its subnet are named after the state directory, so that
# two test beds on one machine (a CI clone beside a developer's) never share
# one, and neither touches docker0.
bridge_name() { printf 'llbgen%s' "$(printf '%s' "$LLBGEN_STATE" | sha256sum | cut -c1-8)"; }
bridge_subnet() {
	local n
	n=$((16#$(printf '%s' "$LLBGEN_STATE" | sha256sum | cut -c1-2)))
	printf '10.213.%d.1/24' "$n"
}

bridge_up() {
	local name addr
	name=$(bridge_name)
	addr=$(bridge_subnet)
	if ! ip link show "$name" >/dev/null 2>&1; then
		log "creating bridge $name ($addr)"
		ip link add name "$name" type bridge
	fi
	ip addr show dev "$name" | grep -qF "inet $addr" || ip addr add "$addr" dev "$name"
	ip link set "$name" up
}

containerd_up() {
	if pid_alive "$CTD_PID" && [[ -S $CTD_SOCK ]]; then
		return
	fi
	stop_pid "$CTD_PID"
	rm -f "$CTD_SOCK"
	log "starting containerd on $CTD_SOCK"
	mkdir -p "$ENGINE_STATE/containerd-root" "$ENGINE_STATE/containerd-state"
	# An empty config: none of /etc/containerd/config.toml is read.
	: >"$ENGINE_STATE/containerd.toml"
	PATH=$ENGINE_BIN:$PATH setsid "$ENGINE_BIN/containerd" --config "$ENGINE_STATE/containerd.toml" \
		--root "$ENGINE_STATE/containerd-root" --state "$ENGINE_STATE/containerd-state" \
		--address "$CTD_SOCK" >"$ENGINE_STATE/containerd.log" 2>&1 </dev/null &
	write_pid "$CTD_PID" $! "$CTD_SOCK"
	for _ in $(seq 100); do
		[[ -S $CTD_SOCK ]] && return
		pid_alive "$CTD_PID" || break
		sleep 0.1
	done
	tail -30 "$ENGINE_STATE/containerd.log" >&2
	die "containerd did not come up on $CTD_SOCK"
}

dockerd_up() {
	local reg args
	reg=127.0.0.1:$(cat "$LLBGEN_STATE/registry.port")
	args=(--data-root "$ENGINE_STATE/data" --exec-root "$ENGINE_STATE/exec" --pidfile "$ENGINE_STATE/dockerd.own.pid"
		-H "unix://$DOCKER_SOCK" --containerd "$CTD_SOCK" --config-file "$ENGINE_STATE/daemon.json"
		--bridge "$(bridge_name)" --userland-proxy=false
		--registry-mirror "http://$reg" --insecure-registry "$reg")
	if pid_alive "$DOCKERD_PID" && [[ -S $DOCKER_SOCK ]] && [[ "$(cat "$DOCKERD_CONF" 2>/dev/null)" == "${args[*]}" ]] &&
		"$ENGINE_BIN/docker" -H "unix://$DOCKER_SOCK" version >/dev/null 2>&1; then
		return
	fi
	stop_pid "$DOCKERD_PID"
	rm -f "$DOCKER_SOCK"
	echo '{}' >"$ENGINE_STATE/daemon.json"
	printf '%s' "${args[*]}" >"$DOCKERD_CONF"
	log "starting dockerd on unix://$DOCKER_SOCK"
	# dockerd finds containerd-shim-runc-v2 and runc on PATH.
	PATH=$ENGINE_BIN:$PATH setsid "$ENGINE_BIN/dockerd" "${args[@]}" >"$ENGINE_STATE/dockerd.log" 2>&1 </dev/null &
	write_pid "$DOCKERD_PID" $! "$DOCKER_SOCK"
	for _ in $(seq 600); do
		"$ENGINE_BIN/docker" -H "unix://$DOCKER_SOCK" version >/dev/null 2>&1 && return
		pid_alive "$DOCKERD_PID" || break
		sleep 0.1
	done
	tail -30 "$ENGINE_STATE/dockerd.log" >&2
	die "dockerd did not come up on unix://$DOCKER_SOCK (log: $ENGINE_STATE/dockerd.log)"
}

cli_config_up() {
	mkdir -p "$ENGINE_DOCKER_CONFIG/cli-plugins"
	[[ -f $ENGINE_DOCKER_CONFIG/config.json ]] || echo '{}' >"$ENGINE_DOCKER_CONFIG/config.json"
	ln -sfn "$BUILDX" "$ENGINE_DOCKER_CONFIG/cli-plugins/docker-buildx"
}

up() {
	[[ $(id -u) == 0 ]] || die "the test bed's Docker Engine runs as root"
	install
	mkdir -p "$ENGINE_STATE"
	bridge_up
	containerd_up
	dockerd_up
	cli_config_up
}

down() {
	stop_pid "$DOCKERD_PID"
	stop_pid "$CTD_PID"
	rm -f "$DOCKER_SOCK" "$CTD_SOCK"
	ip link del "$(bridge_name)" 2>/dev/null || true
}

case ${1:-up} in
install) install ;;
up) up ;;
down) down ;;
env)
	cat <<ENV
export LLBGEN_DOCKER=$ENGINE_BIN/docker
export LLBGEN_DOCKER_HOST=unix://$DOCKER_SOCK
export LLBGEN_DOCKER_CONFIG=$ENGINE_DOCKER_CONFIG
ENV
	;;
*) die "usage: hack/engine.sh install|up|down|env" ;;
esac
