#!/usr/bin/env bash
# Makes sure a BuildKit daemon answers at BuildKit's default address,
# unix:///run/buildkit/buildkitd.sock, for `make build`. When one already
# answers there, it does nothing. Otherwise it installs buildkitd (see
# install-tools.sh) and starts it as root with BuildKit's default root,
# /var/lib/buildkit, pulling from the real registries (no stand-ins here: for
# those, see testbed.sh).
#
#   hack/buildkitd.sh        start unless running
#   hack/buildkitd.sh down   stop the daemon this script started
source "$(dirname "$0")/lib.sh"

ADDR=unix:///run/buildkit/buildkitd.sock
PIDFILE=/run/buildkit/llbgen-buildkitd.pid

case ${1:-up} in
up)
	if command -v buildctl >/dev/null && buildctl --addr "$ADDR" debug workers >/dev/null 2>&1; then
		exit 0
	fi
	[[ $(id -u) == 0 ]] || die "no daemon answers at $ADDR, and starting one needs root; or set BUILDKIT_HOST"
	"$(dirname "$0")/install-tools.sh"
	if "$BUILDKIT_BIN/buildctl" --addr "$ADDR" debug workers >/dev/null 2>&1; then
		exit 0
	fi
	start_buildkitd "$ADDR" /var/lib/buildkit "" "$PIDFILE" "$LLBGEN_CACHE/buildkitd-default.log"
	;;
down) stop_pid "$PIDFILE" ;;
*) die "usage: hack/buildkitd.sh [up|down]" ;;
esac
