#!/usr/bin/env bats
# ovlbox-hook with crun (run in a private mount namespace that hides the hybrid cgroup hierarchy
# from crun 1.8.1, DESIGN §5). crun runs createContainer hooks with cwd <bundle> and pid 0 in the
# state, poststop with pid 0. The rootfs is given relative to the bundle here.

# Variables set inside a test stay in it on purpose.
# shellcheck disable=SC2030,SC2031

load lib/bundle

setup_file() {
	ovl_suite_setup
}

setup() {
	ovl_case_setup
	mkdir -p "$B"
	cp -a "$OVL_T/rootfs" "$B/rootfs"
}

teardown() {
	ovl_crun delete -f "$ID" >/dev/null 2>&1 || true
}

# make_bundle STAGE ANNOTATIONS [CMD]: ovl_make_bundle with root.path "rootfs" (bundle-relative).
make_bundle() {
	ovl_make_bundle "$1" "$2" "${3:-}" rootfs
}

# crun reports only "error executing hook ... (exit code: 1)"; the hook's line is in its --log.
run_crun() {
	run ovl_crun run -b "$B" "$ID" </dev/null
	if [[ -s $LOG ]]; then
		output+=$'\n'$(cat "$LOG")
	fi
}

@test "crun createRuntime: the workspace ends as the container saw it, the cache is intact" {
	make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)"
	[[ $(jq -r .root.path "$B/config.json") == rootfs ]]
	run_crun
	[[ $status -eq 0 ]] || fail "crun: $output"
	ovl_assert_applied
}

@test "crun createContainer (cwd is the bundle, pid 0): the workspace ends as the container saw it" {
	make_bundle createContainer "$(ovl_ann org.ovlbox.workspace=/workspace)"
	run_crun
	[[ $status -eq 0 ]] || fail "crun: $output"
	ovl_assert_applied
}

@test "crun prestart: the workspace ends as the container saw it" {
	make_bundle prestart "$(ovl_ann org.ovlbox.workspace=/workspace)"
	run_crun
	[[ $status -eq 0 ]] || fail "crun: $output"
	ovl_assert_applied
}

@test "crun, no STAGE argument: inferred for createContainer (pid 0) and poststop" {
	make_bundle infer:createContainer "$(ovl_ann org.ovlbox.workspace=/workspace)"
	run_crun
	[[ $status -eq 0 ]] || fail "crun: $output"
	ovl_assert_applied
}

@test "crun, on-exit discard: the workspace is untouched" {
	make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.on-exit=discard)"
	run_crun
	[[ $status -eq 0 ]] || fail "crun: $output"
	ovl_assert_discarded
}

@test "crun, on-exit keep: the upper stays until ovlbox apply" {
	make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.on-exit=keep)"
	run_crun
	[[ $status -eq 0 ]] || fail "crun: $output"
	ovl_assert_kept
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail "ovlbox apply: $output"
	ovl_assert_applied
}

@test "crun refused: the destination is a symlink out of the rootfs" {
	rmdir "$B/rootfs/workspace"
	ln -s /etc "$B/rootfs/workspace"
	make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_STARTED_CMD"
	run_crun
	ovl_assert_refused "error executing hook" "ovlbox-hook: workspace destination /workspace: container path /workspace is a symlink in the rootfs (not followed"
}

@test "crun refused at createContainer: upper dir overlapping the workspace" {
	make_bundle createContainer "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.upperdir="$WS/.upper")" \
		"$OVL_STARTED_CMD"
	run_crun
	ovl_assert_refused "error executing hook" "ovlbox-hook: workspace $WS and upper dir $WS/.upper overlap: they must be separate trees"
}

@test "crun: a container created but never started: delete runs poststop, nothing changes" {
	make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_STARTED_CMD"
	ovl_crun create -b "$B" "$ID" </dev/null >"$C/create.out" 2>&1 || fail "$(cat "$C/create.out")"
	[[ -d $WS.upper ]]
	run ovl_crun delete -f "$ID"
	[[ $status -eq 0 ]] || fail "crun delete: $output"
	[[ ! -e $OUT/started ]]
	ovl_assert_untouched
	ovl_assert_no_layers
}
