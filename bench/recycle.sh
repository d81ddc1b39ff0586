#!/usr/bin/env bash
# Recycled runners: the cost of one action in a container kept alive (`exec` + `ovlbox-hook
# unmount` + `ovlbox-hook mount`) against a fresh container per action (`run` with the hook at
# createRuntime + poststop), for runc and podman, with an action that changes nothing and one
# that makes 1,000 changes (1,000 files written). Also `unmount` + `mount` alone, with no
# changes, on runc, against the shell that runs them (`sh -c :`). bench/timeit runs the cases
# interleaved after a warm-up, every other round in reverse order. Prints the tables and the two
# targets as met or not: unmount + mount with no changes <= 3 ms on runc; recycled per-action
# cost <= 1/3 of a fresh podman container per action.
#
# Usage: bench/recycle.sh   (env ROUNDS, default 20; WARMUP, default 2; OVLBOX_BUILD, default
#        build/rel; OUT: also append the rows to $OUT/summary.tsv). Needs root, runc, podman,
#        busybox-static.
set -euo pipefail

cd "$(dirname "$0")/.."
rounds=${ROUNDS:-20}
warmup=${WARMUP:-2}
results=${OUT:-} # OUT is the bundles' /out below
build=${OVLBOX_BUILD:-$PWD/build/rel}
export OVLBOX_HOOK=${OVLBOX_HOOK:-$build/bin/ovlbox-hook}
hook=$OVLBOX_HOOK
timeit=$build/bench/timeit
for f in "$hook" "$timeit"; do
	[[ -x $f ]] || {
		echo "bench/recycle.sh: $f: not built (make bench builds it)" >&2
		exit 1
	}
done
[[ $(id -u) -eq 0 ]] || {
	echo "bench/recycle.sh: needs root (runc, podman)" >&2
	exit 1
}

# shellcheck source=tests/lib/bundle.bash
source tests/lib/bundle.bash
OVL_T=$(mktemp -d /tmp/ovlbox-rec.XXXXXX)
export OVL_PODMAN_DIR=$OVL_T/podman
IMAGE=localhost/ovlbox-bench-busybox
cleanup() {
	ovl_runc delete -f bench-recycled >/dev/null 2>&1 || true
	ovl_runc delete -f bench-recycled-1k >/dev/null 2>&1 || true
	ovl_podman rm -af -t 0 >/dev/null 2>&1 || true
	ovl_podman rmi -af >/dev/null 2>&1 || true
	rm -rf "$OVL_T"
}
trap cleanup EXIT
ovl_rootfs "$OVL_T/rootfs"
# The actions, as scripts in the image: nothing, or 1,000 files written (the same files every
# round: after the first, 1,000 modifications).
echo true >"$OVL_T/rootfs/act-0"
# shellcheck disable=SC2016 # expands in the container
echo 'cd /workspace && i=0 && while [ $i -lt 1000 ]; do echo $i >f$i; i=$((i + 1)); done' \
	>"$OVL_T/rootfs/act-1k"
ovl_spec_template "$OVL_T/spec.json"
mkdir -p "$OVL_PODMAN_DIR/tmp" "$OVL_T/out" "$OVL_T/hooks.d"
ovl_podman_import "$OVL_T/rootfs" "$IMAGE"
sed "s|@BINDIR@|$(dirname "$hook")|" examples/hooks.d/ovlbox.json >"$OVL_T/hooks.d/ovlbox.json"
OUT=$OVL_T/out

# workspace NAME: a workspace with 100 files.
workspace() {
	mkdir -p "$OVL_T/$1"
	for i in $(seq 1 100); do echo "$i" >"$OVL_T/$1/in$i"; done
}

# bundle NAME WS CMD_JSON: a runc bundle with the hook (without --log, as installed).
bundle() {
	B=$OVL_T/$1 WS=$2 LOG=/dev/null ovl_make_bundle createRuntime \
		"$(ovl_ann org.ovlbox.workspace=/workspace)" "$3"
	jq '.hooks[][].args |= map(select(. != "--log" and (startswith("/") | not)))' \
		"$OVL_T/$1/config.json" >"$OVL_T/$1/config.new"
	mv "$OVL_T/$1/config.new" "$OVL_T/$1/config.json"
}

runc_r="runc --root $OVL_T/runc-state"
podman_r="podman --root $OVL_PODMAN_DIR/root --runroot $OVL_PODMAN_DIR/runroot --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --tmpdir $OVL_PODMAN_DIR/tmp"
podman_run="$podman_r --hooks-dir $OVL_T/hooks.d run --rm --runtime $(command -v runc) ${OVL_PODMAN_RUN_FLAGS[*]}"

# Runners, started once: runc (0 and 1,000 changes) and podman (the same two).
for n in 0 1k; do
	workspace "ws-rec-$n"
	bundle "rec-$n" "$OVL_T/ws-rec-$n" '["sleep", "100000"]'
	id=bench-recycled
	[[ $n == 1k ]] && id=bench-recycled-1k
	ovl_runc run -d -b "$OVL_T/rec-$n" "$id" </dev/null >/dev/null
	ovl_runc state "$id" >"$OVL_T/state-runc-$n.json"
	workspace "ws-pod-$n"
	ovl_podman --hooks-dir "$OVL_T/hooks.d" run -d --name "bench-pod-$n" --runtime "$(command -v runc)" \
		"${OVL_PODMAN_RUN_FLAGS[@]}" -v "$OVL_T/ws-pod-$n:/workspace" \
		--annotation org.ovlbox.workspace=/workspace $IMAGE sleep 100000 >/dev/null
	ovl_podman inspect "bench-pod-$n" | jq -c '.[0] | {ociVersion: "1.0.2", id: .Id,
		status: .State.Status, pid: .State.Pid, bundle: (.OCIConfigPath | rtrimstr("/config.json"))}' \
		>"$OVL_T/state-pod-$n.json"
done
# Fresh containers: a runc bundle per action kind, podman run --rm.
workspace ws-fresh-0
workspace ws-fresh-1k
bundle fresh-0 "$OVL_T/ws-fresh-0" '["sh", "/act-0"]'
bundle fresh-1k "$OVL_T/ws-fresh-1k" '["sh", "/act-1k"]'
workspace ws-pfresh-0
workspace ws-pfresh-1k

# recycled RUNTIME_EXEC STATE N: one recycled action (/act-N) as a shell command.
recycled() {
	printf "sh -c '%s sh /act-%s && %s unmount <%s && %s mount <%s'" "$1" "$3" "$hook" "$2" \
		"$hook" "$2"
}

summary=$OVL_T/summary.tsv
: >"$summary"
common=(-a -C -r "$rounds" -w "$warmup" -u ms -o "$summary")

"$timeit" "${common[@]}" -t "recycle stages (runc, 0 changes)" \
	"sh -c : (the shell alone)" "sh -c :" \
	"unmount + mount" "sh -c '$hook unmount <$OVL_T/state-runc-0.json && $hook mount <$OVL_T/state-runc-0.json'"

for n in 0 1k; do
	label="0 changes"
	[[ $n == 1k ]] && label="1,000 changes"
	id=bench-recycled
	[[ $n == 1k ]] && id=bench-recycled-1k
	echo
	"$timeit" "${common[@]}" -t "recycle runc $n" \
		"runc run + hook (fresh container, $label)" "$runc_r run -b $OVL_T/fresh-$n bench-fresh-$n" \
		"runc exec + unmount + mount (recycled, $label)" \
		"$(recycled "$runc_r exec $id" "$OVL_T/state-runc-$n.json" "$n")"
	echo
	"$timeit" "${common[@]}" -t "recycle podman $n" \
		"podman run --rm + hook (fresh container, $label)" \
		"$podman_run -v $OVL_T/ws-pfresh-$n:/workspace --annotation org.ovlbox.workspace=/workspace $IMAGE sh /act-$n" \
		"podman exec + unmount + mount (recycled, $label)" \
		"$(recycled "$podman_r exec bench-pod-$n" "$OVL_T/state-pod-$n.json" "$n")"
done

[[ -z $results ]] || cat "$summary" >>"$results/summary.tsv" # for bench/run.sh's goals
# med TITLE NAME_PREFIX: a row's median.
med() {
	awk -F'\t' -v t="$1" -v n="$2" '$1 == t && index($2, n) == 1 { print $3; exit }' "$summary"
}
stages=$(awk -v a="$(med "recycle stages (runc, 0 changes)" "unmount + mount")" \
	-v b="$(med "recycle stages (runc, 0 changes)" "sh -c :")" 'BEGIN { printf "%.2f", a - b }')
echo
echo "Targets:"
echo
awk -v s="$stages" 'BEGIN { printf "- unmount + mount with no changes on runc: %.2f ms over the shell that runs them (target <= 3 ms): %s\n", s, (s <= 3 ? "met" : "**missed**") }'
for n in 0 1k; do
	awk -v r="$(med "recycle podman $n" "podman exec")" -v f="$(med "recycle podman $n" "podman run")" -v n="$n" \
		'BEGIN { printf "- podman, %s: recycled %.1f ms / fresh %.1f ms = %.3f (target <= 0.333): %s\n",
			(n == "0" ? "0 changes" : "1,000 changes"), r, f, r / f, (r / f <= 1 / 3 ? "met" : "**missed**") }'
done
echo
echo "Kernel $(uname -r), $(runc --version | head -1), $(podman --version), $(nproc) CPUs; $rounds rounds."
