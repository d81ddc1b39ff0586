#!/usr/bin/env bats
# Uppers made by another tool: an overlay mounted by hand with userxattr (as rootless podman's
# volume overlays, hand mounts and kernel test suites make them), applied by `ovlbox apply`
# with --userxattr and by detection (no mode recorded by ovlbox), exactly as the merged view
# showed: opaque dirs replace, both kinds of whiteouts delete, escaped user.overlay.overlay.*
# names stay user data. An upper with overlay xattrs of both namespaces is refused; an upper
# ovlbox prepared keeps its recorded namespace whatever the action set in the merged view.
#
# The merged view is compared through overlayfs itself: the upper and the workspace as the two
# lower layers of a read-only overlay (nothing is written to them), against the workspace after
# apply as the top lower layer of another; escaped names read back unescaped in both. Every
# mount is made in a private mount namespace and unmounted there.

# Action scripts are single-quoted on purpose: they run in the overlay. status/output are bats'.
# shellcheck disable=SC2016

load lib/common

setup_file() {
	ensure_test_user
}

setup() {
	common_setup
	UP= # set by make_foreign_upper
	HW=$T/hand.work # the hand mount's work dir: ovlbox knows nothing of it
	mkdir -p "$T/mnt" "$T/view" "$T/empty"
}

teardown() {
	common_teardown
}

# Every option given, as a careful tool would (host defaults differ).
HAND_OPTS=userxattr,index=off,metacopy=off,redirect_dir=nofollow

# hand_overlay SCRIPT: SCRIPT (sh -e, cwd the merged view) in an overlay of $WS with upper $UP
# and work $HW, mounted by hand with userxattr, then unmounted.
hand_overlay() {
	mkdir -p "$UP" "$HW"
	unshare -m --propagation private sh -ec '
		mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3,$4" "$5"
		cd "$5"
		r=0
		sh -ec "$6" || r=$?
		cd /
		umount "$5"
		exit $r' sh "$WS" "$UP" "$HW" "$HAND_OPTS" "$T/mnt" "$1"
}

# view_snap LAYER...: treesnap of the read-only overlay of the layers (top first).
view_snap() {
	local layers
	layers=$(IFS=:; printf '%s' "$*")
	unshare -m --propagation private sh -ec '
		mount -t overlay overlay -o "lowerdir=$1,$2" "$3"
		r=0
		"$4" "$3" || r=$?
		umount "$3"
		exit $r' sh "$layers" "$HAND_OPTS" "$T/view" "$TREESNAP"
}

# The changes: an opaque dir (removed and made again), char 0/0 whiteouts of a file and of a
# dir, a copy-up (user.overlay.origin), an escaped name (user.overlay.foo set in the merged
# view is user.overlay.overlay.foo in the upper), a new dir; then, as no kernel makes them,
# by hand: a zero-size file with user.overlay.whiteout in a dir marked opaque=x (merged).
make_foreign_upper() {
	make_fixture
	UP=$WS.upper
	hand_overlay '
		rm -rf dir && mkdir dir && echo new > dir/new
		rm plain.txt
		rm -r src/x
		echo more >> in/a.txt
		mkdir -p newdir && echo n > newdir/n
		setfattr -n user.overlay.foo -v bar in/b.sh' ||
		skip "this kernel does not escape overlay xattrs set in the merged view (Linux < 6.7)"
	: >"$UP/in/dup2"
	setfattr -n user.overlay.whiteout -v y "$UP/in/dup2"
	setfattr -n user.overlay.opaque -v x "$UP/in"
	[[ $(getfattr -h --only-values -n user.overlay.opaque "$UP/dir") == y ]] ||
		fail "the hand mount made no opaque dir"
	[[ -c $UP/plain.txt && -c $UP/src/x ]] || fail "the hand mount made no whiteouts"
	# the tool's user owns what it made (user mode: the workspace's owner)
	[[ $MODE == root ]] || chown -R "$TEST_UID:$TEST_GID" "$UP"
	view_snap "$UP" "$WS" >"$T/merged.snap"
}

# The workspace after apply shows what the merged view showed, the escaped name is kept as it
# was in the upper, no other user.overlay.* xattr is left, and the layers are gone.
assert_applied_as_merged() {
	view_snap "$WS" "$T/empty" >"$T/applied.snap"
	assert_same_snap "$T/merged.snap" "$T/applied.snap"
	[[ $(cat "$WS/dir/new") == new && $(ls -A "$WS/dir") == new ]] ||
		fail "dir was merged, not replaced: $(ls -A "$WS/dir")"
	[[ ! -e $WS/plain.txt && ! -e $WS/src/x && ! -e $WS/in/dup2 && -e $WS/in/dup1 ]] ||
		fail "a whiteout was not applied"
	[[ $(getfattr -h --only-values -n user.overlay.overlay.foo "$WS/in/b.sh") == bar ]]
	local left
	left=$(getfattr -R -h -d -m '^user\.overlay\.' "$WS" 2>/dev/null | grep '^user\.overlay\.' |
		grep -v '^user\.overlay\.overlay\.foo=' || true)
	[[ -z $left ]] || fail "overlay xattrs left on the workspace: $left"
	assert_no_layers "$WS"
	assert_cache_intact
}

@test "a hand-mounted userxattr upper applies as the merged view showed, with --userxattr" {
	make_foreign_upper
	run "$OVLBOX" apply --userxattr "$WS"
	[[ $status -eq 0 && -z $output ]] || fail_output "apply --userxattr failed"
	assert_applied_as_merged
}

@test "a hand-mounted userxattr upper applies as the merged view showed, detected (root)" {
	make_foreign_upper
	run "$OVLBOX" diff "$WS"
	[[ $status -eq 0 ]] || fail_output "diff failed"
	[[ $output == *"D dir/f1"* && $output == *"D in/dup2"* && $output == *"A dir/new"* ]] ||
		fail_output "diff did not read the upper with userxattr"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 && -z $output ]] || fail_output "apply failed"
	assert_applied_as_merged
}

@test "as non-root, detection reads user.overlay.* (trusted.* cannot be seen there)" {
	use_mode user
	make_foreign_upper
	# as root this upper would be ambiguous; the user's apply cannot list trusted.* at all
	setfattr -n trusted.overlay.opaque -v y "$UP/newdir"
	view_snap "$UP" "$WS" >"$T/merged.snap"
	run as_user "$OVLBOX" apply "$WS"
	[[ $status -eq 0 && -z $output ]] || fail_output "apply as the user failed"
	assert_applied_as_merged
}

@test "--no-userxattr reads a hand-mounted userxattr upper's overlay xattrs as user data" {
	make_foreign_upper
	run "$OVLBOX" diff --no-userxattr "$WS"
	[[ $status -eq 0 ]] || fail_output "diff failed"
	# opaque and whiteout xattrs mean nothing in the trusted namespace: dir is merged, the
	# zero-size file is a file; char 0/0 whiteouts delete either way
	[[ $output != *"D dir/f1"* && $output == *"M in/dup2"* && $output == *"D plain.txt"* ]] ||
		fail_output "diff --no-userxattr read user.overlay.* as overlay xattrs"
}

@test "an upper holding trusted.overlay.* and user.overlay.* markers is refused, naming both flags" {
	make_foreign_upper
	setfattr -n trusted.overlay.opaque -v y "$UP/newdir"
	snap "$WS" >"$T/ws.pre"
	snap "$UP" >"$T/up.pre"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 125 ]] || fail_output "expected 125"
	[[ $output == "ovlbox: apply $WS: upper dir $UP holds both trusted.overlay.* and user.overlay.* xattrs: which namespace the overlay that wrote it used is ambiguous: name it with --userxattr or --no-userxattr" ]] ||
		fail_output "unexpected message"
	run "$OVLBOX" diff "$WS"
	[[ $status -eq 125 ]] || fail_output "expected 125 from diff"
	[[ $output == "ovlbox: upper dir $UP holds both trusted.overlay.* and user.overlay.* xattrs: which namespace the overlay that wrote it used is ambiguous: name it with --userxattr or --no-userxattr" ]] ||
		fail_output "unexpected diff message"
	snap "$WS" >"$T/ws.post"
	snap "$UP" >"$T/up.post"
	assert_same_snap "$T/ws.pre" "$T/ws.post"
	assert_same_snap "$T/up.pre" "$T/up.post"
	[[ ! -e $WS.work ]] || fail "the refused apply left a work dir"
	# named, it applies (trusted.overlay.opaque is then user data of newdir)
	run "$OVLBOX" apply --userxattr "$WS"
	[[ $status -eq 0 ]] || fail_output "apply --userxattr failed"
	[[ $(getfattr -h --only-values -n trusted.overlay.opaque "$WS/newdir") == y ]]
	[[ $(cat "$WS/dir/new") == new && ! -e $WS/plain.txt ]]
}

@test "an ovlbox-prepared trusted upper: user.overlay.* set in the merged view stays user data" {
	make_fixture
	# As root, ovlbox mounts without userxattr and records trusted.overlay.*: the action's
	# user.overlay.opaque and user.overlay.whiteout are plain xattrs in the upper, and neither
	# makes the dir opaque nor the file a whiteout.
	run_action 'setfattr -n user.overlay.opaque -v y dir
		: > wh && setfattr -n user.overlay.whiteout -v y wh
		setfattr -n user.overlay.opaque -v x in'
	[[ $(getfattr -h --only-values -n user.overlay.opaque "$WS/dir") == y ]]
	[[ -f $WS/dir/f1 && -f $WS/dir/sub/f2 && -f $WS/wh && -f $WS/in/a.txt ]] ||
		fail "the action's xattrs were read as overlay xattrs"
	[[ $(getfattr -h --only-values -n user.overlay.whiteout "$WS/wh") == y ]]
}

@test "a namespace flag against the mode ovlbox recorded is refused; the recorded one applies" {
	make_fixture
	run_keep 'echo k > kept.txt'
	run "$OVLBOX" apply --userxattr "$WS"
	[[ $status -eq 125 ]] || fail_output "expected 125"
	[[ $output == "ovlbox: apply $WS: upper dir $WS.upper was prepared by ovlbox for trusted.overlay.* xattrs (recorded in work dir $WS.work): it cannot be read as user.overlay.*" ]] ||
		fail_output "unexpected message"
	[[ -d $WS.upper && ! -e $WS/kept.txt ]]
	run "$OVLBOX" apply --userxattr --no-userxattr "$WS"
	[[ $status -eq 2 && $output == "ovlbox: apply: --userxattr and --no-userxattr contradict each other" ]] ||
		fail_output "expected the flags refused together"
	run "$OVLBOX" apply --no-userxattr "$WS"
	[[ $status -eq 0 && $(cat "$WS/kept.txt") == k ]] || fail_output "apply --no-userxattr failed"
	assert_no_layers "$WS"
}

@test "discard takes the namespace flags" {
	make_foreign_upper
	run "$OVLBOX" discard --userxattr "$WS"
	[[ $status -eq 0 ]] || fail_output "discard --userxattr failed"
	[[ ! -e $UP ]]
	assert_ws_unchanged
}
