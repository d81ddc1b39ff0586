#!/usr/bin/env bats
# ovlbox-runtime as podman's runtime (`podman --runtime`), podman as root with private storage
# (tests/lib/bundle.bash). Podman passes --runtime-flag options first, so the wrapper's own
# options ride on them; conmon calls create --bundle B --pid-file P ID, start, delete --force.

# Variables set inside a test stay in it on purpose; sh -c scripts are single-quoted on purpose.
# shellcheck disable=SC2030,SC2031,SC2016

load lib/bundle
load lib/runtime

IMAGE=localhost/ovlbox-busybox

setup_file() {
	ovl_podman_suite_setup "$IMAGE"
	# an image whose ENV asks for a workspace (as any image could)
	tar -C "$OVL_T/rootfs" -c . |
		ovl_podman import -q --change 'ENV OVLBOX_WORKSPACE=/workspace' - "$IMAGE-env" >/dev/null
	rt_make_wrapper "$OVL_T/ovlbox-runc"
}

teardown_file() {
	ovl_podman rm -af -t 0 >/dev/null 2>&1 || true
	ovl_podman rmi -af >/dev/null 2>&1 || true
}

setup() {
	rt_case_setup
	rt_wrapper_case
}

teardown() {
	ovl_podman rm -f -t 0 "$ID" >/dev/null 2>&1 || true
}

# podman_rt [podman run options...] -- IMAGE CMD...: podman run through the recording wrapper,
# with the hook's log, the machine's flags, the workspace at /workspace and $OUT at /out.
podman_rt() {
	rt_split_opts "$@"
	set -- "${RT_ARGS[@]}"
	local opts=("${RT_OPTS[@]}")
	run ovl_podman run --name "$ID" --runtime "$OVL_T/ovlbox-runc" \
		--runtime-flag "ovlbox-hook-log=$LOG" "${OVL_PODMAN_RUN_FLAGS[@]}" \
		-v "$WS:/workspace" -v "$OUT:/out" -e SNAP="$OVL_SNAPSHOT_SH" "${opts[@]}" "$@"
}

@test "podman --runtime ovlbox-runtime --annotation: the workspace ends as the container saw it" {
	podman_rt --rm --annotation org.ovlbox.workspace=/workspace -- $IMAGE sh -c "$OVL_ACTION_SH"
	[[ $status -eq 0 ]] || fail "podman: $output"
	ovl_assert_applied
	rt_assert_wrapper_added --log "$LOG"
	grep -q 'applied .* 9 added, 5 modified, 8 deleted' "$LOG"
}

@test "podman: without the annotation config.json is byte-identical, the action writes through" {
	podman_rt --rm -- $IMAGE sh -c 'echo direct >/workspace/mod.txt'
	[[ $status -eq 0 ]] || fail "podman: $output"
	rt_assert_wrapper_unchanged
	[[ $(cat "$WS/mod.txt") == direct ]]
	ovl_assert_no_layers
}

@test "podman: an image's ENV OVLBOX_WORKSPACE gets no overlay without --ovlbox-env" {
	podman_rt --rm -- "$IMAGE-env" sh -c 'echo "$OVLBOX_WORKSPACE" >/out/env; echo direct >/workspace/mod.txt'
	[[ $status -eq 0 ]] || fail "podman: $output"
	rt_assert_wrapper_unchanged
	[[ $(cat "$OUT/env") == /workspace && $(cat "$WS/mod.txt") == direct ]]
	ovl_assert_no_layers
}

@test "podman: --runtime-flag ovlbox-env: -e OVLBOX_WORKSPACE gives the overlay, OVLBOX_UPPERDIR is ignored" {
	podman_rt --rm --runtime-flag ovlbox-env -e OVLBOX_WORKSPACE=/workspace \
		-e OVLBOX_UPPERDIR="$C/evil-upper" -- $IMAGE sh -c "$OVL_ACTION_SH"
	[[ $status -eq 0 ]] || fail "podman: $output"
	ovl_assert_applied
	[[ ! -e $C/evil-upper ]]
	[[ $(jq -r '.annotations["org.ovlbox.workspace"]' "$C/config.after") == /workspace ]]
	[[ $(jq '[.process.env[] | select(startswith("OVLBOX_WORKSPACE="))] | length' "$C/config.after") == 0 ]]
	[[ $(jq -r '.process.env[] | select(startswith("OVLBOX_UPPERDIR="))' "$C/config.after") == "OVLBOX_UPPERDIR=$C/evil-upper" ]]
}

@test "podman: the hooks.d entry already injected is not added twice" {
	mkdir -p "$C/hooks.d"
	sed "s|@BINDIR@|$(dirname "$OVLBOX_HOOK")|" "$OVLBOX_SRC/examples/hooks.d/ovlbox.json" >"$C/hooks.d/ovlbox.json"
	# (--hooks-dir is a global option, before "run")
	run ovl_podman --hooks-dir "$C/hooks.d" run --name "$ID-h" --runtime "$OVL_T/ovlbox-runc" \
		--rm "${OVL_PODMAN_RUN_FLAGS[@]}" -v "$WS:/workspace" -v "$OUT:/out" \
		-e SNAP="$OVL_SNAPSHOT_SH" --annotation org.ovlbox.workspace=/workspace $IMAGE sh -c 'echo again >/workspace/mod.txt'
	[[ $status -eq 0 ]] || fail "podman: $output"
	rt_assert_wrapper_unchanged
	[[ $(jq '[.hooks[][] | select(.path | endswith("/ovlbox-hook"))] | length' "$C/config.after") == 1 ]]
	[[ $(cat "$WS/mod.txt") == again ]]
	ovl_assert_no_layers
}

@test "podman: a bad request fails podman run with the ovlbox line; the workspace is unchanged" {
	podman_rt --rm --annotation org.ovlbox.workspace=/workspace --annotation org.ovlbox.on-exit=never \
		-- $IMAGE sh -c 'touch /out/started; echo x >/workspace/mod.txt'
	ovl_assert_refused "ovlbox-runtime: bundle " ": config.json: annotation org.ovlbox.on-exit: never is not one of apply, discard, keep"
}
