#!/usr/bin/env bats
# ovlbox-hook with rootless podman: an unprivileged user (with /etc/subuid and /etc/subgid
# ranges) runs podman; podman runs the runtime, and so the createRuntime hook, inside its user
# namespace, which the container shares: the hook must not try to enter it again, and mounts with
# userxattr. Podman's storage, config and runtime dirs are private to this file.

# Variables set inside a test stay in it on purpose; sh -c scripts are single-quoted on purpose.
# shellcheck disable=SC2030,SC2031,SC2016

load lib/bundle

ROOTLESS_USER=ovlboxhook
IMAGE=localhost/ovlbox-busybox

# The unprivileged user, created when missing, with a subordinate id range.
ensure_rootless_user() {
	if ! id -u "$ROOTLESS_USER" >/dev/null 2>&1; then
		useradd --user-group --no-create-home --shell /bin/sh "$ROOTLESS_USER"
	fi
	local start
	start=$(awk -F: '{ e = $2 + $3; if (e > m) m = e } END { print (m < 100000 ? 100000 : m) }' \
		/etc/subuid /etc/subgid 2>/dev/null || echo 100000)
	if ! grep -q "^$ROOTLESS_USER:" /etc/subuid 2>/dev/null; then
		usermod --add-subuids "$start-$((start + 65535))" "$ROOTLESS_USER"
	fi
	if ! grep -q "^$ROOTLESS_USER:" /etc/subgid 2>/dev/null; then
		usermod --add-subgids "$start-$((start + 65535))" "$ROOTLESS_USER"
	fi
}

setup_file() {
	ovl_suite_setup
	ensure_rootless_user
	# bats' tmpdirs are 0700: the user needs its own, traversable scratch tree.
	R=$(mktemp -d /tmp/ovlbox-hook-rootless.XXXXXX)
	chmod 0755 "$R"
	mkdir -p "$R/home" "$R/run" "$R/cases"
	chown "$ROOTLESS_USER:" "$R/home" "$R/run" "$R/cases"
	chmod 0700 "$R/run"
	echo "$R" >"$BATS_FILE_TMPDIR/scratch"
	: >"$R/empty"
	chmod 0644 "$R/empty"
	cat >"$R/crun-wrap" <<EOF
#!/bin/sh
exec unshare -m --propagation private sh -c 'mount --bind "\$0" /sys/fs/cgroup/unified/cgroup.controllers && exec crun "\$@"' $R/empty "\$@"
EOF
	chmod 0755 "$R/crun-wrap"
	cp -a "$OVL_T/rootfs" "$R/rootfs"
	tar -C "$R/rootfs" -c . | pod import -q - "$IMAGE" >/dev/null
}

teardown_file() {
	R=$(cat "$BATS_FILE_TMPDIR/scratch")
	pod rm -af -t 0 >/dev/null 2>&1 || true
	pod unshare rm -rf "$R/home/storage" >/dev/null 2>&1 || true
	# rootless podman's pause process (it holds the user's namespaces) outlives podman; this
	# suite's, found by the pid file in its --tmpdir, ends with the suite
	local pid
	pid=$(cat "$R/run/tmp/pause.pid" 2>/dev/null) || pid=
	if [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == catatonit ]]; then
		kill "$pid" 2>/dev/null || true
	fi
	rm -rf "$R"
}

# pod ARGS...: podman as the unprivileged user with an empty environment but for HOME, PATH and
# XDG_RUNTIME_DIR, and storage under the scratch tree.
pod() {
	R=$(cat "$BATS_FILE_TMPDIR/scratch")
	(cd "$R" && setpriv --reuid="$ROOTLESS_USER" --regid="$ROOTLESS_USER" --init-groups \
		env -i HOME="$R/home" XDG_RUNTIME_DIR="$R/run" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		podman --root "$R/home/storage" --runroot "$R/run/storage" --storage-driver vfs \
		--cgroup-manager cgroupfs --events-backend file --tmpdir "$R/run/tmp" "$@")
}

as_rootless() {
	setpriv --reuid="$ROOTLESS_USER" --regid="$ROOTLESS_USER" --init-groups "$@"
}

setup() {
	R=$(cat "$BATS_FILE_TMPDIR/scratch")
	RUID=$(id -u "$ROOTLESS_USER")
	RGID=$(id -g "$ROOTLESS_USER")
	C=$R/cases/$BATS_SUITE_TEST_NUMBER
	mkdir -p "$C"
	WS=$C/ws
	CACHE=$C/cache
	OUT=$C/out
	LOG=$C/hook.log
	ID=ovlbox-rootless-$$-$BATS_SUITE_TEST_NUMBER
	mkdir -p "$OUT"
	ovl_workspace "$WS" "$CACHE"
	# Everything the user's containers see belongs to the user (container root).
	chown -R "$ROOTLESS_USER:" "$C"
	ovl_snapshot "$WS" >"$C/before.txt"
	ovl_cache_snapshot "$CACHE" >"$C/cache-before.txt"
	mkdir -p "$C/hooks.d"
	sed "s|@BINDIR@|$(dirname "$OVLBOX_HOOK")|" "$OVLBOX_SRC/examples/hooks.d/ovlbox.json" |
		jq --arg log "$LOG" '.hook.args += ["--log", $log]' >"$C/hooks.d/ovlbox.json"
	RUNTIME=$(command -v runc)
}

teardown() {
	pod rm -f -t 0 "$ID" >/dev/null 2>&1 || true
}

podman_run() {
	run pod --hooks-dir "$C/hooks.d" run --name "$ID" --runtime "$RUNTIME" --network none \
		-v "$WS:/workspace" -v "$OUT:/out" -e SNAP="$OVL_SNAPSHOT_SH" "$@"
}

assert_rootless_applied() {
	ovl_assert_action_seen
	diff -u <(ovl_inside_as_host "$RUID" "$RGID") <(ovl_snapshot "$WS")
	ovl_assert_cache_intact
	ovl_assert_no_layers
}

@test "rootless podman can run here (user namespace, subordinate ids)" {
	run pod run --rm --runtime "$RUNTIME" --network none $IMAGE cat /proc/self/uid_map
	[[ $status -eq 0 ]] || fail "rootless podman: $output"
	[[ ${lines[0]} =~ ^\ +0\ +$RUID\ +1$ ]] || fail "uid_map: $output"
}

@test "rootless podman (runc): the workspace ends as the container saw it, the cache is intact" {
	podman_run --rm --annotation org.ovlbox.workspace=/workspace $IMAGE sh -c "$OVL_ACTION_SH"
	[[ $status -eq 0 ]] || fail "podman: $output"
	assert_rootless_applied
	# The hook ran in podman's user namespace and mounted with userxattr.
	grep -q 'mounted the overlay of .* on /workspace' "$LOG"
	grep -q 'applied .* 9 added, 5 modified, 8 deleted' "$LOG"
}

@test "rootless podman (crun): the workspace ends as the container saw it" {
	RUNTIME=$R/crun-wrap
	podman_run --rm --annotation org.ovlbox.workspace=/workspace $IMAGE sh -c "$OVL_ACTION_SH"
	[[ $status -eq 0 ]] || fail "podman: $output"
	assert_rootless_applied
}

@test "rootless podman: the overlay is mounted with userxattr" {
	podman_run --rm --annotation org.ovlbox.workspace=/workspace $IMAGE \
		sh -c 'grep " /workspace " /proc/self/mountinfo | grep overlay > /out/mountinfo'
	[[ $status -eq 0 ]] || fail "podman: $output"
	grep -q 'userxattr' "$OUT/mountinfo" || fail "$(cat "$OUT/mountinfo")"
	grep -q 'redirect_dir=nofollow' "$OUT/mountinfo"
	ovl_assert_untouched
	ovl_assert_no_layers
}

@test "rootless podman, on-exit discard: the workspace is untouched" {
	podman_run --rm --annotation org.ovlbox.workspace=/workspace \
		--annotation org.ovlbox.on-exit=discard $IMAGE sh -c "$OVL_ACTION_SH"
	[[ $status -eq 0 ]] || fail "podman: $output"
	ovl_assert_discarded
}

@test "rootless podman, on-exit keep: the user's ovlbox apply applies it later" {
	podman_run --rm --annotation org.ovlbox.workspace=/workspace \
		--annotation org.ovlbox.on-exit=keep $IMAGE sh -c "$OVL_ACTION_SH"
	[[ $status -eq 0 ]] || fail "podman: $output"
	ovl_assert_kept
	# The next container refuses to stack on unapplied changes.
	podman_run --rm --name "$ID-2" --annotation org.ovlbox.workspace=/workspace $IMAGE touch /out/started
	[[ $status -ne 0 ]] || fail "started: $output"
	ovl_assert_output "has unapplied changes in $WS.upper" "ovlbox apply $WS"
	[[ ! -e $OUT/started ]]
	run as_rootless "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail "ovlbox apply: $output"
	assert_rootless_applied
}

@test "rootless podman refused: a destination symlink out of the rootfs" {
	mkdir -p "$R/rootfs-evil" && cp -a "$R/rootfs/." "$R/rootfs-evil/"
	rmdir "$R/rootfs-evil/workspace"
	ln -s /usr "$R/rootfs-evil/workspace"
	tar -C "$R/rootfs-evil" -c . | pod import -q - "$IMAGE-evil" >/dev/null
	podman_run --rm --annotation org.ovlbox.workspace=/workspace $IMAGE-evil touch /out/started
	ovl_assert_refused "container path /workspace is a symlink in the rootfs (not followed"
}

@test "rootless podman refused: upper dir the user cannot create" {
	podman_run --rm --annotation org.ovlbox.workspace=/workspace \
		--annotation org.ovlbox.upperdir=/root/ovlbox-upper $IMAGE touch /out/started
	ovl_assert_refused "ovlbox-hook: " "/root/ovlbox-upper" "Permission denied"
	[[ ! -e /root/ovlbox-upper ]]
}

# ---- recycled runners (tests/lib/recycle.bash): the executor runs the stages as the user ----

load lib/recycle

recycle_use_podman pod --network none

rt_ids() {
	echo "$RUID $RGID"
}

@test "rootless podman: ten recycled actions, the stages run by the user" {
	# shellcheck disable=SC2034 # the stages' prefix (tests/lib/recycle.bash)
	OVL_HOOK_AS=(setpriv --reuid="$ROOTLESS_USER" --regid="$ROOTLESS_USER" --init-groups)
	recycle_inputs "$ROOTLESS_USER:"
	rt_start
	recycle_actions 10
}

@test "rootless podman: a straggler is named and killed through the user namespace" {
	# shellcheck disable=SC2034 # the stages' prefix (tests/lib/recycle.bash)
	OVL_HOOK_AS=(setpriv --reuid="$ROOTLESS_USER" --regid="$ROOTLESS_USER" --init-groups)
	recycle_inputs "$ROOTLESS_USER:"
	recycle_straggler
}
