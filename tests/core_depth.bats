#!/usr/bin/env bats
# Depth is not a limit: apply, diff and discard work at the usual `nofile` 1024 on directory
# chains far deeper than that (and than PATH_MAX can name), as root and as an unprivileged user.
#
# The workspace holds two chains of LEVELS directories: o/o/... with a file at the bottom, and
# m/m/... without. The action (under prlimit --nofile=1024) creates a new chain n/n/... with a
# file at the bottom (new dirs: a replace of `n`), writes a file at the bottom of m (a merge at
# every level) and removes o (one whiteout over a deep lower tree). One-letter names: a
# 5,000-level chain's paths are 25 MB together already. The workspace after
# apply must equal the merged view the action saw (treesnap inside the action, at 1024 too), and
# `ovlbox diff` must list exactly the expected paths.

# Action scripts are single-quoted on purpose: they run inside the sandbox. ORUN_WRAP is read by
# orun in lib/common.bash.
# shellcheck disable=SC2016,SC2030,SC2031,SC2034

load lib/common

DEEPTREE="$OVLBOX_HELPERS/deeptree"

setup_file() {
	ensure_test_user
}

setup() {
	common_setup
	ORUN_WRAP=(prlimit --nofile=1024:1024 --)
}

teardown() {
	common_teardown
}

# deep_fixture LEVELS: $WS with the chains o (a file `bottom` at the bottom) and m, and top.txt;
# owned by the mode's user.
deep_fixture() {
	WS=$T/fx/ws
	mkdir -p "$WS"
	printf 'top\n' >"$WS/top.txt"
	"$DEEPTREE" "$WS" o "$1" bottom
	"$DEEPTREE" "$WS" m "$1"
	if [[ $MODE == user ]]; then
		# the layers are made beside the workspace
		chown -R "$TEST_UID:$TEST_GID" "$T/fx"
	fi
}

# chain NAME LEVELS: NAME, NAME/NAME, ... (LEVELS paths), one a line.
chain() {
	awk -v n="$1" -v l="$2" 'BEGIN { p = n; for (i = 1; i <= l; i++) { print p; p = p "/" n } }'
}

# The action for LEVELS ($1 of the sh -c inside).
deep_action() {
	printf '%s n %s f\n%s m %s f2\nrm -rf o\n' "$(shq "$DEEPTREE") ." "$1" \
		"$(shq "$DEEPTREE") ." "$1"
}

# expected_diff LEVELS: what `ovlbox diff` prints for the action above, sorted bytewise.
expected_diff() {
	local levels=$1
	{
		printf 'A %s/f2\n' "$(chain m "$levels" | tail -n 1)"
		chain n "$levels" | sed 's/^/A /'
		printf 'A %s/f\n' "$(chain n "$levels" | tail -n 1)"
		chain o "$levels" | sed 's/^/D /'
		printf 'D %s/bottom\n' "$(chain o "$levels" | tail -n 1)"
	} | LC_ALL=C sort
}

# assert_applied_as_seen: the workspace equals the merged view the action saw ($T/snap.in).
assert_applied_as_seen() {
	snap "$WS" >"$T/snap.out"
	if [[ $MODE == user ]]; then
		# as run_action: hardlink groups seen from inside a userxattr overlay are unreliable
		sed -E 's/ link=[0-9]+$//' "$T/snap.in" >"$T/snap.in.nolinks"
		sed -E 's/ link=[0-9]+$//' "$T/snap.out" >"$T/snap.out.nolinks"
		cmp -s "$T/snap.in.nolinks" "$T/snap.out.nolinks" ||
			fail "the workspace differs from the merged view ($(wc -l <"$T/snap.out") against $(wc -l <"$T/snap.in") entries)"
	else
		cmp -s "$T/snap.in" "$T/snap.out" ||
			fail "the workspace differs from the merged view ($(wc -l <"$T/snap.out") against $(wc -l <"$T/snap.in") entries)"
	fi
	# the chains as expected: 1 + 3 * LEVELS + 3 entries (root, top.txt, the chains, 2 files)
	[[ $(wc -l <"$T/snap.out") -eq $((3 + 2 * $1 + 1)) ]] ||
		fail "$(wc -l <"$T/snap.out") entries in the workspace, want $((3 + 2 * $1 + 1))"
	assert_snap_line "$(chain n "$1" | tail -n 1)/f" ' file 0644 0:0 size=7 '
	assert_snap_line "$(chain m "$1" | tail -n 1)/f2" ' file 0644 0:0 size=7 '
	assert_no_snap_line o
	assert_no_layers "$WS"
}

# deep_keep_diff_apply MODE LEVELS: the action kept, then diff and apply at nofile 1024.
deep_keep_diff_apply() {
	use_mode "$1"
	deep_fixture "$2"
	run_action --on-exit keep "$(deep_action "$2")"
	[[ $status -eq 0 ]] || fail_output "ovlbox run --on-exit keep failed"
	as_mode prlimit --nofile=1024:1024 -- "$OVLBOX" diff "$WS" >"$T/diff.got" 2>"$T/diff.err" ||
		fail "ovlbox diff failed: $(head -c 2000 "$T/diff.err")"
	[[ ! -s $T/diff.err ]] || fail "ovlbox diff wrote to stderr: $(head -c 2000 "$T/diff.err")"
	expected_diff "$2" >"$T/diff.want"
	cmp -s "$T/diff.want" "$T/diff.got" ||
		fail "ovlbox diff: $(diff "$T/diff.want" "$T/diff.got" | head -c 2000)"
	run as_mode prlimit --nofile=1024:1024 -- "$OVLBOX" apply "$WS"
	[[ $status -eq 0 && -z $output ]] || fail_output "ovlbox apply failed"
	assert_applied_as_seen "$2"
}

# deep_run MODE LEVELS [RUN-OPTION...]: ovlbox run (apply at exit) at nofile 1024.
deep_run() {
	use_mode "$1"
	deep_fixture "$2"
	run orun "${@:3}" -- sh -c "set -e
$(deep_action "$2")
$(shq "$TREESNAP") . > $(shq "$IO/snap.in")"
	[[ $status -eq 0 ]] || fail_output "ovlbox run failed"
	mv "$IO/snap.in" "$T/snap.in"
	assert_applied_as_seen "$2"
}

@test "depth: 600 levels, ovlbox run applies at nofile 1024, root" {
	deep_run root 600
}

@test "depth: 600 levels, diff and apply at nofile 1024, root" {
	deep_keep_diff_apply root 600
}

@test "depth: 600 levels, diff and apply at nofile 1024, user" {
	deep_keep_diff_apply user 600
}

@test "depth: 5000 levels, diff and apply at nofile 1024, root" {
	deep_keep_diff_apply root 5000
}

@test "depth: 5000 levels, diff and apply at nofile 1024, user" {
	deep_keep_diff_apply user 5000
}

@test "depth: 5000 levels, ovlbox run applies at nofile 1024, root" {
	deep_run root 5000
}

@test "depth: 5000 levels, ovlbox run --check-owners applies at nofile 1024, user" {
	deep_run user 5000 --check-owners
}

@test "depth: 5000 levels, an unmapped owner at the bottom is named at nofile 1024, user" {
	use_mode user
	deep_fixture 5000
	local bottom
	bottom=$(chain o 5000 | tail -n 1)/bottom
	# (the path is longer than PATH_MAX: reached 100 levels at a time)
	(
		cd "$WS" || exit 1
		for ((i = 0; i < 50; i++)); do cd "$(printf 'o/%.0s' {1..100})" || exit 1; done
		chown root:root bottom
	) || fail "could not chown the bottom file"
	run orun --check-owners -- true
	[[ $status -eq 125 ]] || fail_output "expected 125"
	# a message renders at most 1,020 bytes of a path, then "..."
	[[ $output == "ovlbox: workspace entry ${bottom:0:1020}... is owned by 0:0; a non-root run maps only $TEST_UID:$TEST_GID into its user namespace, so the action could not change it (chown the workspace, or run as root)" ]] ||
		fail "unexpected message: ${output:0:300}...${output: -300}"
	assert_no_layers "$WS"
}

@test "depth: 5000 levels, discard at nofile 1024, root" {
	use_mode root
	deep_fixture 5000
	snap "$WS" >"$T/before"
	run_action --on-exit keep "$(deep_action 5000)"
	[[ $status -eq 0 ]] || fail_output "ovlbox run --on-exit keep failed"
	run prlimit --nofile=1024:1024 -- "$OVLBOX" discard "$WS"
	[[ $status -eq 0 && -z $output ]] || fail_output "ovlbox discard failed"
	snap "$WS" >"$T/after"
	cmp -s "$T/before" "$T/after" || fail "discard changed the workspace"
	assert_no_layers "$WS"
}

# No recursion per level: a 100,000-level chain (200 KB paths; a C recursion of a few hundred
# bytes a level would overflow the default 8 MiB stack) moves in and another goes, at nofile
# 1024. The upper is made directly (as root: a whiteout is a 0/0 char device); no diff, whose
# listing of 100,000 such paths would be 10 GB.
@test "depth: 100,000 levels, apply at nofile 1024 (a new chain in, a deleted one out), root" {
	WS=$T/ws
	mkdir "$WS" "$WS.upper"
	printf 'top\n' >"$WS/top.txt"
	"$DEEPTREE" "$WS" o 100000 bottom
	"$DEEPTREE" "$WS.upper" n 100000 f
	mknod "$WS.upper/o" c 0 0
	run prlimit --nofile=1024:1024 -- "$OVLBOX" apply "$WS"
	[[ $status -eq 0 && -z $output ]] || fail_output "ovlbox apply failed"
	[[ $(cd "$WS" && echo *) == 'n top.txt' ]] || fail "workspace: $(cd "$WS" && echo *)"
	[[ $(find "$WS" -type d -printf x | wc -c) -eq 100001 ]] || fail "not 100,000 dirs below"
	[[ $(find "$WS" -type f -printf '%d %s\n' | sort) == $'1 4\n100001 7' ]] ||
		fail "files: $(find "$WS" -type f -printf '%d %s\n')"
	assert_no_layers "$WS"
}
