#!/usr/bin/env bats
# The filesystem is idle when ovlbox exits: right after `ovlbox run`, `ovlbox apply`, `ovlbox
# discard` and an `ovlbox-hook poststop` (apply and discard) return, the workspace's filesystem
# can be unmounted (executors that mount a filesystem per action run `ovlbox apply DIR && umount
# FS`). Nothing of the command may outlive it: no process, no kernel worker holding its files.
#
# Each test runs in a private mount namespace with a fresh tmpfs on $T/fs holding workspace, upper
# and work. What a test prepares (layers kept by `ovlbox run --on-exit keep`) goes through $T/fs;
# the command under test goes through a bind mount of it on $T/bind. So `umount $T/bind` right
# after the command fails (EBUSY) if anything of that command still holds a file of the
# filesystem, whatever the preparation left; `umount $T/fs` then shows the whole filesystem idle.
# No retry, no wait: the first umount must succeed.

# Scripts are single-quoted on purpose (they run in the namespace's sh).
# shellcheck disable=SC2016

load lib/common

setup_file() {
	ensure_test_user
}

setup() {
	common_setup
	FS=$T/fs
	BIND=$T/bind
	B=$T/bundle
	ID=ovlbox-idle-$$-$BATS_SUITE_TEST_NUMBER
	mkdir "$FS" "$BIND" "$B"
}

teardown() {
	common_teardown
}

# The action: a new file and dir, a modified input, a deleted lower subtree.
ACTION='echo new > new.txt; echo more >> in.txt; rm -r gone; mkdir -p made/deep'

# in_fresh_fs PREPARE COMMAND: in a private mount namespace, mounts a tmpfs on $FS with the
# workspace $FS/ws (in.txt, gone/sub/f), owned by the mode's user; runs PREPARE (sh, as the mode's
# user, with $W = $FS/ws), binds $FS on $BIND, runs COMMAND (sh, as the mode's user, $W =
# $BIND/ws; the output of both goes to $T/cmd.log, printed if one fails), prints the tree of the
# filesystem (`find`, sorted: the workspace, and upper and work if left), then unmounts $BIND and
# $FS at once, printing "umount bind: ok" and "umount fs: ok" or umount's error. Sets
# status/output.
in_fresh_fs() {
	local as=()
	[[ $MODE == user ]] && as=(setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --clear-groups)
	cat >"$T/idle.sh" <<-'EOF'
		set -e
		mount -t tmpfs -o size=64m,mode=0755 tmpfs "$FS"
		mkdir -p "$FS/ws/gone/sub"
		echo in > "$FS/ws/in.txt"
		echo f > "$FS/ws/gone/sub/f"
		[ -z "$OWNER" ] || chown -R "$OWNER" "$FS"
		W=$FS/ws $AS sh -c "$PREPARE" >"$LOG" 2>&1 || { cat "$LOG"; exit 1; }
		mount --bind "$FS" "$BIND"
		W=$BIND/ws $AS sh -c "$COMMAND" >"$LOG" 2>&1 || { cat "$LOG"; exit 1; }
		(cd "$BIND" && find . | LC_ALL=C sort)
		set +e
		umount "$BIND" 2>&1 && echo "umount bind: ok"
		umount "$FS" 2>&1 && echo "umount fs: ok"
		true
	EOF
	local owner=
	[[ $MODE == user ]] && owner=$TEST_UID:$TEST_GID
	run env FS="$FS" BIND="$BIND" AS="${as[*]}" OWNER="$owner" PREPARE="$1" COMMAND="$2" \
		LOG="$T/cmd.log" OVLBOX="$OVLBOX" OVLBOX_HOOK="$OVLBOX_HOOK" ACTION="$ACTION" B="$B" ID="$ID" \
		unshare -m --propagation private sh "$T/idle.sh"
}

# assert_idle TREE...: exit 0, the filesystem's tree is TREE (one entry an argument: upper and
# work are gone), both unmounts succeeded at once.
assert_idle() {
	local want
	want=$(printf '%s\n' "$@" "umount bind: ok" "umount fs: ok")
	[[ $status -eq 0 ]] || fail_output "the commands failed"
	[[ $output == "$want" ]] || fail "expected:" "$want" "got:" "$output"
}

APPLIED=(. ./ws ./ws/in.txt ./ws/made ./ws/made/deep ./ws/new.txt)
UNTOUCHED=(. ./ws ./ws/gone ./ws/gone/sub ./ws/gone/sub/f ./ws/in.txt)
KEEP='"$OVLBOX" run --on-exit keep --workspace "$W" -- sh -c "$ACTION"'

# A bundle whose workspace is $BIND/ws at /workspace, on-exit $1; the kept layers marked as
# container $ID's, as its mount stage marks them.
POSTSTOP='printf "%s" "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"},
  \"mounts\": [{\"destination\": \"/workspace\", \"type\": \"bind\", \"source\": \"$W\",
                \"options\": [\"rbind\", \"rw\"]}],
  \"annotations\": {\"org.ovlbox.workspace\": \"/workspace\", \"org.ovlbox.on-exit\": \"$ON_EXIT\"}}" \
	> "$B/config.json"
setfattr -n user.ovlbox.container -v "$ID" "$W.work"
printf "%s" "{\"ociVersion\": \"1.0.2\", \"id\": \"$ID\", \"status\": \"stopped\", \"bundle\": \"$B\"}" |
	env -i $HOOK_WRAP "$OVLBOX_HOOK" poststop'

idle_run() {
	use_mode "$1"
	in_fresh_fs true '"$OVLBOX" run --workspace "$W" -- sh -c "$ACTION"'
	assert_idle "${APPLIED[@]}"
}

idle_apply() {
	use_mode "$1"
	in_fresh_fs "$KEEP" '"$OVLBOX" apply "$W"'
	assert_idle "${APPLIED[@]}"
}

idle_discard() {
	use_mode "$1"
	in_fresh_fs "$KEEP" '"$OVLBOX" discard "$W"'
	assert_idle "${UNTOUCHED[@]}"
}

# idle_poststop MODE ON_EXIT: rootless, the hook runs in a user namespace of the user's, as
# rootless podman runs it.
idle_poststop() {
	use_mode "$1"
	chmod 0777 "$B"
	local wrap=
	[[ $MODE == user ]] && wrap="unshare -r"
	in_fresh_fs "$KEEP" "ON_EXIT=$2 HOOK_WRAP='$wrap' && $POSTSTOP"
}

@test "ovlbox run: the filesystem unmounts at once after it, root" {
	idle_run root
}

@test "ovlbox run: the filesystem unmounts at once after it, user" {
	idle_run user
}

@test "ovlbox apply: the filesystem unmounts at once after it, root" {
	idle_apply root
}

@test "ovlbox apply: the filesystem unmounts at once after it, user" {
	idle_apply user
}

@test "ovlbox discard: the filesystem unmounts at once after it, root" {
	idle_discard root
}

@test "ovlbox discard: the filesystem unmounts at once after it, user" {
	idle_discard user
}

@test "ovlbox-hook poststop (apply): the filesystem unmounts at once after it, root" {
	idle_poststop root apply
	assert_idle "${APPLIED[@]}"
}

@test "ovlbox-hook poststop (apply): the filesystem unmounts at once after it, user" {
	idle_poststop user apply
	assert_idle "${APPLIED[@]}"
}

@test "ovlbox-hook poststop (discard): the filesystem unmounts at once after it, root" {
	idle_poststop root discard
	assert_idle "${UNTOUCHED[@]}"
}

@test "ovlbox-hook poststop (discard): the filesystem unmounts at once after it, user" {
	idle_poststop user discard
	assert_idle "${UNTOUCHED[@]}"
}
