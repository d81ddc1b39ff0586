#!/usr/bin/env bats
# ovlbox-hook with runc: the overlay is mounted at createRuntime, prestart or createContainer and
# applied, discarded or kept at poststop. The action modifies, appends, deletes, renames, creates,
# chmods and links files, and writes through a cache-hardlinked input; afterwards the host
# workspace is exactly what the container saw (busybox snapshot inside vs. the same on the host)
# and the cache is intact. Bad configurations keep the container from starting and change nothing.

# Variables set inside a test stay in it on purpose; sh -c scripts are single-quoted on purpose.
# shellcheck disable=SC2030,SC2031

load lib/bundle
load lib/kernel


setup_file() {
	ovl_suite_setup
}

setup() {
	ovl_case_setup
}

teardown() {
	ovl_runc delete -f "$ID" >/dev/null 2>&1 || true
	ovl_runc delete -f "$ID-b" >/dev/null 2>&1 || true
	if [[ -n ${USERNS_SCRATCH:-} ]]; then
		rm -rf "$USERNS_SCRATCH"
	fi
}

run_runc() {
	run ovl_runc run -b "$B" "$ID" </dev/null
}

@test "runc createRuntime: the workspace ends as the container saw it, the cache is intact" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)"
	run_runc
	[[ $status -eq 0 ]] || fail "runc: $output"
	ovl_assert_applied
	grep -q 'mounted the overlay of .* on /workspace' "$LOG"
	grep -q 'applied .* 9 added, 5 modified, 8 deleted' "$LOG"
}

@test "runc prestart: the workspace ends as the container saw it" {
	ovl_make_bundle prestart "$(ovl_ann org.ovlbox.workspace=/workspace)"
	run_runc
	[[ $status -eq 0 ]] || fail "runc: $output"
	ovl_assert_applied
}

@test "runc createContainer: mounts from inside the container's namespaces" {
	ovl_make_bundle createContainer "$(ovl_ann org.ovlbox.workspace=/workspace)"
	run_runc
	[[ $status -eq 0 ]] || fail "runc: $output"
	ovl_assert_applied
}

@test "runc, no STAGE argument (as hooks.d): inferred from the state's status" {
	ovl_make_bundle infer:createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)"
	run_runc
	[[ $status -eq 0 ]] || fail "runc: $output"
	ovl_assert_applied
}

@test "runc, custom upper and work dirs: applied, then both removed" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace \
		org.ovlbox.upperdir="$C/layers/up" org.ovlbox.workdir="$C/layers/wk")"
	mkdir "$C/layers"
	run_runc
	[[ $status -eq 0 ]] || fail "runc: $output"
	ovl_assert_applied
	[[ ! -e $C/layers/up && ! -e $C/layers/wk ]]
}

@test "runc, on-exit discard: the workspace is untouched" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.on-exit=discard)"
	run_runc
	[[ $status -eq 0 ]] || fail "runc: $output"
	ovl_assert_discarded
}

@test "runc, on-exit keep: upper stays, the next start refuses, ovlbox apply applies it" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.on-exit=keep)"
	run_runc
	[[ $status -eq 0 ]] || fail "runc: $output"
	ovl_assert_kept

	# A second container on the same workspace must not stack on unapplied changes.
	cp "$OUT/inside.txt" "$C/inside-1.txt"
	rm -f "$OUT/inside.txt"
	ID=$ID-2
	run_runc
	[[ $status -ne 0 ]] || fail "the second container started: $output"
	ovl_assert_output "has unapplied changes in $WS.upper" "run \`ovlbox apply $WS\`" \
		"\`ovlbox discard $WS\` first"
	[[ ! -e $OUT/inside.txt ]]
	ovl_assert_untouched

	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail "ovlbox apply: $output"
	cp "$C/inside-1.txt" "$OUT/inside.txt"
	ovl_assert_applied
}

@test "runc, on-exit keep with custom dirs: the refusal names them for ovlbox apply" {
	mkdir "$C/layers"
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.on-exit=keep \
		org.ovlbox.upperdir="$C/layers/up" org.ovlbox.workdir="$C/layers/wk")"
	run_runc
	[[ $status -eq 0 ]] || fail "runc: $output"
	ID=$ID-2
	run_runc
	[[ $status -ne 0 ]] || fail "the second container started: $output"
	ovl_assert_output "run \`ovlbox apply --upper $C/layers/up --work $C/layers/wk $WS\`"
	run "$OVLBOX" apply --upper "$C/layers/up" --work "$C/layers/wk" "$WS"
	[[ $status -eq 0 ]] || fail "ovlbox apply: $output"
	ovl_assert_action_seen
	diff -u "$OUT/inside.txt" <(ovl_snapshot "$WS")
	ovl_assert_cache_intact
}

@test "runc, no org.ovlbox.workspace annotation: the hook does nothing" {
	ovl_make_bundle createRuntime '{}'
	run_runc
	[[ $status -eq 0 ]] || fail "runc: $output"
	# Without an overlay the action writes straight into the workspace (and the cache).
	diff -u "$OUT/inside.txt" <(ovl_snapshot "$WS")
	ovl_assert_no_layers
	[[ ! -s $LOG ]]
}

@test "runc, read-only rootfs and a workspace in a nested mount point" {
	mkdir -p "$OVL_T/rootfs-ro/work" && cp -a "$OVL_T/rootfs/." "$OVL_T/rootfs-ro/"
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/work/space/)" '' \
		"$OVL_T/rootfs-ro" /work/space
	jq '.root.readonly = true | .mounts += [{"destination": "/work", "type": "tmpfs", "source": "tmpfs"}]
		| .mounts |= (map(select(.destination != "/work/space")) + map(select(.destination == "/work/space")))
		| .process.args[2] |= gsub("/workspace"; "/work/space")' \
		"$B/config.json" >"$B/config.new" && mv "$B/config.new" "$B/config.json"
	run_runc
	[[ $status -eq 0 ]] || fail "runc: $output"
	ovl_assert_applied
}

# userns_case [PROFILE]: a container with its own user namespace; the hook (under the seccomp
# PROFILE of tests/lib/kernel.bash, if given) enters it and mounts with userxattr as its root.
userns_case() {
	# Container ids 0-65535 are host ids 100000-165535; the workspace belongs to container root.
	# runc mounts as container root: everything must be reachable for it (bats' dirs are 0700).
	USERNS_SCRATCH=$(mktemp -d /tmp/ovlbox-hook-userns.XXXXXX)
	chmod 0755 "$USERNS_SCRATCH"
	C=$USERNS_SCRATCH WS=$USERNS_SCRATCH/ws CACHE=$USERNS_SCRATCH/cache OUT=$USERNS_SCRATCH/out
	LOG=$USERNS_SCRATCH/hook.log B=$USERNS_SCRATCH/bundle
	mkdir -p "$OUT"
	ovl_workspace "$WS" "$CACHE"
	cp -a "$OVL_T/rootfs" "$C/rootfs"
	chown -R -h 100000:100000 "$C"
	ovl_snapshot "$WS" >"$C/before.txt"
	ovl_cache_snapshot "$CACHE" >"$C/cache-before.txt"
	local action
	action=$(ovl_action_cmd | jq -c '.[2] += "\ngrep \" /workspace \" /proc/self/mountinfo >/out/mountinfo"')
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$action" "$C/rootfs"
	[[ -z ${1:-} ]] || hooks_under "$(kernel_profile "$C" "$1")"
	jq '.linux.namespaces += [{"type": "user"}]
		| .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .mounts |= map(select(.destination != "/sys/fs/cgroup"))
		| .mounts |= map(if .destination == "/sys" then {"destination": "/sys", "type": "none",
			"source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]} else . end)' \
		"$B/config.json" >"$B/config.new" && mv "$B/config.new" "$B/config.json"
	run_runc
	[[ $status -eq 0 ]] || fail "runc: $output"
	grep -q ' overlay .*userxattr' "$OUT/mountinfo" || fail "$(cat "$OUT/mountinfo")"
	ovl_assert_action_seen
	diff -u <(ovl_inside_as_host 100000 100000) <(ovl_snapshot "$WS")
	ovl_assert_cache_intact
	ovl_assert_no_layers
}

@test "runc with a user namespace: the hook enters it, mounts with userxattr as its root" {
	userns_case
}

@test "runc with a user namespace, fsopen and openat2 refused (ENOSYS): mount(2) as the container's root, applied" {
	userns_case before-5.2
	grep -qF "$OVL_NO_FSOPEN_LINE" "$LOG" || fail "not in the hook's log: $OVL_NO_FSOPEN_LINE"
}

# ---------------------------------------------------------------------------------------------
# Older kernels, played on this one: runc runs the hook under tests/helpers/seccomp_exec with a
# profile of tests/lib/kernel.bash.

# hooks_under PROFILE: every hook in $B/config.json runs as `seccomp_exec PROFILE -- HOOK ARGS`.
hooks_under() {
	jq --arg se "$OVLBOX_HELPERS/seccomp_exec" --arg p "$1" \
		'.hooks |= map_values(map(.args = ["seccomp_exec", $p, "--", .path] + .args[1:] | .path = $se))' \
		"$B/config.json" >"$B/config.new" && mv "$B/config.new" "$B/config.json"
}

# applied_on_old_kernel STAGE PROFILE LOG-LINE: the action under the hook at STAGE (and poststop),
# both under PROFILE, is applied exactly; the hook's log shows the fallback it took.
applied_on_old_kernel() {
	ovl_make_bundle "$1" "$(ovl_ann org.ovlbox.workspace=/workspace)"
	hooks_under "$(kernel_profile "$C" "$2")"
	run_runc
	[[ $status -eq 0 ]] || fail "runc: $output"
	ovl_assert_applied
	grep -qF "$3" "$LOG" || fail "not in the hook's log: $3"$'\n'"$(cat "$LOG")"
}

OVL_NO_FSOPEN_LINE="no new mount API here (fsopen: Function not implemented): mounting with mount(2)"

@test "runc createRuntime, a kernel before 5.2 (no fsopen, no openat2): mount(2) in the container, applied" {
	applied_on_old_kernel createRuntime before-5.2 "$OVL_NO_FSOPEN_LINE"
}

@test "runc createContainer, a kernel before 5.2 (no fsopen, no openat2): mount(2), applied" {
	applied_on_old_kernel createContainer before-5.2 "$OVL_NO_FSOPEN_LINE"
}

@test "runc, fsopen refused with EPERM by a seccomp filter, mount(2) allowed: mount(2), applied" {
	applied_on_old_kernel createRuntime fsopen-eperm \
		"no new mount API here (fsopen: Operation not permitted): mounting with mount(2)"
}

@test "runc, overlayfs before 6.13 (no layer by fd: EINVAL): the layers as /proc/self/fd paths, applied" {
	applied_on_old_kernel createRuntime no-layer-fd-22 \
		"overlayfs takes no layer by fd here (lowerdir+: Invalid argument): passing the layers as /proc/self/fd paths"
}

@test "runc, overlayfs 6.13/6.14 (no O_PATH layer fd: EBADF): the layers as /proc/self/fd paths, applied" {
	applied_on_old_kernel createRuntime no-layer-fd-9 \
		"overlayfs takes no layer by fd here (lowerdir+: Bad file descriptor): passing the layers as /proc/self/fd paths"
}

# ---------------------------------------------------------------------------------------------
# Refusals: the container does not start and nothing changes.

@test "refused: the annotation names no mount" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/nowhere)" "$OVL_STARTED_CMD"
	run_runc
	ovl_assert_refused "ovlbox-hook: annotation org.ovlbox.workspace: no mount in config.json has destination /nowhere"
}

@test "refused: a relative workspace annotation" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=workspace)" "$OVL_STARTED_CMD"
	run_runc
	ovl_assert_refused "ovlbox-hook: annotation org.ovlbox.workspace: workspace: not an absolute path"
}

@test "refused: .. in the workspace annotation" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace/../etc)" "$OVL_STARTED_CMD"
	run_runc
	ovl_assert_refused 'annotation org.ovlbox.workspace: /workspace/../etc: \".\" and \"..\" components are not allowed'
}

@test "refused: a relative upper dir" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.upperdir=up)" \
		"$OVL_STARTED_CMD"
	run_runc
	ovl_assert_refused "ovlbox-hook: annotation org.ovlbox.upperdir: not an absolute path: up"
}

@test "refused: .. in the work dir" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace \
		org.ovlbox.workdir="$C/x/../wk")" "$OVL_STARTED_CMD"
	run_runc
	ovl_assert_refused "ovlbox-hook: work dir $C/x/../wk: must not contain"
	[[ ! -e $C/wk ]]
}

@test "refused: the upper dir inside the workspace" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace \
		org.ovlbox.upperdir="$WS/up")" "$OVL_STARTED_CMD"
	run_runc
	ovl_assert_refused "ovlbox-hook: workspace $WS and upper dir $WS/up overlap: they must be separate trees"
}

@test "refused: the work dir containing the workspace" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.workdir="$C")" \
		"$OVL_STARTED_CMD"
	run_runc
	ovl_assert_refused "ovlbox-hook: workspace $WS and work dir $C overlap: they must be separate trees"
}

@test "refused: upper dir on another filesystem; the dirs the hook created are removed again" {
	local up=/dev/shm/ovlbox-hook-test-$$-$BATS_SUITE_TEST_NUMBER
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.upperdir="$up")" \
		"$OVL_STARTED_CMD"
	run_runc
	[[ ! -e $up ]] || {
		rm -rf "$up"
		fail "$up left behind"
	}
	ovl_assert_refused "must be on one filesystem"
}

@test "refused: an unknown on-exit value" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.on-exit=later)" \
		"$OVL_STARTED_CMD"
	run_runc
	ovl_assert_refused "ovlbox-hook: annotation org.ovlbox.on-exit: later is not one of apply, discard, keep"
}

@test "refused: the workspace mount is not a bind mount" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/out)" "$OVL_STARTED_CMD"
	jq '(.mounts[] | select(.destination == "/out")) |= {"destination": "/out", "type": "tmpfs", "source": "tmpfs"}' \
		"$B/config.json" >"$B/config.new" && mv "$B/config.new" "$B/config.json"
	run_runc
	[[ $status -ne 0 ]] || fail "runc: $output"
	ovl_assert_output "ovlbox-hook: config.json: mounts[" "(/out): not a bind mount (type tmpfs)"
	ovl_assert_untouched
}

@test "refused: the destination is a symlink out of the rootfs (/workspace -> /etc)" {
	mkdir -p "$OVL_T/rootfs-evil" && cp -a "$OVL_T/rootfs/." "$OVL_T/rootfs-evil/"
	rmdir "$OVL_T/rootfs-evil/workspace"
	ln -s /etc "$OVL_T/rootfs-evil/workspace"
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_STARTED_CMD" \
		"$OVL_T/rootfs-evil"
	run_runc
	ovl_assert_refused "ovlbox-hook: workspace destination /workspace: container path /workspace is a symlink in the rootfs (not followed"
}

@test "refused: the destination is checked before the overlay is made (an existing work dir stays empty)" {
	# Called directly, with a process in a mount namespace of its own as the container: under a
	# runtime the refused start's poststop would remove the work dir before it could be looked at.
	mkdir -p "$OVL_T/rootfs-evil-work" && cp -a "$OVL_T/rootfs/." "$OVL_T/rootfs-evil-work/"
	rmdir "$OVL_T/rootfs-evil-work/workspace"
	ln -s /etc "$OVL_T/rootfs-evil-work/workspace"
	mkdir "$WS.work"
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_STARTED_CMD" \
		"$OVL_T/rootfs-evil-work"
	unshare -m --propagation private sleep 60 &
	local pid=$! left i
	# (until unshare has made the namespace: before, the pid is in ours, which is refused)
	for ((i = 0; i < 100; i++)); do
		[[ $(readlink "/proc/$pid/ns/mnt") != "$(readlink /proc/self/ns/mnt)" ]] && break
		sleep 0.02
	done
	run "$OVLBOX_HOOK" createRuntime <<<"{\"ociVersion\":\"1.0.2\",\"id\":\"x\",\"status\":\"creating\",\"pid\":$pid,\"bundle\":\"$B\"}"
	kill "$pid"
	wait "$pid" || true
	left=$(ls -A "$WS.work")
	rmdir "$WS.work" 2>/dev/null || true
	[[ $status -eq 1 ]] || fail "status $status: $output"
	[[ $output == "ovlbox-hook: workspace destination /workspace: container path /workspace is a symlink in the rootfs"* ]] ||
		fail "output: $output"
	[[ -z $left ]] || fail "overlayfs wrote its scratch dirs before the refusal: $left"
	ovl_assert_untouched
	ovl_assert_no_layers
}

@test "refused: a symlinked parent of the destination (/lnk -> /tmp, /lnk/ws)" {
	mkdir -p "$OVL_T/rootfs-lnk" && cp -a "$OVL_T/rootfs/." "$OVL_T/rootfs-lnk/"
	ln -s /tmp "$OVL_T/rootfs-lnk/lnk"
	ovl_make_bundle createContainer "$(ovl_ann org.ovlbox.workspace=/lnk/ws)" "$OVL_STARTED_CMD" \
		"$OVL_T/rootfs-lnk" /lnk/ws
	run_runc
	ovl_assert_refused "workspace destination /lnk/ws: container path /lnk is a symlink in the rootfs"
}

@test "refused: the workspace is locked by another ovlbox" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_STARTED_CMD"
	run flock --nonblock "$WS" runc --root "$OVL_T/runc-state" run -b "$B" "$ID"
	ovl_assert_refused "ovlbox-hook: workspace $WS is in use by another ovlbox (lock held)"
}

@test "refused: createRuntime with a state whose pid is no container process" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_STARTED_CMD"
	run "$OVLBOX_HOOK" createRuntime <<<"{\"ociVersion\":\"1.0.2\",\"id\":\"x\",\"status\":\"creating\",\"pid\":1,\"bundle\":\"$B\"}"
	[[ $status -eq 1 ]]
	[[ $output == "ovlbox-hook: state: pid: 1 is not a container process" ]]
	ovl_assert_untouched
	ovl_assert_no_layers
}

@test "refused: neither fsopen nor mount(2) is allowed: the reason, nothing changed" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_STARTED_CMD"
	hooks_under "$(kernel_profile "$C" no-mount)"
	run_runc
	ovl_assert_refused "ovlbox-hook: mount the overlay on /workspace in the container: overlay mount (lowerdir=/proc/self/fd/" \
		",redirect_dir=nofollow,index=off,metacopy=off,xino=off,uuid=null,volatile): Operation not permitted"
}

# Layers that are not this container's: its mount stage marks the layers with the container's
# id (user.ovlbox.container on the work dir); another container's, or an earlier keep's, are
# neither taken by a mount stage nor applied or removed by a poststop.

@test "a refused start's poststop leaves an earlier container's kept changes alone (discard, then apply)" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.on-exit=keep)"
	run_runc
	[[ $status -eq 0 ]] || fail "runc: $output"
	ovl_assert_kept
	ovl_snapshot "$WS.upper" >"$C/upper-before.txt"
	cp "$OUT/inside.txt" "$C/inside-1.txt"
	local first=$ID onexit
	for onexit in discard apply; do
		ID=$first-$onexit
		ovl_make_bundle createRuntime \
			"$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.on-exit=$onexit)" "$OVL_STARTED_CMD"
		run_runc
		[[ $status -ne 0 && ! -e $OUT/started ]] || fail "the $onexit container started: $output"
		ovl_assert_output "has unapplied changes in $WS.upper"
		grep -q "no layers of this container on $WS: nothing to do" "$LOG" ||
			fail "no poststop message in the log: $(cat "$LOG")"
		ovl_assert_untouched
		diff -u "$C/upper-before.txt" <(ovl_snapshot "$WS.upper")
	done
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail "ovlbox apply: $output"
	cp "$C/inside-1.txt" "$OUT/inside.txt"
	ovl_assert_applied
}

# Two containers on one workspace: A ($ID, which teardown deletes whatever happens) waits for
# /out/go before it writes; B ($ID-b) is started meanwhile.

# in_use_start_a [PROFILE]: starts A detached (its hooks under the kernel profile PROFILE).
in_use_start_a() {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" \
		'["sh", "-c", "while [ ! -e /out/go ]; do sleep 0.05; done; echo A > /workspace/a.txt"]'
	[[ -z ${1:-} ]] || hooks_under "$(kernel_profile "$C" "$1")"
	ovl_runc run -d -b "$B" "$ID" </dev/null >/dev/null 2>"$C/a.err" || fail "A: $(cat "$C/a.err")"
}

# in_use_b_refused: B, the same bundle but writing b.txt, does not start.
in_use_b_refused() {
	mkdir "$C/b"
	jq '.process.args = ["sh", "-c", "echo B > /workspace/b.txt; touch /out/started"]' \
		"$B/config.json" >"$C/b/config.json"
	run ovl_runc run -b "$C/b" "$ID-b" </dev/null
	[[ $status -ne 0 && ! -e $OUT/started ]] || fail "B started: $output"
	ovl_assert_output "workspace $WS is in use by running container $ID (its layers are $WS.upper and $WS.work)"
}

# in_use_finish_a: lets A write and stop, and deletes it (its poststop applies); A's change only.
in_use_finish_a() {
	ovl_finish_detached "$ID"
	[[ $(cat "$WS/a.txt") == A && ! -e $WS/b.txt ]] || fail "A's change was not applied: $(ls "$WS")"
	ovl_assert_cache_intact
	ovl_assert_no_layers
}

# On a filesystem without user xattrs the marks are files in the work dir (the container's id a
# symlink's target, ovlbox-container), read back the same way.
@test "no user xattrs: the container's mark is the symlink ovlbox-container; a second container is refused; applied" {
	in_use_start_a no-setxattr
	[[ $(readlink "$WS.work/ovlbox-container" | sed -n 2p) == "id $ID" ]] ||
		fail "no symlink mark: $(ls -l "$WS.work")"
	[[ $(readlink "$WS.work/ovlbox-mode") == trusted ]] || fail "no mode file: $(ls -l "$WS.work")"
	! getfattr -n user.ovlbox.container "$WS.work" >/dev/null 2>&1 || fail "an xattr mark was set"
	in_use_b_refused
	in_use_finish_a
}

@test "a second container on a workspace in use is refused; the first one's changes are applied" {
	in_use_start_a
	in_use_b_refused
	grep -q "the layers of $WS belong to container $ID: left as they are" "$LOG" ||
		fail "B's poststop: $(cat "$LOG")"
	# nor does `ovlbox run` take them
	run "$OVLBOX" run --workspace "$WS" -- sh -c 'echo R > r.txt'
	[[ $status -eq 125 ]] || fail "ovlbox run: $status: $output"
	[[ $output == "ovlbox: workspace $WS is in use by running container $ID" ]] ||
		fail "ovlbox run: $output"
	in_use_finish_a
	[[ ! -e $WS/r.txt ]] || fail "ovlbox run's change was applied"
}

@test "refused: the upper dir inside the workspace through a symlinked parent" {
	ln -s ws "$C/wslink"
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace \
		org.ovlbox.upperdir="$C/wslink/up")" "$OVL_STARTED_CMD"
	run_runc
	ovl_assert_refused "ovlbox-hook: upper dir $C/wslink/up lies in workspace $WS (through a symlink or a mount): they must be separate trees"
}

@test "refused: the workspace itself named as the upper dir through an alias, on-exit discard: it stays" {
	ln -s . "$C/same"
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace \
		org.ovlbox.upperdir="$C/same/ws" org.ovlbox.on-exit=discard)" "$OVL_STARTED_CMD"
	run_runc
	ovl_assert_refused "ovlbox-hook: workspace $WS lies in upper dir $C/same/ws (through a symlink or a mount): they must be separate trees"
}

@test "refused: a work dir of someone else's (entries, no ovlbox mode): its contents stay" {
	mkdir -p "$C/data/work" "$C/data/index" "$C/data/other"
	echo precious >"$C/data/work/f"
	echo kept >"$C/data/other/g"
	find "$C/data" | sort >"$C/data-before.txt"
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace \
		org.ovlbox.workdir="$C/data")" "$OVL_STARTED_CMD"
	run_runc
	ovl_assert_refused "ovlbox-hook: work dir $C/data holds entries but was not made by ovlbox (no user.ovlbox.mode): name a missing or empty directory"
	diff -u "$C/data-before.txt" <(find "$C/data" | sort)
	[[ $(cat "$C/data/work/f") == precious ]]
}

@test "refused: a container without a mount namespace of its own (the overlay would be the runtime's)" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_STARTED_CMD"
	jq '.linux.namespaces |= map(select(.type != "mount")) | .linux.maskedPaths = [] |
		.linux.readonlyPaths = []' "$B/config.json" >"$B/config.new"
	mv "$B/config.new" "$B/config.json"
	# in a mount namespace of the test's own, so that even a hook that did mount changes nothing
	# outside; the overlay must not appear there either
	# shellcheck disable=SC2016 # expanded by the inner sh
	run unshare -m --propagation private sh -c \
		'runc --root "$1" run -b "$2" "$3" </dev/null; s=$?; grep " overlay " /proc/self/mountinfo; exit $s' \
		sh "$OVL_T/runc-state" "$B" "$ID"
	ovl_assert_refused "ovlbox-hook: the container (state pid" "has no mount namespace of its own: the hook mounts only in the container's"
	[[ $output != *" - overlay "* ]] || fail "an overlay was mounted in the runtime's namespace: $output"
}

# --layers-under DIR (for hooks.d files serving pods whose annotations untrusted users write)

# hook_args ARG...: appends ARGs to every hook's args in the bundle.
hook_args() {
	local add
	add=$(printf '%s\n' "$@" | jq -R . | jq -s .)
	jq --argjson add "$add" '.hooks[][].args += $add' "$B/config.json" >"$B/config.new"
	mv "$B/config.new" "$B/config.json"
}

@test "--layers-under: layers beneath DIR are used; an upper or work dir elsewhere, or with a symlink on the way, is refused" {
	mkdir "$C/layers"
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace \
		org.ovlbox.upperdir="$C/layers/up" org.ovlbox.workdir="$C/layers/wk")"
	hook_args --layers-under "$C/layers"
	run_runc
	[[ $status -eq 0 ]] || fail "runc: $output"
	ovl_assert_applied
	# the defaults (beside the workspace, in $C) do not lie beneath $C/layers
	ovl_snapshot "$WS" >"$C/before.txt"
	ID=$ID-2
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_STARTED_CMD"
	hook_args --layers-under "$C/layers"
	run_runc
	ovl_assert_refused "ovlbox-hook: --layers-under: upper dir $WS.upper does not lie beneath $C/layers"
	# a path beneath DIR as written that leads elsewhere
	mkdir -p "$C/elsewhere"
	ln -s "$C/elsewhere" "$C/layers/link"
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace \
		org.ovlbox.upperdir="$C/layers/up" org.ovlbox.workdir="$C/layers/link/wk")" "$OVL_STARTED_CMD"
	hook_args --layers-under "$C/layers"
	run_runc
	ovl_assert_refused "ovlbox-hook: work dir $C/layers/link/wk: a symlink on the way beneath $C/layers (symlinks are not followed there)"
	[[ ! -e $C/layers/up && ! -e $C/elsewhere/wk ]]
	# DIR itself is not beneath DIR
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace \
		org.ovlbox.upperdir="$C/layers" org.ovlbox.workdir="$C/wk2")" "$OVL_STARTED_CMD"
	hook_args --layers-under "$C/layers"
	run_runc
	ovl_assert_refused "ovlbox-hook: --layers-under: upper dir $C/layers does not lie beneath $C/layers"
}

@test "--layers-under: a relative DIR is a usage error" {
	run "$OVLBOX_HOOK" --layers-under layers poststop </dev/null
	[[ $status -eq 2 && $output == "ovlbox-hook: --layers-under layers: not an absolute path" ]] ||
		fail "$status: $output"
}
