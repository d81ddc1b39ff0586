#!/usr/bin/env bash
# Cost of ovlbox-hook: `runc run` of a busybox container with the hook (createRuntime + poststop,
# an action that changes nothing) against the same container without it, and two references:
# runc running a static no-op hook (bench/noophook, linked like ovlbox-hook) at the same two
# stages, which is what runc itself spends on running hooks, and `/bin/true` there (dynamically
# linked: its loading adds ~0.5 ms a stage). bench/timeit runs them interleaved after a warm-up,
# every other round in reverse order (the hook's removals leave the disk busy for the next case:
# it discards freed blocks); runc keeps its state on a tmpfs, as under /run on a standard host. Prints the table
# and the ratio of the medians (goal: at most 1.10).
#
# Usage: bench/hook.sh [RUNS]   (default 300; env OVLBOX_HOOK: the hook binary, default
#        build/rel/bin/ovlbox-hook; OVLBOX_BUILD: where bench/timeit and bench/noophook are,
#        default build/rel; OUT: also append the rows to $OUT/summary.tsv). Needs root, runc
#        and busybox-static.
set -euo pipefail

cd "$(dirname "$0")/.."
runs=${1:-300}
results=${OUT:-} # OUT is the bundles' /out below
warmup=5
build=${OVLBOX_BUILD:-$PWD/build/rel}
export OVLBOX_HOOK=${OVLBOX_HOOK:-$build/bin/ovlbox-hook}
hook=$OVLBOX_HOOK
for f in "$hook" "$build/bench/timeit" "$build/bench/noophook"; do
	[[ -x $f ]] || {
		echo "bench/hook.sh: $f: not built (make bench builds it)" >&2
		exit 1
	}
done
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
# OVL_T in one of ext4's least-used block groups, picked by its random name, not in that of
# /tmp, nor in the one the previous benchmark churned; OVL_T itself without the attribute, so
# upper and work are made next to it (see bench/startup.sh).
chattr +T "$OVL_TOP" 2>/dev/null || true
OVL_T=$(mktemp -d "$OVL_TOP/t.XXXXXX")
trap 'rm -rf "$OVL_TOP"' EXIT
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
# For reference: what runc itself spends on running two hooks (a static no-op, and /bin/true).
mkdir -p "$OVL_T/noop" "$OVL_T/true"
jq --arg p "$build/bench/noophook" '.hooks[][].path = $p' "$OVL_T/hook/config.json" \
	>"$OVL_T/noop/config.json"
jq '.hooks[][].path = "/bin/true"' "$OVL_T/hook/config.json" >"$OVL_T/true/config.json"

r="runc --root $OVL_T/state run"
mkdir -p "$OVL_T/state"
title="ovlbox-hook cost: \`runc run\` with and without the hook"
# shellcheck disable=SC2016 # $0 and $@ expand in the inner sh
unshare -m --propagation private sh -c 'mount -t tmpfs -o mode=0700 tmpfs "$0" && exec "$@"' \
	"$OVL_T/state" "$build/bench/timeit" -a -C -r "$runs" -w "$warmup" -u ms -t "$title" \
	-o "$OVL_T/summary.tsv" ${SAMPLES:+-s "$SAMPLES"} \
	"runc run (workspace bind mount)" "$r -b $OVL_T/plain bench-a" \
	"runc run + ovlbox-hook (createRuntime + poststop, 0 changes)" "$r -b $OVL_T/hook bench-b" \
	"(reference) runc run + static no-op hook at both stages" "$r -b $OVL_T/noop bench-c" \
	"(reference) runc run + /bin/true at both stages" "$r -b $OVL_T/true bench-d"
# The hook really mounted and cleaned up every time.
[[ ! -e $WS.upper && ! -e $WS.work ]] || {
	echo "bench/hook.sh: layers left behind" >&2
	exit 1
}
[[ -z $results ]] || cat "$OVL_T/summary.tsv" >>"$results/summary.tsv" # for bench/run.sh's goals
ratio=$(awk -F'\t' 'NR == 2 { printf "%.3f", $6 }' "$OVL_T/summary.tsv")
noop=$(awk -F'\t' 'NR == 3 { printf "%.3f", $6 }' "$OVL_T/summary.tsv")
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.10) ? "within the 1.10x goal" : "OVER the 1.10x goal" }')
echo
echo "Ratio of medians: **${ratio}x** ($verdict; runc's own cost of two hooks, the static no-op:" \
	"${noop}x). Kernel $(uname -r), $(runc --version | head -1), $(nproc) CPUs."
