#!/usr/bin/env bash
# A recycled runner, the way an executor drives one: one runc container started once with
# ovlbox-hook (createRuntime + poststop), N actions run through `runc exec`, and between two
# actions: `ovlbox-hook unmount --stats` (the outputs are now in the workspace: read and upload
# them), the next action's inputs staged into the workspace as hardlinks from a file cache, and
# `ovlbox-hook mount` (a fresh copy-on-write view). The container's stop applies the last
# action at poststop.
#
# Usage: examples/recycle.sh [N]   (default 3; needs root, runc and busybox-static; env
#        OVLBOX_HOOK: the hook binary, default build/rel/bin/ovlbox-hook)
set -euo pipefail

cd "$(dirname "$0")/.."
n=${1:-3}
hook=${OVLBOX_HOOK:-$PWD/build/rel/bin/ovlbox-hook}
[[ -x $hook ]] || {
	echo "examples/recycle.sh: $hook: not built (make)" >&2
	exit 1
}
top=$(mktemp -d /tmp/ovlbox-recycle.XXXXXX)
id=ovlbox-recycle-$$
trap 'runc --root "$top/state" delete -f "$id" >/dev/null 2>&1 || true; rm -rf "$top"' EXIT

# A busybox rootfs and a bundle: the workspace bound at /workspace, init `sleep`, the hook.
mkdir -p "$top"/rootfs/{bin,proc,sys,dev,tmp,workspace} "$top/ws" "$top/cache" "$top/bundle"
cp /bin/busybox "$top/rootfs/bin/busybox"
for a in $("$top/rootfs/bin/busybox" --list); do
	[[ $a == busybox ]] || ln -s busybox "$top/rootfs/bin/$a"
done
(cd "$top/bundle" && runc spec)
jq --arg rootfs "$top/rootfs" --arg ws "$top/ws" --arg hook "$hook" '
	.root = {path: $rootfs, readonly: false} | .process.terminal = false
	| .process.args = ["sleep", "infinity"]
	| .mounts += [{destination: "/workspace", type: "bind", source: $ws, options: ["rbind", "rw"]}]
	| .annotations = {"org.ovlbox.workspace": "/workspace"}
	| .hooks = {createRuntime: [{path: $hook, args: ["ovlbox-hook", "createRuntime"]}],
	            poststop: [{path: $hook, args: ["ovlbox-hook", "poststop"]}]}' \
	"$top/bundle/config.json" >"$top/config.json"
mv "$top/config.json" "$top/bundle/config.json"

# The file cache, and the first action's input staged as a hardlink.
for ((i = 1; i <= n; i++)); do
	echo "input of action $i" >"$top/cache/input$i"
	chmod 0444 "$top/cache/input$i"
done
ln "$top/cache/input1" "$top/ws/input1"

runc --root "$top/state" run -d -b "$top/bundle" "$id" </dev/null
for ((i = 1; i <= n; i++)); do
	echo "== action $i"
	# The action writes through the input's cache link (into its upper layer only).
	runc --root "$top/state" exec "$id" sh -c \
		"cd /workspace && cat input$i >output$i && chmod 0644 input$i &&
		echo 'changed by action $i' >>input$i" </dev/null
	[[ $i -lt $n ]] || break # the last one is applied when the container stops
	runc --root "$top/state" state "$id" >"$top/state.json"
	"$hook" unmount --stats "$top/stats$i.json" <"$top/state.json"
	echo "changes: $(jq -c . "$top/stats$i.json")"
	echo "upload output$i: $(cat "$top/ws/output$i")"
	echo "the cache is intact: $(cat "$top/cache/input$i")"
	ln "$top/cache/input$((i + 1))" "$top/ws/input$((i + 1))"
	"$hook" mount <"$top/state.json"
done
runc --root "$top/state" kill "$id" KILL
while [[ $(runc --root "$top/state" state "$id" | jq -r .status) != stopped ]]; do sleep 0.05; done
runc --root "$top/state" delete "$id"
echo "== after the container: $(cd "$top/ws" && echo *)"
echo "output$n: $(cat "$top/ws/output$n")"
