#!/usr/bin/env bash
# Cost of ovlbox-hook: `runc run` of a busybox container with the hook (createRuntime + poststop,
# an action that changes nothing) against the same container without it. Runs are interleaved
# (A B C A B C ...) after a warm-up, so drift hits both alike; prints a markdown table with median, min
# and max, and the ratio of the medians (goal: at most 1.10).
#
# Usage: bench/hook.sh [RUNS]   (default 40; env OVLBOX_HOOK: the hook binary, default
#        build/rel/bin/ovlbox-hook). Needs root, runc and busybox-static.
set -euo pipefail

cd "$(dirname "$0")/.."
runs=${1:-40}
warmup=5
export OVLBOX_HOOK=${OVLBOX_HOOK:-$PWD/build/rel/bin/ovlbox-hook}
hook=$OVLBOX_HOOK
[[ -x $hook ]] || {
	echo "bench/hook.sh: $hook: not built (make all)" >&2
	exit 1
}
[[ $(id -u) -eq 0 ]] || {
	echo "bench/hook.sh: needs root (runc)" >&2
	exit 1
}
[[ $runs -ge 5 ]] || {
	echo "bench/hook.sh: at least 5 runs" >&2
	exit 1
}

# shellcheck source=tests/lib/bundle.bash
source tests/lib/bundle.bash
OVL_TOP=$(mktemp -d /tmp/ovlbox-bench-hook.XXXXXX)
# OVL_T in ext4's least-used block group, not in that of /tmp, where other programs' recent
# removals slow every inode allocation on this no-journal ext4; OVL_T itself without the
# attribute, so upper and work are made next to it (see bench/startup.sh).
chattr +T "$OVL_TOP" 2>/dev/null || true
OVL_T=$OVL_TOP/t
mkdir "$OVL_T"
cleanup() {
	local c
	for c in bench-a bench-b bench-c; do
		ovl_runc delete -f "$c" >/dev/null 2>&1 || true
	done
	rm -rf "$OVL_TOP"
}
trap cleanup EXIT
ovl_rootfs "$OVL_T/rootfs"
ovl_spec_template "$OVL_T/spec.json"
mkdir -p "$OVL_T/ws" "$OVL_T/out"
for i in $(seq 1 100); do echo "$i" >"$OVL_T/ws/f$i"; done
WS=$OVL_T/ws
OUT=$OVL_T/out

# Same container either way: workspace bind mount, `true`; B adds the hook and its annotation.
cmd='["true"]'
B=$OVL_T/plain LOG=/dev/null ovl_make_bundle none '{}' "$cmd"
B=$OVL_T/hook LOG=$OVL_T/hook.log ovl_make_bundle createRuntime \
	"$(ovl_ann org.ovlbox.workspace=/workspace)" "$cmd"
# Without --log: the hook as installed.
jq '.hooks[][].args |= map(select(. != "--log" and (startswith("/") | not)))' \
	"$OVL_T/hook/config.json" >"$OVL_T/hook/config.new"
mv "$OVL_T/hook/config.new" "$OVL_T/hook/config.json"
# For reference: what runc itself spends on running two hooks (/bin/true at both stages).
mkdir -p "$OVL_T/true"
jq '.hooks[][].path = "/bin/true"' "$OVL_T/hook/config.json" >"$OVL_T/true/config.json"

# one BUNDLE ID: ms for one `runc run` (to the container's removal, poststop included).
one() {
	local t0 t1
	t0=$(date +%s%N)
	ovl_runc run -b "$1" "$2" </dev/null >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000))
}

for _ in $(seq 1 "$warmup"); do
	one "$OVL_T/plain" bench-a >/dev/null
	one "$OVL_T/hook" bench-b >/dev/null
	one "$OVL_T/true" bench-c >/dev/null
done
a=() b=() t=()
for _ in $(seq 1 "$runs"); do
	a+=("$(one "$OVL_T/plain" bench-a)")
	b+=("$(one "$OVL_T/hook" bench-b)")
	t+=("$(one "$OVL_T/true" bench-c)")
done
# The hook really mounted and cleaned up every time.
[[ ! -e $WS.upper && ! -e $WS.work ]] || {
	echo "bench/hook.sh: layers left behind" >&2
	exit 1
}

# stats US...: "median min max" in microseconds.
stats() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%d %d %d\n", m, v[1], v[NR] }'
}
read -r am amin amax < <(stats "${a[@]}")
read -r bm bmin bmax < <(stats "${b[@]}")
read -r tm tmin tmax < <(stats "${t[@]}")
ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
ratio=$(awk -v a="$am" -v b="$bm" 'BEGIN { printf "%.3f", b / a }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.10) ? "within the 1.10x goal" : "OVER the 1.10x goal" }')

cat <<EOF
### ovlbox-hook cost: \`runc run\` with and without the hook ($runs interleaved runs each, $warmup warm-up)

| variant | median ms | min ms | max ms |
|---|---:|---:|---:|
| runc run (workspace bind mount) | $(ms "$am") | $(ms "$amin") | $(ms "$amax") |
| runc run + ovlbox-hook (createRuntime + poststop, 0 changes) | $(ms "$bm") | $(ms "$bmin") | $(ms "$bmax") |
| (reference) runc run + /bin/true at both stages | $(ms "$tm") | $(ms "$tmin") | $(ms "$tmax") |

Ratio of medians: **${ratio}x** ($verdict). Kernel $(uname -r), $(runc --version | head -1), $(nproc) CPUs.
EOF
