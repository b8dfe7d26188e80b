#!/usr/bin/env bash
# Makes sure a BuildKit daemon answers at BuildKit's default address,
# unix:///run/buildkit/buildkitd.sock. When one already answers there, it
# does nothing. Otherwise it installs buildkitd (see install-tools.sh) and
# starts it as root with BuildKit's default root, /var/lib/buildkit, pulling
# from the real registries (no stand-ins here: for those, see testbed.sh).
#
#   hack/buildkitd.sh        start unless running (make buildkitd, make pipe)
#   hack/buildkitd.sh need   for llbgen (make build, make matrix): start one
#                            only when no Docker Engine answers either (llbgen
#                            builds on Docker then) and this runs as root;
#                            otherwise leave it to llbgen, which says what it
#                            found and what to do
#   hack/buildkitd.sh down   stop the daemon this script started
source "$(dirname "$0")/lib.sh"

ADDR=unix:///run/buildkit/buildkitd.sock
PIDFILE=/run/buildkit/llbgen-buildkitd.pid

buildkit_answers() {
	local buildctl
	for buildctl in buildctl "$BUILDKIT_BIN/buildctl"; do
		command -v "$buildctl" >/dev/null && "$buildctl" --addr "$ADDR" debug workers >/dev/null 2>&1 && return 0
	done
	return 1
}

# docker_answers: a Docker Engine answers where llbgen looks for one when no
# BuildKit address is given (DOCKER_HOST, the current Docker context, the
# default socket): where the docker CLI looks.
docker_answers() {
	if command -v docker >/dev/null; then
		docker version --format '{{.Server.Version}}' >/dev/null 2>&1
		return
	fi
	local host=${DOCKER_HOST:-unix:///var/run/docker.sock}
	[[ $host == unix://* && -S ${host#unix://} ]] && command -v curl >/dev/null &&
		curl -fsS --max-time 5 --unix-socket "${host#unix://}" http://docker/_ping >/dev/null 2>&1
}

up() {
	buildkit_answers && exit 0
	[[ $(id -u) == 0 ]] || die "no daemon answers at $ADDR, and starting one needs root; or set BUILDKIT_HOST (buildctl cannot use Docker Engine's own BuildKit; llbgen can: make build)"
	"$(dirname "$0")/install-tools.sh"
	buildkit_answers && exit 0
	start_buildkitd "$ADDR" /var/lib/buildkit "" "$PIDFILE" "$LLBGEN_CACHE/buildkitd-default.log"
}

case ${1:-up} in
up) up ;;
need)
	buildkit_answers && exit 0
	docker_answers && exit 0
	[[ $(id -u) == 0 ]] || exit 0
	up
	;;
down) stop_pid "$PIDFILE" ;;
*) die "usage: hack/buildkitd.sh [up|need|down]" ;;
esac
