#!/usr/bin/env bats
# ovlbox-runtime under containerd 1.6 (Debian's), as Kubernetes and ctr use it: a private
# containerd (root, state and sockets in this file's directory, started here and stopped by pid),
# `ctr run --rootfs --runc-binary WRAPPER --annotation ...` with runc's state private too. The
# runc shim calls the runtime with --root R --log B/log.json --log-format json create --bundle B
# ..., then start, delete, delete --force.

# Variables set inside a test stay in it on purpose.
# shellcheck disable=SC2030,SC2031

load lib/bundle
load lib/runtime

setup_file() {
	ovl_suite_setup
	rt_containerd_start "$OVL_T/containerd"
	export CTR_SOCK CTR_PID
	rt_make_wrapper "$OVL_T/ovlbox-runc" --ovlbox-hook-log "$OVL_T/hook.log"
}

teardown_file() {
	rt_daemon_stop "$CTR_PID"
}

setup() {
	rt_case_setup
	rt_wrapper_case
	ID=t$BATS_SUITE_TEST_NUMBER-$$
}

teardown() {
	ctr -a "$CTR_SOCK" task rm -f "$ID" >/dev/null 2>&1 || true
	ctr -a "$CTR_SOCK" container rm "$ID" >/dev/null 2>&1 || true
}

# ctr_run [ctr run options...] -- CMD...: the busybox rootfs with the workspace at /workspace and
# $OUT at /out, through the wrapper.
ctr_run() {
	rt_split_opts "$@"
	set -- "${RT_ARGS[@]}"
	local opts=("${RT_OPTS[@]}")
	run timeout 120 ctr -a "$CTR_SOCK" run --rm --rootfs --runc-binary "$OVL_T/ovlbox-runc" \
		--runc-root "$OVL_T/runc" "${opts[@]}" \
		--mount "type=bind,src=$WS,dst=/workspace,options=rbind:rw" \
		--mount "type=bind,src=$OUT,dst=/out,options=rbind:rw" \
		"$OVL_T/rootfs" "$ID" "$@"
}

@test "containerd: ctr run --annotation org.ovlbox.workspace: the workspace ends as the container saw it" {
	: >"$OVL_T/hook.log"
	ctr_run --annotation org.ovlbox.workspace=/workspace -- /bin/sh -c "$(rt_action_script)"
	[[ $status -eq 0 ]] || fail "ctr run: $output"
	ovl_assert_applied
	rt_assert_wrapper_added --log "$OVL_T/hook.log"
	grep -q 'applied .* 9 added, 5 modified, 8 deleted' "$OVL_T/hook.log"
	# the shim's calls, as DESIGN §8 has them
	[[ $(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(create|start|delete)$/) { print $i; break } }' \
		"$C/calls.txt" | tr '\n' ' ') == 'create start delete delete ' ]] ||
		fail "calls: $(cat "$C/calls.txt")"
}

@test "containerd: without the annotation config.json is byte-identical, the action writes through" {
	ctr_run -- /bin/sh -c 'echo direct >/workspace/mod.txt'
	[[ $status -eq 0 ]] || fail "ctr run: $output"
	rt_assert_wrapper_unchanged
	[[ $(cat "$WS/mod.txt") == direct ]]
	ovl_assert_no_layers
}

@test "containerd: a sandbox-type container with the annotations is untouched" {
	ctr_run --annotation org.ovlbox.workspace=/workspace \
		--annotation io.kubernetes.cri.container-type=sandbox -- /bin/sh -c 'echo direct >/workspace/mod.txt'
	[[ $status -eq 0 ]] || fail "ctr run: $output"
	rt_assert_wrapper_unchanged
	[[ $(cat "$WS/mod.txt") == direct ]]
	ovl_assert_no_layers
}

@test "containerd: a pod container named by org.ovlbox.workspace.NAME gets the overlay" {
	ctr_run --annotation io.kubernetes.cri.container-type=container \
		--annotation io.kubernetes.cri.container-name=build \
		--annotation org.ovlbox.workspace.build=/workspace \
		--annotation org.ovlbox.on-exit=discard -- /bin/sh -c "$(rt_action_script)"
	[[ $status -eq 0 ]] || fail "ctr run: $output"
	ovl_assert_discarded
}

@test "containerd: a bad request fails ctr run with the ovlbox line; the workspace is unchanged" {
	ctr_run --annotation org.ovlbox.workspace=workspace -- /bin/sh -c 'touch /out/started; echo x >/workspace/mod.txt'
	[[ $status -ne 0 ]] || fail "ctr run succeeded: $output"
	ovl_assert_output "OCI runtime create failed: ovlbox-runtime: bundle " \
		": config.json: annotation org.ovlbox.workspace: workspace: not an absolute path"
	[[ ! -e $OUT/started ]]
	ovl_assert_untouched
	ovl_assert_no_layers
}
