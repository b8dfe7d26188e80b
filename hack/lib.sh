# shellcheck shell=bash
# Shared settings for the hack/ scripts. Everything big lives outside the
# repository, under LLBGEN_CACHE; everything that belongs to one running test
# bed (daemon state, sockets, pid files, the env file) lives under LLBGEN_STATE.
set -euo pipefail
# With pipefail, never pipe into `grep -q`: grep exits at its first match and
# the writer's SIGPIPE fails the pipeline; let grep read all (>/dev/null).

LLBGEN_CACHE=${LLBGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llbgen}
LLBGEN_STATE=${LLBGEN_STATE:-$LLBGEN_CACHE/testbed}
BUILDKIT_VERSION=${BUILDKIT_VERSION:-v0.34.2}
CRANE_VERSION=${CRANE_VERSION:-v0.22.1}
BUILDX_VERSION=${BUILDX_VERSION:-v0.38.2}
# syft, the SBOM generator in the test bed's scanner stand-in (standins.sh).
SYFT_VERSION=${SYFT_VERSION:-v1.57.1}
# The test bed's Docker Engine (hack/engine.sh).
MOBY_VERSION=${MOBY_VERSION:-v2.0.0-beta.24}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
DOCKER_CLI_VERSION=${DOCKER_CLI_VERSION:-v29.9.3+incompatible}
TOOLS_BIN=$LLBGEN_CACHE/bin
BUILDKIT_BIN=$TOOLS_BIN/buildkit-$BUILDKIT_VERSION
CRANE=$TOOLS_BIN/crane-$CRANE_VERSION/crane
BUILDX=$TOOLS_BIN/buildx-$BUILDX_VERSION/buildx
SYFT=$TOOLS_BIN/syft-$SYFT_VERSION/syft

log() { printf '[hack] %s\n' "$*" >&2; }
die() { printf '[hack] error: %s\n' "$*" >&2; exit 1; }

# free_port prints a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# pid_alive PIDFILE: true when the pid file names a running process that is
# still the one started (its command line names the program recorded beside
# the pid), not another that reused the number after a reboot.
pid_alive() {
	[[ -s $1 ]] || return 1
	local pid prog
	read -r pid prog <"$1"
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
	[[ -z $prog ]] || tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -F -- "$prog" >/dev/null
}

# pid_exists PIDFILE: the process it names still exists, whatever it runs:
# for the waits right after a start, where the child may not have exec'd
# its program yet (its command line is still the shell's, and pid_alive,
# which checks the program, would take it for dead).
pid_exists() {
	local pid
	[[ -s $1 ]] && read -r pid _ <"$1" && [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# write_pid PIDFILE PID PROGRAM
write_pid() { echo "$2 $3" >"$1"; }

# stop_pid PIDFILE [SECONDS]: stops the process it names, politely first:
# SIGKILL after SECONDS (10).
stop_pid() {
	local file=$1 wait=${2:-10}
	if pid_alive "$file"; then
		local pid
		read -r pid _ <"$file"
		kill "$pid" 2>/dev/null || true
		for _ in $(seq $((wait * 10))); do pid_alive "$file" || break; sleep 0.1; done
		pid_alive "$file" && kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$file"
}

# start_buildkitd ADDR ROOT CONFIG PIDFILE LOG: starts buildkitd (OCI worker,
# runc) in the background and waits until it answers.
start_buildkitd() {
	local addr=$1 root=$2 conf=$3 pidfile=$4 logfile=$5
	log "starting buildkitd on $addr"
	mkdir -p "$root" "$(dirname "$pidfile")" "$(dirname "$logfile")"
	local args=(--oci-worker=true --containerd-worker=false --root "$root" --addr "$addr")
	[[ -n $conf ]] && args=(--config "$conf" "${args[@]}")
	setsid "$BUILDKIT_BIN/buildkitd" "${args[@]}" >"$logfile" 2>&1 </dev/null &
	write_pid "$pidfile" $! "$addr"
	for _ in $(seq 300); do
		"$BUILDKIT_BIN/buildctl" --addr "$addr" debug workers >/dev/null 2>&1 && return
		pid_exists "$pidfile" || break
		sleep 0.1
	done
	tail -30 "$logfile" >&2
	die "buildkitd did not come up on $addr (log: $logfile)"
}

# go_module_build [--prepare STEP] MODULE VERSION OUTDIR PKG...: builds PKGs
# of MODULE@VERSION with -mod=mod. STEP, one of go_module_prepare's, runs in
# the copy first. Nothing here comes from the environment but Go's own
# settings (GOPROXY and the like): this runs as root, and a command or flag
# in a variable would run with it.
# `go install mod@v` refuses modules whose go.mod has exclude directives
# (buildkit's does), so build inside a writable copy of the module instead.
go_module_build() {
	local prepare=
	if [[ ${1:-} == --prepare ]]; then
		prepare=$2
		shift 2
		go_module_prepare "$prepare" --check
	fi
	local module=$1 version=$2 out=$3
	shift 3
	local dir src
	dir=$(GOFLAGS=-mod=mod go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
	src=$(mktemp -d "$LLBGEN_CACHE/src.XXXXXX")
	# shellcheck disable=SC2064 # expand now: the trap outlives the local
	trap "rm -rf '$src' '$out.tmp'" RETURN
	cp -a "$dir/." "$src/"
	chmod -R u+w "$src"
	[[ -z $prepare ]] || (cd "$src" && go_module_prepare "$prepare") || die "go_module_build: preparing $module@$version ($prepare) failed"
	rm -rf "$out.tmp"
	mkdir -p "$out.tmp"
	(cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$out.tmp/" "$@")
	rm -rf "$out"
	mv "$out.tmp" "$out"
}

# go_module_prepare STEP [--check]: runs STEP, a known preparation of a
# module's copy, in the current directory; with --check, only refuses an
# unknown one.
go_module_prepare() {
	case $1 in
	docker-cli)
		# docker/cli has no go.mod: its module file is vendor.mod, which
		# its own scripts copy into place the same way. The module proxy
		# refuses one of its dependencies (github.com/moby/swarmkit/v2
		# v2.1.3): v2.0.0 builds the CLI.
		[[ ${2:-} == --check ]] && return
		cp vendor.mod go.mod && cp vendor.sum go.sum && rm -rf vendor &&
			go mod edit -replace github.com/moby/swarmkit/v2=github.com/moby/swarmkit/v2@v2.0.0
		;;
	*) die "go_module_build: no preparation named '$1' (known: docker-cli)" ;;
	esac
}
