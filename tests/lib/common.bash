# shellcheck shell=bash
# Variables here are used by the suites that load this file; status/output come from bats' run.
# shellcheck disable=SC2034,SC2154
# Shared set-up for the ovlbox bats suites: scratch dirs, a content-addressed cache with a
# workspace hardlinked into it, tree snapshots, and running actions as root or as an
# unprivileged user.
#
# Env (set by tests/run.sh): OVLBOX (the binary), OVLBOX_HELPERS (build/<variant>/tests/helpers).

: "${OVLBOX:?set OVLBOX (tests/run.sh does)}"
: "${OVLBOX_HELPERS:?set OVLBOX_HELPERS (tests/run.sh does)}"
TREESNAP="$OVLBOX_HELPERS/treesnap"
MKSOCK="$OVLBOX_HELPERS/mksock"
MKFILES="$OVLBOX_HELPERS/mkfiles"
TEST_USER=ovlboxtest
# touch -d dates in the tests are UTC; the snapshots' expected epochs depend on it.
export TZ=UTC

# ---------------------------------------------------------------------------------------------
# small utilities

# Quotes a string for sh (single quotes).
shq() {
	local s=${1//\'/\'\\\'\'}
	printf "'%s'" "$s"
}

# Fails the test with a message on stderr (bats shows it).
fail() {
	printf '%s\n' "$*" >&2
	return 1
}

# Dumps $output (from bats' run) and fails.
fail_output() {
	printf '%s\n' "$*" "--- output ($status):" "$output" >&2
	return 1
}

# The unprivileged user: created when missing (needs root). Sets TEST_UID, TEST_GID.
ensure_test_user() {
	if ! id -u "$TEST_USER" >/dev/null 2>&1; then
		[[ $(id -u) -eq 0 ]] || return 1
		useradd --user-group --no-create-home --shell /bin/sh "$TEST_USER" ||
			id -u "$TEST_USER" >/dev/null 2>&1 || return 1
	fi
	TEST_UID=$(id -u "$TEST_USER")
	TEST_GID=$(id -g "$TEST_USER")
}

# Runs a command as the unprivileged user (no supplementary groups), keeping the environment.
as_user() {
	setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --clear-groups -- "$@"
}

# Skips the current test, with the reason, when this machine cannot run ovlbox rootless.
# Reasons a user's machine may really have: no user namespaces, or a policy (AppArmor's
# unprivileged_userns restriction) that forbids them, or a build dir the user cannot reach.
require_rootless() {
	local max
	max=$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 0)
	if [[ $max -eq 0 ]]; then
		skip "user namespaces are disabled (/proc/sys/user/max_user_namespaces is 0)"
	fi
	if [[ $(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || echo 1) -eq 0 ]]; then
		skip "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)"
	fi
	ensure_test_user || fail "cannot create user $TEST_USER"
	if ! as_user unshare -U -r -m true 2>/dev/null; then
		skip "the unprivileged user $TEST_USER cannot create user+mount namespaces (policy)"
	fi
	if ! as_user test -x "$OVLBOX" || ! as_user test -x "$TREESNAP"; then
		skip "$OVLBOX or $TREESNAP is not reachable by $TEST_USER (build in a world-readable dir)"
	fi
}

# ---------------------------------------------------------------------------------------------
# per-test scratch

# Creates $T, a world-traversable scratch dir per test (bats' own tmpdirs are 0700 and so
# unreachable for the unprivileged user). On the filesystem of /tmp (upper, work and lower must
# share one filesystem; they do, all are in $T).
#
# $IO ($T/io) is the one scratch dir the actions see: the sandbox of `ovlbox run` has a private
# /tmp and a read-only host root, so RUN_FLAGS bind $IO writable (and the helpers read-only, in
# case the build dir is under /tmp) and keep every capability: these suites test the
# copy-on-write core (chown, trusted.* xattrs, mknod and writes to read-only files need
# capabilities the sandbox drops by default; tests/sandbox.bats covers the isolation).
common_setup() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/ovlbox-test.XXXXXX")
	chmod 0755 "$T"
	IO=$T/io
	mkdir "$IO"
	MODE=root
	WS=
	CACHE=
	RUN_FLAGS=(--cap-add ALL --ro-bind "$OVLBOX_HELPERS" --bind "$IO")
}

common_teardown() {
	[[ -n ${T:-} && -d $T ]] || return 0
	# Immutable/append-only flags set by a test would make rm fail.
	if command -v chattr >/dev/null; then
		find "$T" -xdev \( -type f -o -type d \) -print0 2>/dev/null |
			xargs -0 -r chattr -i -a 2>/dev/null || true
	fi
	chmod -R u+rwX "$T" 2>/dev/null || true
	rm -rf "$T"
}

# Selects who runs the actions: root or user. For user, the fixture's owner is the user.
use_mode() {
	MODE=$1
	if [[ $MODE == user ]]; then
		require_rootless
		chown "$TEST_UID:$TEST_GID" "$IO"
	fi
}

# Runs "$@" as the selected mode's user.
as_mode() {
	if [[ $MODE == user ]]; then
		as_user "$@"
	else
		"$@"
	fi
}

# ---------------------------------------------------------------------------------------------
# the content-addressed cache and a workspace of hardlinks into it

# cache_put CONTENT MODE MTIME [XATTR=VALUE...] : stores CONTENT in $CACHE under its sha256
# and prints the cache file's path. xattr names are as given (user.* or trusted.*).
cache_put() {
	local content=$1 mode=$2 mtime=$3 name path kv
	shift 3
	name=$(printf '%s' "$content" | sha256sum | cut -d' ' -f1)
	path=$CACHE/$name
	if [[ ! -e $path ]]; then
		printf '%s' "$content" >"$path"
		for kv in "$@"; do
			setfattr -n "${kv%%=*}" -v "${kv#*=}" "$path"
		done
		chmod "$mode" "$path"
		touch -h -d "$mtime" "$path"
	fi
	printf '%s\n' "$path"
}

# link_in CACHEFILE WSPATH: hardlinks a cache file into the workspace.
link_in() {
	mkdir -p "$(dirname "$WS/$2")"
	ln "$1" "$WS/$2"
}

# make_fixture: builds $FX/cache and $FX/ws (WS, CACHE), owned by root or, in user mode, by the
# user. The workspace's inputs are hardlinks into the cache (varied modes, mtimes, xattrs;
# trusted.* only as root) next to plain files and dirs, a symlink and read-only parts:
#
#   in/a.txt in/b.sh in/ro.txt in/dup1 in/dup2 (one cache file) [in/owned.dat: uid 4242, root]
#   src/sub/deep.c src/sub/deep.h src/x/y/z/leaf   dir/f1 dir/sub/f2   empty/
#   rodir/ (0555) rodir/file (0444)   link -> in/a.txt   dangling -> ../nowhere   plain.txt
#
# Then snapshots the cache (snapshot_cache) and the workspace ($T/ws.before).
#
# FX_NAME and WS_NAME (default fx, ws) name the fixture dir in $T and the workspace in it.
make_fixture() {
	FX=$T/${FX_NAME:-fx}
	mkdir -p "$FX"
	CACHE=$FX/cache
	WS=$FX/${WS_NAME:-ws}
	mkdir -p "$CACHE" "$WS"
	local tx=() c
	[[ $MODE == root ]] && tx=(trusted.cache=t1)

	c=$(cache_put $'alpha\n' 0644 '2020-01-01 00:00:00.123456789' user.origin=cache-a "${tx[@]}")
	link_in "$c" in/a.txt
	c=$(cache_put $'#!/bin/sh\necho b\n' 0755 '2019-05-05 05:05:05' user.kind=script)
	link_in "$c" in/b.sh
	c=$(cache_put $'read only\n' 0444 '2018-03-03 03:03:03.5' "${tx[@]}")
	link_in "$c" in/ro.txt
	c=$(cache_put $'shared twice\n' 0600 '2017-07-07 07:07:07' user.dup=yes)
	link_in "$c" in/dup1
	link_in "$c" in/dup2
	c=$(cache_put $'int deep;\n' 0640 '2016-06-06 06:06:06.000000001')
	link_in "$c" src/sub/deep.c
	c=$(cache_put $'in dir/sub\n' 0644 '2015-01-02 03:04:05')
	link_in "$c" dir/sub/f2
	if [[ $MODE == root ]]; then
		c=$(cache_put $'owned by 4242\n' 0644 '2014-04-04 04:04:04' trusted.x=y)
		chown 4242:4343 "$c"
		link_in "$c" in/owned.dat
	fi

	printf 'int deep_h;\n' >"$WS/src/sub/deep.h"
	mkdir -p "$WS/src/x/y/z" "$WS/empty" "$WS/rodir"
	printf 'leaf\n' >"$WS/src/x/y/z/leaf"
	printf 'f1 data\n' >"$WS/dir/f1"
	setfattr -n user.plain -v 'p v' "$WS/dir/f1"
	printf 'plain\n' >"$WS/plain.txt"
	printf 'ro\n' >"$WS/rodir/file"
	chmod 0444 "$WS/rodir/file"
	ln -s in/a.txt "$WS/link"
	ln -s ../nowhere "$WS/dangling"
	setfattr -n user.d -v dirattr "$WS/dir"
	setfattr -n user.root -v r "$WS"
	chmod 0750 "$WS/dir"
	chmod 0700 "$WS/src/x"

	if [[ $MODE == user ]]; then
		chown -R "$TEST_UID:$TEST_GID" "$FX"
	fi
	# Fixed times for every non-cache entry, bottom-up so dir times stick.
	local i=0 p
	while IFS= read -r -d '' p; do
		i=$((i + 1))
		touch -h -d "2022-02-02 02:02:$((i % 60)).$((100000000 + i))" "$p"
	done < <(find "$WS" -depth -mindepth 1 -links 1 -print0; find "$WS" -depth -mindepth 1 -type d -print0)
	chmod 0555 "$WS/rodir"
	touch -d '2021-12-12 12:12:12.121212121' "$WS/rodir" "$WS"
	chmod 0755 "$WS"

	snapshot_cache
	snap "$WS" >"$T/ws.before"
}

# ---------------------------------------------------------------------------------------------
# snapshots

# snap DIR [treesnap options]: canonical snapshot, ids as the action sees them (user mode:
# the user is root inside its namespace).
snap() {
	local dir=$1
	shift
	local map=()
	if [[ $MODE == user ]]; then
		map=(--map-uid "$TEST_UID:0" --map-gid "$TEST_GID:0")
	fi
	"$TREESNAP" "${map[@]}" "$@" "$dir"
}

snapshot_cache() {
	"$TREESNAP" --no-links "$CACHE" >"$T/cache.before"
}

# The cache's files keep content, mode, mtime, owner and xattrs (link counts may drop).
assert_cache_intact() {
	"$TREESNAP" --no-links "$CACHE" >"$T/cache.after"
	if ! diff -u "$T/cache.before" "$T/cache.after" >"$T/cache.diff"; then
		fail "the cache changed:" "$(cat "$T/cache.diff")"
	fi
}

# assert_same_file A B: two snapshot files are identical (shows a unified diff otherwise).
assert_same_snap() {
	if ! diff -u "$1" "$2" >"$T/snap.diff"; then
		fail "snapshots differ ($1 vs $2):" "$(cat "$T/snap.diff")"
	fi
}

assert_no_layers() {
	local d=${1:-$WS}
	[[ ! -e $d.upper && ! -L $d.upper ]] || fail "$d.upper still exists after apply"
	[[ ! -e $d.work && ! -L $d.work ]] || fail "$d.work still exists after apply"
}

# ---------------------------------------------------------------------------------------------
# running actions

# orun ARGS...: `ovlbox run --workspace $WS RUN_FLAGS ARGS...` as the mode's user, under the
# command in the array ORUN_WRAP if a test sets one (e.g. seccomp_exec PROFILE --).
orun() {
	as_mode ${ORUN_WRAP[@]+"${ORUN_WRAP[@]}"} "$OVLBOX" run --workspace "$WS" "${RUN_FLAGS[@]}" "$@"
}

# run_action [RUN-OPTION...] SCRIPT: runs SCRIPT (sh, `set -e`, cwd = the workspace) with
# `ovlbox run --workspace $WS`, then takes a snapshot of the merged view from inside the action
# into $T/snap.in (via $IO, outside the workspace). Sets status/output (bats run). With the
# default on-exit (apply) it then asserts: exit 0, the workspace after apply equals the view
# inside ($T/snap.out), upper and work are gone, and the cache is intact.
run_action() {
	local opts=()
	while [[ $# -gt 1 ]]; do
		opts+=("$1")
		shift
	done
	local script=$1
	local snapin=$T/snap.in
	rm -f "$IO/snap.in" "$snapin"
	local full
	# (the script runs in a subshell so that a cd in it does not move the snapshot)
	full="set -e
(
$script
)
$(shq "$TREESNAP") . > $(shq "$IO/snap.in")"
	run orun "${opts[@]}" -- sh -c "$full"
	if [[ -e $IO/snap.in ]]; then
		mv "$IO/snap.in" "$snapin"
	else
		: >"$snapin"
	fi
	local keep=0 o
	for o in "${opts[@]}"; do
		[[ $o == keep || $o == discard || $o == --on-exit=keep || $o == --on-exit=discard ]] &&
			keep=1
	done
	[[ $keep -eq 1 ]] && return 0
	[[ $status -eq 0 ]] || fail_output "ovlbox run failed"
	[[ -s $snapin ]] || fail "the action wrote no snapshot"
	snap "$WS" >"$T/snap.out"
	if [[ $MODE == user ]]; then
		# In a userxattr overlay, the kernel reports a copied-up file's st_ino inconsistently
		# across its hardlinks made in merged (the name looked up before the copy-up keeps the
		# lower inode number, new names get the upper one), so the hardlink groups seen from
		# inside are not reliable: compare without them (tests check groups explicitly).
		sed -E 's/ link=[0-9]+$//' "$snapin" >"$T/snap.in.nolinks"
		sed -E 's/ link=[0-9]+$//' "$T/snap.out" >"$T/snap.out.nolinks"
		assert_same_snap "$T/snap.in.nolinks" "$T/snap.out.nolinks"
	else
		assert_same_snap "$T/snap.in" "$T/snap.out"
	fi
	assert_no_layers "$WS"
	assert_cache_intact
}

# run_keep SCRIPT: the action with --on-exit keep; must exit 0 and leave upper/work.
run_keep() {
	run_action --on-exit keep "$1"
	[[ $status -eq 0 ]] || fail_output "ovlbox run --on-exit keep failed"
	[[ -d $WS.upper && -d $WS.work ]] || fail "--on-exit keep left no upper/work"
}

# The workspace differs from before the action (the action's change happened).
assert_ws_changed() {
	if cmp -s "$T/ws.before" "$T/snap.out"; then
		fail "the workspace did not change"
	fi
}

# The workspace is exactly as before the action.
assert_ws_unchanged() {
	snap "$WS" >"$T/ws.now"
	assert_same_snap "$T/ws.before" "$T/ws.now"
}

# assert_line_for PATH REGEX: the snapshot line of PATH in $T/snap.out matches REGEX (ERE).
snap_line() {
	local f=${2:-$T/snap.out}
	awk -v p="$1" '$1 == p' "$f"
}

assert_snap_line() {
	local line
	line=$(snap_line "$1" "${3:-}")
	[[ -n $line ]] || fail "no entry '$1' in the snapshot"
	[[ $line =~ $2 ]] || fail "entry '$1' does not match /$2/: $line"
}

# link_groups [SNAPFILE]: the hardlink groups of a snapshot, one line per group: its paths,
# space-separated, in path order; groups in order of their first path.
link_groups() {
	awk '/ link=[0-9]+$/ { g = $NF; sub(/^link=/, "", g); if (!(g in s)) { o[++n] = g; s[g] = $1 } else s[g] = s[g] " " $1 }
	     END { for (i = 1; i <= n; i++) print s[o[i]] }' "${1:-$T/snap.out}"
}

assert_no_snap_line() {
	local line
	line=$(snap_line "$1" "${2:-}")
	[[ -z $line ]] || fail "entry '$1' should not exist: $line"
}
