# shellcheck shell=bash
# Shared settings for the hack/ scripts. Everything big lives outside the
# repository, under LLBGEN_CACHE; everything that belongs to one running test
# bed (daemon state, sockets, pid files, the env file) lives under LLBGEN_STATE.
set -euo pipefail

LLBGEN_CACHE=${LLBGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llbgen}
LLBGEN_STATE=${LLBGEN_STATE:-$LLBGEN_CACHE/testbed}
BUILDKIT_VERSION=${BUILDKIT_VERSION:-v0.34.2}
CRANE_VERSION=${CRANE_VERSION:-v0.22.1}
TOOLS_BIN=$LLBGEN_CACHE/bin
BUILDKIT_BIN=$TOOLS_BIN/buildkit-$BUILDKIT_VERSION
CRANE=$TOOLS_BIN/crane-$CRANE_VERSION/crane

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

# pid_alive PIDFILE: true when the pid file names a running process.
pid_alive() {
	[[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}
