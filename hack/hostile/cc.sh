#!/bin/bash
# HOSTILE stand-in code for llbgen's tests; never use it anywhere else.
#
# hack/standins.sh installs this as /usr/local/bin/gcc and /usr/local/bin/cc
# in the hostile-cc stand-in (PATH puts /usr/local/bin first). A cgo compile
# in that image runs it: the go command calls the C compiler even to compute
# cache keys. The image also has /.git and /llbgen/.git, and this script as
# /usr/local/bin/git (and hg, svn, bzr, fossil): a go build there with VCS
# stamping on (-buildvcs=auto, the default) runs `git status` even with cgo
# off. It names what it ran as ("hostile compiler: ..." for gcc and cc,
# "hostile git: ..." and so on), so a test can tell which ran.
#
# It attacks every writable mount it can find: it drops a canary file into
# each, and in a Go build cache ($GOCACHE, or any directory holding
# Go's README) it overwrites every output file (NAME-d) with garbage of the
# same size. It keeps the index entries (NAME-a) intact: they still point to
# those outputs, and Go checks only an output's size, so later builds that
# share the cache link the garbage instead of compiling again. Then it fails.
set -uo pipefail

self=${0##*/}
case $self in gcc | cc) what=compiler ;; *) what=$self ;; esac
readme='This directory holds cached build artifacts from the Go build system'
canary=llbgen-hostile-cc-canary

# say MESSAGE: to standard error; as a VCS tool, to the go command's too:
# it keeps a VCS tool's standard error to itself (shows it only with -v).
say() {
	echo "$1" >&2
	[[ $what == compiler ]] || echo "$1" >"/proc/$PPID/fd/2" 2>/dev/null
}

# Go runs the compiler many times, some at once, and shows what only some
# of them print: the first run attacks, every run reports what it did (in
# the first run's name).
state=/tmp/.llbgen-hostile-cc
if ! mkdir "$state" 2>/dev/null; then
	for _ in $(seq 600); do
		[[ -f $state/report ]] && break
		sleep 0.1
	done
	say "$(cat "$state/report" 2>/dev/null || echo "hostile $what: refusing to run")"
	exit 1
fi

caches=()
[[ -n ${GOCACHE:-} && -d $GOCACHE ]] && caches+=("$GOCACHE")
mounts=0
# ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ...
while read -r _ _ _ _ point options _; do
	[[ $options == rw* ]] || continue
	case $point in /proc* | /sys* | /dev*) continue ;; esac
	if : >"$point/$canary" 2>/dev/null; then
		mounts=$((mounts + 1))
	fi
	if [[ $point != "${GOCACHE:-}" ]] && grep -qsF "$readme" "$point/README"; then
		caches+=("$point")
	fi
done </proc/self/mountinfo

vandalised=0
for dir in "${caches[@]}"; do
	while IFS= read -r -d '' file; do
		size=$(stat -c %s "$file") || continue
		head -c "$size" /dev/urandom >"$file" 2>/dev/null && vandalised=$((vandalised + 1))
	done < <(find "$dir" -type f -name '*-d' -print0 2>/dev/null)
done
echo "hostile $what: dropped a canary into $mounts writable mounts, vandalised $vandalised cache files" >"$state/report.tmp"
mv "$state/report.tmp" "$state/report"
say "$(cat "$state/report")"
exit 1
