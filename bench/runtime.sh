#!/usr/bin/env bash
# Cost of ovlbox-runtime under Docker: `docker run --rm IMAGE true` of a busybox image with a
# workspace bind mount, on a private dockerd (docker.io; vfs, no bridge, its own containerd),
# with the default runtime (runc) against ovlbox-runtime as runtime "ovlbox" (runtimeArgs
# ["--ovlbox-env"]) without a workspace asked (it reads config.json and leaves it) and with one
# (-e OVLBOX_WORKSPACE=/workspace: it rewrites config.json, and ovlbox-hook mounts and applies).
# bench/timeit runs them interleaved after warm-up rounds; prints the table and the ratios. A
# 0.3 s `docker run` varies more than what the wrapper adds: there is no target.
#
# Usage: bench/runtime.sh [ROUNDS]   (default 30; OVLBOX_BUILD: where bin/ and bench/timeit
#        are, default build/rel; OUT: also append the rows to $OUT/summary.tsv). Needs root and
#        docker.io.
set -euo pipefail

cd "$(dirname "$0")/.."
rounds=${1:-30}
results=${OUT:-}
build=${OVLBOX_BUILD:-$PWD/build/rel}
for f in "$build/bin/ovlbox-runtime" "$build/bin/ovlbox-hook" "$build/bench/timeit"; do
	[[ -x $f ]] || {
		echo "bench/runtime.sh: $f: not built (make bench builds it)" >&2
		exit 1
	}
done
[[ $(id -u) -eq 0 ]] || {
	echo "bench/runtime.sh: needs root (dockerd)" >&2
	exit 1
}
export OVLBOX_RUNTIME=$build/bin/ovlbox-runtime OVLBOX_HOOK=$build/bin/ovlbox-hook
# shellcheck source=tests/lib/bundle.bash
source tests/lib/bundle.bash
# shellcheck source=tests/lib/runtime.bash
source tests/lib/runtime.bash
OVL_T=$(mktemp -d /var/tmp/ovlbox-bench-runtime.XXXXXX)
d=$OVL_T/docker
mkdir -p "$d" "$OVL_T/ws"
DOCKERD_PID=
trap 'rt_daemon_stop "$DOCKERD_PID"; rm -rf "$OVL_T"' EXIT
for i in $(seq 1 100); do echo "$i" >"$OVL_T/ws/f$i"; done
ovl_rootfs "$OVL_T/rootfs"
jq -n --arg rt "$OVLBOX_RUNTIME" '{"runtimes": {"ovlbox": {"path": $rt, "runtimeArgs": ["--ovlbox-env"]}},
	"iptables": false, "ip6tables": false, "bridge": "none", "storage-driver": "vfs"}' >"$d/daemon.json"
rt_dockerd_start "$d"
tar -C "$OVL_T/rootfs" -c . | rt_docker import - ovlbox-bench:1 >/dev/null

dr="$DOCKER -H unix://$DOCKER_SOCK run --rm --network none -v $OVL_T/ws:/workspace"
title="ovlbox-runtime cost: \`docker run --rm true\` (Docker 20.10, runc)"
"$build/bench/timeit" -a -C -r "$rounds" -w 3 -u ms -t "$title" -o "$OVL_T/summary.tsv" \
	"docker run (runc)" "$dr ovlbox-bench:1 true" \
	"docker run --runtime ovlbox (no workspace)" "$dr --runtime ovlbox ovlbox-bench:1 true" \
	"docker run --runtime ovlbox -e OVLBOX_WORKSPACE" "$dr --runtime ovlbox -e OVLBOX_WORKSPACE=/workspace ovlbox-bench:1 true"
[[ ! -e $OVL_T/ws.upper ]] || {
	echo "bench/runtime.sh: the workspace's upper was left behind" >&2
	exit 1
}
echo
awk -F'\t' '{ printf "%s: %.3f × docker run (runc)\n", $2, $6 }' "$OVL_T/summary.tsv"
[[ -z $results ]] || cat "$OVL_T/summary.tsv" >>"$results/summary.tsv"
