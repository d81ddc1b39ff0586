#!/usr/bin/env bats
# ovlbox-hook with podman as root, wired the way users wire it: the hooks.d file from
# examples/hooks.d (annotation-triggered, createRuntime + poststop, no STAGE argument) via
# --hooks-dir, and --annotation org.ovlbox.workspace=... on podman run. Podman runs poststop
# itself, with an empty environment (only PWD); its storage is private to this file (vfs).

# Variables set inside a test stay in it on purpose; sh -c scripts are single-quoted on purpose.
# shellcheck disable=SC2030,SC2031,SC2016

load lib/bundle

IMAGE=localhost/ovlbox-busybox

setup_file() {
	ovl_podman_suite_setup "$IMAGE"
	# An image whose /workspace is a symlink (runc follows it inside the rootfs; the hook refuses).
	# Not /etc: podman bind-mounts /etc/hosts and /etc/hostname, and runc would create those
	# mount points inside the workspace bind-mounted there before any hook runs.
	mkdir -p "$OVL_T/rootfs-evil" && cp -a "$OVL_T/rootfs/." "$OVL_T/rootfs-evil/"
	rmdir "$OVL_T/rootfs-evil/workspace"
	ln -s /usr "$OVL_T/rootfs-evil/workspace"
	ovl_podman_import "$OVL_T/rootfs-evil" "$IMAGE-evil"
	# The crun wrapper podman can use as its runtime (DESIGN §5).
	: >"$OVL_T/empty"
	cat >"$OVL_T/crun-wrap" <<EOF
#!/bin/sh
exec unshare -m --propagation private sh -c 'mount --bind "\$0" /sys/fs/cgroup/unified/cgroup.controllers && exec crun "\$@"' $OVL_T/empty "\$@"
EOF
	chmod +x "$OVL_T/crun-wrap"
}

teardown_file() {
	ovl_podman rm -af -t 0 >/dev/null 2>&1 || true
	ovl_podman rmi -af >/dev/null 2>&1 || true
}

setup() {
	ovl_case_setup
	# The example hooks.d file, installed as `make install` does, plus --log for this test.
	mkdir -p "$C/hooks.d"
	sed "s|@BINDIR@|$(dirname "$OVLBOX_HOOK")|" "$OVLBOX_SRC/examples/hooks.d/ovlbox.json" |
		jq --arg log "$LOG" '.hook.args += ["--log", $log]' >"$C/hooks.d/ovlbox.json"
	RUNTIME=$(command -v runc)
}

teardown() {
	ovl_podman rm -f -t 0 "$ID" >/dev/null 2>&1 || true
}

# podman_run [podman run options...] -- IMAGE CMD...: runs with the hooks dir, the machine's
# flags, the workspace at /workspace and $OUT at /out.
podman_run() {
	run ovl_podman --hooks-dir "$C/hooks.d" run --name "$ID" --runtime "$RUNTIME" \
		"${OVL_PODMAN_RUN_FLAGS[@]}" -v "$WS:/workspace" -v "$OUT:/out" \
		-e SNAP="$OVL_SNAPSHOT_SH" "$@"
}

# Records the state and environment podman gives poststop hooks (to replay them).
add_recorder() {
	cat >"$C/record.sh" <<EOF
#!/bin/sh
cat >"$C/state-\$(date +%s%N).json"
env >"$C/env.txt"
EOF
	chmod +x "$C/record.sh"
	jq --arg p "$C/record.sh" '.hook.path = $p | .hook.args = ["record"] | .stages = ["poststop"]' \
		"$C/hooks.d/ovlbox.json" >"$C/hooks.d/zz-record.json"
}

@test "podman (runc): the workspace ends as the container saw it, the cache is intact" {
	podman_run --rm --annotation org.ovlbox.workspace=/workspace $IMAGE sh -c "$OVL_ACTION_SH"
	[[ $status -eq 0 ]] || fail "podman: $output"
	ovl_assert_applied
	grep -q 'mounted the overlay of .* on /workspace' "$LOG"
	grep -q 'applied .* 9 added, 5 modified, 8 deleted' "$LOG"
}

@test "podman (crun): the workspace ends as the container saw it" {
	RUNTIME=$OVL_T/crun-wrap
	podman_run --rm --annotation org.ovlbox.workspace=/workspace $IMAGE sh -c "$OVL_ACTION_SH"
	[[ $status -eq 0 ]] || fail "podman: $output"
	ovl_assert_applied
}

@test "podman, on-exit discard: the workspace is untouched" {
	podman_run --rm --annotation org.ovlbox.workspace=/workspace \
		--annotation org.ovlbox.on-exit=discard $IMAGE sh -c "$OVL_ACTION_SH"
	[[ $status -eq 0 ]] || fail "podman: $output"
	ovl_assert_discarded
}

@test "podman, on-exit keep: ovlbox apply applies the upper later" {
	podman_run --rm --annotation org.ovlbox.workspace=/workspace \
		--annotation org.ovlbox.on-exit=keep $IMAGE sh -c "$OVL_ACTION_SH"
	[[ $status -eq 0 ]] || fail "podman: $output"
	ovl_assert_kept
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail "ovlbox apply: $output"
	ovl_assert_applied
}

@test "podman, custom upper and work dirs (absolute root.path from podman storage)" {
	mkdir "$C/layers"
	podman_run --rm --annotation org.ovlbox.workspace=/workspace \
		--annotation org.ovlbox.upperdir="$C/layers/u" --annotation org.ovlbox.workdir="$C/layers/w" \
		$IMAGE sh -c "$OVL_ACTION_SH"
	[[ $status -eq 0 ]] || fail "podman: $output"
	ovl_assert_applied
	[[ -z $(ls -A "$C/layers") ]]
}

@test "podman, no annotation: the hooks.d file does not match, the hook never runs" {
	podman_run --rm $IMAGE sh -c 'echo direct > /workspace/mod.txt'
	[[ $status -eq 0 ]] || fail "podman: $output"
	[[ $(cat "$WS/mod.txt") == direct ]]
	[[ ! -e $LOG ]]
	ovl_assert_no_layers
}

@test "podman: poststop twice (replayed as podman runs it: empty environment) is harmless" {
	add_recorder
	podman_run --annotation org.ovlbox.workspace=/workspace $IMAGE sh -c "$OVL_ACTION_SH"
	[[ $status -eq 0 ]] || fail "podman: $output"
	ovl_assert_applied
	local states=("$C"/state-*.json)
	[[ ${#states[@]} -ge 1 && -s ${states[0]} ]] || fail "no poststop state recorded"
	# What podman gives poststop: status stopped, no pid, annotations; only PWD in the env.
	jq -e '.status == "stopped" and (.pid // 0) == 0 and .annotations["org.ovlbox.workspace"] == "/workspace"' \
		"${states[0]}"
	[[ $(grep -vc '^PWD=' "$C/env.txt") -eq 0 ]] || fail "env: $(cat "$C/env.txt")"
	# Again while the container (and its bundle) still exists.
	run env -i "$(grep '^PWD=' "$C/env.txt")" "$OVLBOX_HOOK" --log "$LOG" <"${states[0]}"
	[[ $status -eq 0 && -z $output ]] || fail "second poststop: $output"
	ovl_assert_applied
	run ovl_podman --hooks-dir "$C/hooks.d" rm "$ID"
	[[ $status -eq 0 ]] || fail "podman rm: $output"
	# And after podman removed the bundle: nothing to do.
	run env -i "$OVLBOX_HOOK" poststop --log "$LOG" <"${states[0]}"
	[[ $status -eq 0 && -z $output ]] || fail "third poststop: $output"
	ovl_assert_applied
	[[ $(grep -c 'Z ovlbox-hook: applied ' "$LOG") -eq 1 ]]
	grep -q 'Z ovlbox-hook: no layers of this container on ' "$LOG"
	grep -q 'config.json is gone: nothing to do' "$LOG"
}

@test "podman: a container that never started (init, rm): poststop is harmless" {
	add_recorder
	run ovl_podman --hooks-dir "$C/hooks.d" create --name "$ID" --runtime "$RUNTIME" \
		"${OVL_PODMAN_RUN_FLAGS[@]}" -v "$WS:/workspace" -v "$OUT:/out" \
		--annotation org.ovlbox.workspace=/workspace $IMAGE touch /out/started
	[[ $status -eq 0 ]] || fail "podman create: $output"
	run ovl_podman --hooks-dir "$C/hooks.d" init "$ID"
	[[ $status -eq 0 ]] || fail "podman init: $output"
	# The runtime created the container: the overlay is mounted in its namespace.
	[[ -d $WS.upper ]]
	run ovl_podman --hooks-dir "$C/hooks.d" rm "$ID"
	[[ $status -eq 0 ]] || fail "podman rm: $output"
	[[ ! -e $OUT/started ]]
	ovl_assert_untouched
	ovl_assert_no_layers
	grep -q "no changes to $WS" "$LOG"
	local states=("$C"/state-*.json)
	run env -i "$OVLBOX_HOOK" <"${states[0]}"
	[[ $status -eq 0 && -z $output ]] || fail "poststop after rm: $output"
}

@test "podman refused: the annotation names no mount" {
	podman_run --rm --annotation org.ovlbox.workspace=/nowhere $IMAGE touch /out/started
	ovl_assert_refused "annotation org.ovlbox.workspace: no mount in config.json has destination /nowhere"
}

@test "podman refused: a relative workspace annotation still triggers the hook (fail closed)" {
	podman_run --rm --annotation org.ovlbox.workspace=workspace $IMAGE touch /out/started
	ovl_assert_refused "ovlbox-hook: annotation org.ovlbox.workspace: workspace: not an absolute path"
}

@test "podman refused: the image's /workspace is a symlink out of the rootfs (-> /usr)" {
	podman_run --rm --annotation org.ovlbox.workspace=/workspace $IMAGE-evil touch /out/started
	ovl_assert_refused "workspace destination /workspace: container path /workspace is a symlink in the rootfs (not followed"
}

@test "podman refused: work dir inside the workspace" {
	podman_run --rm --annotation org.ovlbox.workspace=/workspace \
		--annotation org.ovlbox.workdir="$WS/w" $IMAGE touch /out/started
	ovl_assert_refused "workspace $WS and work dir $WS/w overlap: they must be separate trees"
}

@test "podman refused: unknown on-exit" {
	podman_run --rm --annotation org.ovlbox.workspace=/workspace \
		--annotation org.ovlbox.on-exit=sometimes $IMAGE touch /out/started
	ovl_assert_refused "annotation org.ovlbox.on-exit: sometimes is not one of apply, discard, keep"
}

# ---- recycled runners (tests/lib/recycle.bash): podman run -d once, podman exec per action ----

load lib/recycle

recycle_use_podman ovl_podman "${OVL_PODMAN_RUN_FLAGS[@]}"

@test "podman (runc): ten actions in one container, each unmounted, applied and mounted again" {
	recycle_inputs ""
	rt_start
	recycle_actions 10
}

@test "podman (crun): recycled actions" {
	recycle_inputs ""
	RUNTIME=$OVL_T/crun-wrap
	rt_start
	recycle_actions 3
}

@test "podman: a straggler makes unmount exit 3 naming it; --kill unmounts" {
	recycle_inputs ""
	recycle_straggler
}
