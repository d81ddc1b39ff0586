#!/usr/bin/env bats
# ovlbox-runtime under Docker 20.10 (docker.io), whose `docker run` cannot set annotations: a
# private dockerd (data, exec root, socket and pid file in this file's directory, its own
# containerd; started here, stopped by pid) with a daemon.json naming the wrapper as runtime
# "ovlbox" with runtimeArgs ["--ovlbox-env", ...], and as "ovlbox-noenv" without the opt-in;
# storage driver vfs, no bridge, no iptables; the image is `docker import` of the busybox rootfs.

# Variables set inside a test stay in it on purpose; sh -c scripts are single-quoted on purpose.
# shellcheck disable=SC2030,SC2031,SC2016

load lib/bundle
load lib/runtime

IMAGE=ovlbox-busybox:test

setup_file() {
	ovl_suite_setup
	local d=$OVL_T/docker
	mkdir -p "$d"
	rt_make_wrapper "$OVL_T/ovlbox-runc"
	jq -n --arg rt "$OVL_T/ovlbox-runc" --arg log "$OVL_T/hook.log" '{
		"runtimes": {
			"ovlbox": {"path": $rt, "runtimeArgs": ["--ovlbox-env", "--ovlbox-hook-log", $log]},
			"ovlbox-noenv": {"path": $rt, "runtimeArgs": ["--ovlbox-hook-log", $log]}
		},
		"iptables": false, "ip6tables": false, "bridge": "none", "storage-driver": "vfs"}' >"$d/daemon.json"
	rt_dockerd_start "$d"
	export DOCKER_SOCK DOCKERD_PID
	tar -C "$OVL_T/rootfs" -c . | rt_docker import - "$IMAGE" >/dev/null
	tar -C "$OVL_T/rootfs" -c . |
		rt_docker import --change 'ENV OVLBOX_WORKSPACE=/workspace' - "$IMAGE-env" >/dev/null
}

teardown_file() {
	local ids
	read -ra ids <<<"$(rt_docker ps -aq | tr '\n' ' ')"
	[[ ${#ids[@]} -eq 0 ]] || rt_docker rm -f "${ids[@]}" >/dev/null 2>&1 || true
	rt_daemon_stop "$DOCKERD_PID"
}

setup() {
	rt_case_setup
	rt_wrapper_case
	: >"$OVL_T/hook.log"
}

# docker_rt [docker run options...] -- IMAGE CMD...: docker run --rm with the workspace at
# /workspace and $OUT at /out.
docker_rt() {
	rt_split_opts "$@"
	set -- "${RT_ARGS[@]}"
	local opts=("${RT_OPTS[@]}")
	run timeout 120 "$DOCKER" -H "unix://$DOCKER_SOCK" run --rm --network none \
		-v "$WS:/workspace" -v "$OUT:/out" "${opts[@]}" "$@"
}

@test "docker run --runtime ovlbox -e OVLBOX_WORKSPACE: the workspace ends as the container saw it" {
	docker_rt --runtime ovlbox -e OVLBOX_WORKSPACE=/workspace -e OVLBOX_UPPERDIR="$C/evil" \
		-- "$IMAGE" /bin/sh -c "$(rt_action_script)"
	[[ $status -eq 0 ]] || fail "docker run: $output"
	ovl_assert_applied
	grep -q 'applied .* 9 added, 5 modified, 8 deleted' "$OVL_T/hook.log"
	# the variable became the annotation and left the action's environment; OVLBOX_UPPERDIR
	# chose nothing
	[[ $(jq -r '.annotations["org.ovlbox.workspace"]' "$C/config.after") == /workspace ]]
	[[ $(jq '[.process.env[] | select(startswith("OVLBOX_WORKSPACE="))] | length' "$C/config.after") == 0 ]]
	[[ ! -e $C/evil ]]
	# Docker's calls, as DESIGN §8 has them
	[[ $(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(create|start|delete)$/) { print $i; break } }' \
		"$C/calls.txt" | tr '\n' ' ') == 'create start delete delete ' ]] || fail "calls: $(cat "$C/calls.txt")"
}

@test "docker: OVLBOX_ON_EXIT=discard from -e" {
	docker_rt --runtime ovlbox -e OVLBOX_WORKSPACE=/workspace -e OVLBOX_ON_EXIT=discard \
		-- "$IMAGE" /bin/sh -c "$(rt_action_script)"
	[[ $status -eq 0 ]] || fail "docker run: $output"
	ovl_assert_discarded
}

@test "docker: without the variable config.json is byte-identical, the action writes through" {
	docker_rt --runtime ovlbox -- "$IMAGE" /bin/sh -c 'echo direct >/workspace/mod.txt'
	[[ $status -eq 0 ]] || fail "docker run: $output"
	rt_assert_wrapper_unchanged
	[[ $(cat "$WS/mod.txt") == direct ]]
	ovl_assert_no_layers
}

@test "docker: an image's ENV OVLBOX_WORKSPACE gets no overlay without --ovlbox-env" {
	docker_rt --runtime ovlbox-noenv -- "$IMAGE-env" /bin/sh -c 'echo "$OVLBOX_WORKSPACE" >/out/env; echo direct >/workspace/mod.txt'
	[[ $status -eq 0 ]] || fail "docker run: $output"
	rt_assert_wrapper_unchanged
	[[ $(cat "$OUT/env") == /workspace && $(cat "$WS/mod.txt") == direct ]]
	ovl_assert_no_layers
}

@test "docker: a bad request fails docker run with the ovlbox line; the workspace is unchanged" {
	docker_rt --runtime ovlbox -e OVLBOX_WORKSPACE=workspace \
		-- "$IMAGE" /bin/sh -c 'touch /out/started; echo x >/workspace/mod.txt'
	ovl_assert_refused "OCI runtime create failed: ovlbox-runtime: bundle " \
		": config.json: process.env OVLBOX_WORKSPACE: workspace: not an absolute path"
}
