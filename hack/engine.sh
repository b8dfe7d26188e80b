#!/usr/bin/env bash
# The test bed's Docker Engine: dockerd, containerd and containerd-shim-runc-v2
# built from their Go modules, the docker CLI with buildx as its CLI plugin,
# and Debian's runc and iptables. It runs as root on sockets, state
# directories and a network bridge of its own, never the machine's defaults,
# with the test bed's registry as docker.io's mirror.
#
#   hack/engine.sh install   build what is missing (all three: 5 to 12 min on 2 cores, once)
#   hack/engine.sh up        install, then start what is not running
#   hack/engine.sh down      stop dockerd and containerd, remove the bridge and its rules,
#                            restore IP forwarding (see save_forwarding)
#   hack/engine.sh env       print the env file's lines for the engine
#
# Called by hack/testbed.sh (`up` needs the registry's port in
# LLBGEN_STATE/registry.port); run by hand, it takes the test bed's lock itself.
#
# Two test beds on one machine (different LLBGEN_STATE) share nothing but the
# binaries: each has its own sockets, state, bridge and subnet, and its
# containerd loads no plugin that listens on a machine-wide path (NRI, CRI).
# dockerd runs with --iptables=false: at every start, a dockerd that manages
# iptables deletes and recreates Docker's chains (DOCKER, DOCKER-FORWARD,
# ...), wiping the rules of any other dockerd on the machine, another test
# bed's or the machine's own Docker. The few rules the engine needs (NAT and
# forwarding for its bridge, so that a build's RUN reaches the network) are
# this script's, each naming the bridge; `down` removes them.
source "$(dirname "$0")/lib.sh"

case ${1:-up} in
up | down)
	if [[ -z ${LLBGEN_TESTBED_LOCKED:-} ]]; then
		mkdir -p "$LLBGEN_STATE"
		LLBGEN_TESTBED_LOCKED=1 exec flock -o "$LLBGEN_STATE/.lock" "$0" "$@"
	fi
	;;
esac

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

# install builds into LLBGEN_CACHE, which test beds share: one at a time.
install() {
	mkdir -p "$TOOLS_BIN"
	(
		flock 9
		install_locked
	) 9>"$TOOLS_BIN/.engine-install.lock"
}

install_locked() {
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
		# docker/cli has no go.mod (see go_module_prepare docker-cli).
		log "building the docker CLI $DOCKER_CLI_VERSION (a few minutes, once)"
		go_module_build --prepare docker-cli github.com/docker/cli "$DOCKER_CLI_VERSION" "$ENGINE_BIN.cli" ./cmd/docker
		mv "$ENGINE_BIN.cli"/docker "$ENGINE_BIN/" && rm -rf "$ENGINE_BIN.cli"
	fi
	if [[ ! -x $ENGINE_BIN/dockerd ]]; then
		log "building dockerd $MOBY_VERSION (3 to 10 minutes on 2 cores, once)"
		go_module_build github.com/moby/moby/v2 "$MOBY_VERSION" "$ENGINE_BIN.dockerd" ./cmd/dockerd
		mv "$ENGINE_BIN.dockerd"/dockerd "$ENGINE_BIN/" && rm -rf "$ENGINE_BIN.dockerd"
	fi
}

# The bridge is named after the state directory, so that two test beds on
# one machine (a CI clone beside a developer's) never share one, and neither
# touches docker0. Its address, 10.213.N.1/24, starts from the same hash and
# moves on while another interface or route already covers that /24; it is
# picked once and kept in ENGINE_STATE/bridge.addr (or kept from the bridge,
# when that file is gone but the bridge is not).
bridge_name() { printf 'llbgen%s' "$(printf '%s' "$LLBGEN_STATE" | sha256sum | cut -c1-8)"; }
bridge_addr() {
	local file=$ENGINE_STATE/bridge.addr n i net
	if [[ -s $file ]]; then
		cat "$file"
		return
	fi
	net=$(ip -4 -o addr show dev "$(bridge_name)" 2>/dev/null | awk '{ print $4; exit }')
	if [[ -n $net ]]; then
		printf '%s\n' "$net" | tee "$file"
		return
	fi
	n=$((16#$(printf '%s' "$LLBGEN_STATE" | sha256sum | cut -c1-2)))
	for i in $(seq 0 255); do
		net=10.213.$(((n + i) % 256))
		# A route inside the /24, or one holding it (but the default).
		if [[ -z $(ip -4 route show root "$net.0/24") ]] && ! ip -4 route show match "$net.0/24" | grep -v '^default' >/dev/null; then
			printf '%s.1/24\n' "$net" | tee "$file"
			return
		fi
	done
	die "no free /24 in 10.213.0.0/16 for the engine's bridge"
}

bridge_up() {
	local name addr
	name=$(bridge_name)
	addr=$(bridge_addr)
	if ! ip link show "$name" >/dev/null 2>&1; then
		log "creating bridge $name ($addr)"
		ip link add name "$name" type bridge
	fi
	ip addr show dev "$name" | grep -F "inet $addr" >/dev/null || ip addr add "$addr" dev "$name"
	ip link set "$name" up
	bridge_rules -I
}

# bridge_rules -I|-D adds (unless there) or deletes the bridge's rules: its
# subnet masqueraded on the way out, and its traffic forwarded whatever the
# FORWARD policy. Each names the bridge, in a comment too.
bridge_rules() {
	local op=$1 name net rule table chain
	name=$(bridge_name)
	net=$(sed 's/\.1\/24$/.0\/24/' "$ENGINE_STATE/bridge.addr")
	for rule in "nat POSTROUTING -s $net ! -o $name -j MASQUERADE" \
		"filter FORWARD -i $name -j ACCEPT" \
		"filter FORWARD -o $name -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"; do
		# shellcheck disable=SC2086 # a rule is words
		set -- $rule -m comment --comment "llbgen test bed $name"
		table=$1 chain=$2
		shift 2
		if [[ $op == -I ]]; then
			iptables -t "$table" -C "$chain" "$@" 2>/dev/null || iptables -t "$table" -I "$chain" "$@"
		else
			while iptables -t "$table" -C "$chain" "$@" 2>/dev/null; do
				iptables -t "$table" -D "$chain" "$@"
			done
		fi
	done
}

# bridge_down removes the bridge's rules and the bridge.
bridge_down() {
	if [[ -s $ENGINE_STATE/bridge.addr ]] && command -v iptables >/dev/null; then
		bridge_rules -D
	fi
	ip link del "$(bridge_name)" 2>/dev/null || true
}

# IP forwarding: dockerd turns net.ipv4.ip_forward on at every start, even
# with --iptables=false, and never back off. up saves the value it finds
# before the engine's first start (with the boot it was read in: a value
# from an earlier boot says nothing, the setting was reset since), and
# only when none is saved, so that a second up does not save the 1 the
# first left; down restores it. Forwarding is machine-wide while bridges
# are per test bed: while another test bed's engine bridge (llbgenXXXXXXXX)
# is up, which may need it, down leaves forwarding on and keeps the saved
# value for its next down. So with two test beds up at once, forwarding
# goes back off when the one that came up first is down last, or down
# again later. The same holds while another bridge that came up since the
# value was saved has an IPv4 address: whatever made it (the machine's own
# Docker, libvirt, Kubernetes) may have turned forwarding on, and needs it.
FORWARD=/proc/sys/net/ipv4/ip_forward
FORWARD_SAVED=$ENGINE_STATE/ip_forward.saved

boot_id() { cat /proc/sys/kernel/random/boot_id; }

save_forwarding() {
	local value boot
	if [[ -s $FORWARD_SAVED ]]; then
		read -r value boot <"$FORWARD_SAVED"
		[[ $boot == "$(boot_id)" ]] && return
	fi
	# This test bed's dockerd, up before this was saved, turned it on: the
	# value from before is not known.
	if pid_alive "$DOCKERD_PID"; then
		rm -f "$FORWARD_SAVED"
		return
	fi
	printf '%s %s %s\n' "$(cat "$FORWARD")" "$(boot_id)" "$(foreign_bridges | paste -sd, -)" >"$FORWARD_SAVED"
}

# foreign_bridges lists the bridges with an IPv4 address that are no test
# bed's engine bridge.
foreign_bridges() {
	local b
	for b in $(bridges); do
		[[ $b =~ ^llbgen[0-9a-f]+$ ]] && continue
		[[ -n $(ip -4 -o addr show dev "$b") ]] && printf '%s\n' "$b"
	done
	return 0
}

# bridges lists the machine's bridges. Not from ip -4 -o addr show type
# bridge: iproute2 6.1 ignores the type there and lists lo and eth0 too.
bridges() { ip -o link show type bridge | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'; }

restore_forwarding() {
	local value boot before b others='' foreign=''
	[[ -s $FORWARD_SAVED ]] || return 0
	read -r value boot before <"$FORWARD_SAVED"
	if [[ $boot != "$(boot_id)" || ! $value =~ ^[01]$ ]]; then
		rm -f "$FORWARD_SAVED"
		return
	fi
	for b in $(bridges); do
		if [[ $b =~ ^llbgen[0-9a-f]+$ && $b != "$(bridge_name)" ]]; then
			others+="$b "
		fi
	done
	# Only a bridge that came up since the value was saved: one that was
	# there before had forwarding as saved.
	for b in $(foreign_bridges); do
		[[ ,$before, == *",$b,"* ]] || foreign+="$b "
	done
	if [[ -n $others ]]; then
		log "leaving net.ipv4.ip_forward as it is: another test bed's engine bridge is up (${others% })"
		return
	fi
	if [[ -n $foreign ]]; then
		log "leaving net.ipv4.ip_forward as it is: a bridge that is no test bed's came up with an IPv4 address since (${foreign% }), and what made it may need forwarding"
		return
	fi
	if [[ $(cat "$FORWARD") != "$value" ]]; then
		log "restoring net.ipv4.ip_forward=$value"
		printf '%s\n' "$value" >"$FORWARD"
	fi
	rm -f "$FORWARD_SAVED"
}

# containerd's own config: none of /etc/containerd/config.toml is read, and
# the plugins dockerd does not use and that would listen on machine-wide paths
# (NRI on /var/run/nri/nri.sock) or look at the machine's CNI are off.
CTD_CONF=$ENGINE_STATE/containerd.toml
CTD_CONF_TEXT='# written by hack/engine.sh
version = 4
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.podsandbox.controller.v1.podsandbox"]'

# containerd_up starts containerd unless it runs with this config; it says
# whether it started one in CTD_STARTED.
CTD_STARTED=
containerd_up() {
	if pid_alive "$CTD_PID" && [[ -S $CTD_SOCK ]] && [[ "$(cat "$CTD_CONF" 2>/dev/null)" == "$CTD_CONF_TEXT" ]]; then
		return
	fi
	CTD_STARTED=1
	stop_pid "$CTD_PID"
	rm -f "$CTD_SOCK" "$CTD_SOCK.ttrpc"
	log "starting containerd on $CTD_SOCK"
	mkdir -p "$ENGINE_STATE/containerd-root" "$ENGINE_STATE/containerd-state"
	printf '%s\n' "$CTD_CONF_TEXT" >"$CTD_CONF"
	PATH=$ENGINE_BIN:$PATH setsid "$ENGINE_BIN/containerd" --config "$CTD_CONF" \
		--root "$ENGINE_STATE/containerd-root" --state "$ENGINE_STATE/containerd-state" \
		--address "$CTD_SOCK" >"$ENGINE_STATE/containerd.log" 2>&1 </dev/null &
	write_pid "$CTD_PID" $! "$CTD_SOCK"
	for _ in $(seq 100); do
		[[ -S $CTD_SOCK ]] && return
		pid_exists "$CTD_PID" || break
		sleep 0.1
	done
	tail -30 "$ENGINE_STATE/containerd.log" >&2
	die "containerd did not come up on $CTD_SOCK"
}

# dockerd's own config: none of /etc/docker/daemon.json is read. Debian's
# runc (1.1.5 in bookworm) knows no time namespace ("namespace {"time" ""}
# does not exist"), which dockerd gives every container by default since
# v29 where the kernel has them.
DOCKERD_JSON='{"features": {"time-namespaces": false}}'

dockerd_up() {
	local reg args
	reg=127.0.0.1:$(cat "$LLBGEN_STATE/registry.port")
	args=(--data-root "$ENGINE_STATE/data" --exec-root "$ENGINE_STATE/exec" --pidfile "$ENGINE_STATE/dockerd.own.pid"
		-H "unix://$DOCKER_SOCK" --containerd "$CTD_SOCK" --config-file "$ENGINE_STATE/daemon.json"
		--bridge "$(bridge_name)" --iptables=false --ip6tables=false --ip-forward-no-drop --userland-proxy=false
		--registry-mirror "http://$reg" --insecure-registry "$reg")
	if [[ -z $CTD_STARTED ]] && pid_alive "$DOCKERD_PID" && [[ -S $DOCKER_SOCK ]] && [[ "$(cat "$DOCKERD_CONF" 2>/dev/null)" == "${args[*]} $DOCKERD_JSON" ]] &&
		"$ENGINE_BIN/docker" -H "unix://$DOCKER_SOCK" version >/dev/null 2>&1; then
		return
	fi
	stop_pid "$DOCKERD_PID" 30
	# A dockerd killed before leaves its own pid file, which makes the next
	# one refuse to start while that number names any live process.
	rm -f "$DOCKER_SOCK" "$ENGINE_STATE/dockerd.own.pid"
	printf '%s\n' "$DOCKERD_JSON" >"$ENGINE_STATE/daemon.json"
	printf '%s' "${args[*]} $DOCKERD_JSON" >"$DOCKERD_CONF"
	log "starting dockerd on unix://$DOCKER_SOCK"
	# dockerd finds containerd-shim-runc-v2 and runc on PATH.
	PATH=$ENGINE_BIN:$PATH setsid "$ENGINE_BIN/dockerd" "${args[@]}" >"$ENGINE_STATE/dockerd.log" 2>&1 </dev/null &
	write_pid "$DOCKERD_PID" $! "$DOCKER_SOCK"
	for _ in $(seq 600); do
		"$ENGINE_BIN/docker" -H "unix://$DOCKER_SOCK" version >/dev/null 2>&1 && return
		pid_exists "$DOCKERD_PID" || break
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
	save_forwarding
	bridge_up
	containerd_up
	dockerd_up
	cli_config_up
}

down() {
	# dockerd stops its containers first (up to 15 s each, by default).
	stop_pid "$DOCKERD_PID" 30
	stop_pid "$CTD_PID"
	rm -f "$DOCKER_SOCK" "$CTD_SOCK" "$CTD_SOCK.ttrpc"
	unmount_under "$ENGINE_STATE"
	bridge_down
	restore_forwarding
}

# unmount_under DIR detaches every mount below DIR, deepest first: dockerd
# bind-mounts its data root on itself, and one that was killed leaves that
# and its containers' root file systems mounted, so the state could not be
# removed.
unmount_under() {
	awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" || log "warning: could not unmount $m"; done
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
