#!/usr/bin/env bats
# Crash safety of apply: an apply killed at an arbitrary point and re-run ends in the same tree
# as an uninterrupted one, and a further apply is a no-op.
#
# Method: an action runs with --on-exit keep; stray whiteouts are planted in a directory that
# comes in whole; the scenario (cache, workspace, upper, work) is saved. The reference is an
# uninterrupted apply of one copy, traced with strace to learn every system call it makes.
# Then, for every call that changes the filesystem (each rename, unlink, rmdir, chmod, chown,
# utime, xattr change, journal write/fsync, creating open, ...), a fresh copy is applied under
# `strace -e inject=SYSCALL:signal=KILL:when=N`, i.e. killed just before its N-th call of that
# syscall; then `ovlbox apply` runs again and must give exactly the reference tree, with no
# upper/work left and the cache intact; and a third apply must change nothing.

# Action scripts are single-quoted on purpose: they run inside the sandbox.
# shellcheck disable=SC2016

load lib/common
load lib/crash

# The action: every kind of change apply has to get right after a restart.
CRASH_ACTION='
	# opaque dirs (rm + recreate), also one nested in a merged dir
	rm -rf dir && mkdir dir && echo again > dir/f1 && mkdir dir/newsub && echo n > dir/newsub/n
	rm -rf src/x/y && mkdir src/x/y && : > src/x/y/only
	# whiteouts of dirs and files
	rm -rf big
	rm in/dup1 dangling
	# file -> dir, dir -> file
	rm in/a.txt && mkdir in/a.txt && echo inner > in/a.txt/inner
	rm -rf empty && echo "was a dir" > empty
	rm link && mkdir link && mkdir link/deeper && echo l > link/deeper/l
	# modified cache links, renames, hardlinks, symlinks, fifo
	echo more >> in/b.sh
	mv plain.txt moved.txt
	mv src/sub/deep.c src/sub/deep.moved
	ln moved.txt moved.hard
	ln -s moved.txt newlink
	mkfifo fifo
	# merged dirs with changed mode, times and xattrs, changes below them
	echo new > m1/m2/new && rm m1/m2/q && chmod 0750 m1/m2
	setfattr -n user.m1 -v 1 m1 && chmod 0700 m1
	touch -d "2005-05-05 05:05:05.5" m1/m2
	# a dir moved whole (mv: copy + delete), a new read-only tree
	mv keepdir moveddir
	mkdir -p ro/inner && echo r > ro/inner/f && chmod 0444 ro/inner/f && chmod 0555 ro/inner ro
	echo x > rodir/added
	touch -d "2004-04-04 04:04:04" .'

# Adds the dirs CRASH_ACTION works on to the fixture.
add_crash_inputs() {
	mkdir -p "$WS/big/a/b" "$WS/m1/m2" "$WS/keepdir/k2"
	local i
	for i in 1 2 3 4 5; do
		printf 'big %s\n' "$i" >"$WS/big/f$i"
		printf 'deep %s\n' "$i" >"$WS/big/a/b/g$i"
	done
	printf 'q\n' >"$WS/m1/m2/q"
	printf 'k\n' >"$WS/keepdir/k"
	printf 'k2\n' >"$WS/keepdir/k2/k"
	chmod 0555 "$WS/rodir"
	touch -d '2003-03-03 03:03:03' "$WS/big/a/b" "$WS/big/a" "$WS/big" "$WS/m1/m2" "$WS/m1" \
		"$WS/keepdir/k2" "$WS/keepdir"
	touch -d '2021-12-12 12:12:12.121212121' "$WS"
	if [[ $MODE == user ]]; then
		chown -R "$TEST_UID:$TEST_GID" "$WS"
	fi
	snapshot_cache
	snap "$WS" >"$T/ws.before"
}

# Plants a dir that comes in whole (no lower) holding stray whiteouts, and a stray whiteout in
# an opaque dir; keeps the parents' mtimes as the action left them.
plant_strays() {
	local up=$WS.upper
	touch -r "$up" "$T/stamp.root"
	touch -r "$up/dir" "$T/stamp.dir"
	mkdir "$up/strayd"
	mknod "$up/strayd/ghost" c 0 0
	printf 'kept\n' >"$up/strayd/keep"
	mkdir "$up/strayd/sub"
	mknod "$up/strayd/sub/ghost2" c 0 0
	mknod "$up/dir/ghost3" c 0 0
	touch -d '2002-02-02 02:02:02' "$up/strayd/sub" "$up/strayd"
	if [[ $MODE == user ]]; then
		chown -R "$TEST_UID:$TEST_GID" "$up/strayd" "$up/dir/ghost3"
	fi
	touch -r "$T/stamp.dir" "$up/dir"
	touch -r "$T/stamp.root" "$up"
}

# run_crash_test MODE
run_crash_test() {
	use_mode "$1"
	make_fixture
	add_crash_inputs
	run_action --on-exit keep "$CRASH_ACTION"
	[[ $status -eq 0 ]] || fail_output "the action failed"
	plant_strays
	mkdir "$T/scenario"
	cp -a "$FX/." "$T/scenario/"

	# the reference: an uninterrupted apply, traced
	copy_scenario "$T/scenario" "$T/ref"
	local ref=$T/ref/ws
	traced_apply_points "$ref" "$T/ref.trace" "$T/points" || fail "the reference apply failed"
	assert_no_layers "$ref"
	snap "$ref" >"$T/ref.snap"
	# it is what the action saw, plus the planted dir without its stray whiteouts
	grep -v '^strayd' "$T/ref.snap" >"$T/ref.nostray"
	if [[ $MODE == user ]]; then
		sed -E 's/ link=[0-9]+$//' "$T/snap.in" >"$T/expect"
		sed -i -E 's/ link=[0-9]+$//' "$T/ref.nostray"
	else
		cp "$T/snap.in" "$T/expect"
	fi
	assert_same_snap "$T/expect" "$T/ref.nostray"
	[[ $(grep -c '^strayd' "$T/ref.snap") -eq 3 ]] || fail "strayd: $(grep '^strayd' "$T/ref.snap")"
	assert_snap_line strayd/keep '^strayd/keep file ' "$T/ref.snap"
	assert_no_snap_line strayd/ghost "$T/ref.snap"
	assert_no_snap_line strayd/sub/ghost2 "$T/ref.snap"
	assert_no_snap_line dir/ghost3 "$T/ref.snap"
	CACHE=$T/ref/cache assert_cache_intact

	local npoints
	npoints=$(wc -l <"$T/points")
	[[ $npoints -ge 30 ]] || fail "only $npoints crash points: $(cat "$T/points")"
	echo "# $npoints crash points: $(awk '{print $1}' "$T/points" | sort | uniq -c | tr '\n' ' ')" >&3

	local sc n failures=0
	while read -r sc n; do
		crash_trial "$T/scenario" "$sc" "$n" "$T/ref.snap" || failures=$((failures + 1))
	done <"$T/points"
	[[ $failures -eq 0 ]] || fail "$failures of $npoints crash points went wrong (see above)"
}

@test "an apply killed at any change and re-run gives the uninterrupted result (root)" {
	run_crash_test root
}

@test "an apply killed at any change and re-run gives the uninterrupted result (user)" {
	run_crash_test user
}

@test "a second apply after a complete one is a no-op, also with nothing to apply" {
	make_fixture
	run_action --on-exit keep 'echo x > new; rm -rf dir; chmod 0700 src'
	[[ $status -eq 0 ]]
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	snap "$WS" >"$T/one"
	run strace -f -qq -o "$T/second.trace" "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "second apply failed"
	snap "$WS" >"$T/two"
	assert_same_snap "$T/one" "$T/two"
	assert_no_layers "$WS"
	# and it changed nothing: no mutating call on the workspace
	if crash_points "$T/second.trace" | grep -qvE '^(write|open|openat|openat2) '; then
		fail "the no-op apply made changes: $(crash_points "$T/second.trace")"
	fi
	# apply of a workspace that never had layers: a no-op too
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply without layers failed"
	assert_no_layers "$WS"
}

@test "applying a run that changed nothing writes nothing to the workspace, not even its ctime" {
	make_fixture
	# (orun, not run_keep: its snapshot reads the workspace, which moves the upper root's atime)
	run orun --on-exit keep -- true
	[[ $status -eq 0 && -d $WS.upper ]] || fail_output "run --on-exit keep failed"
	local before
	before=$(stat -c '%z %y %x %u:%g %a' "$WS")
	# reading the layers (diff, then the apply's own scan) moves no atime that apply compares
	run "$OVLBOX" diff "$WS"
	[[ $status -eq 0 && -z $output ]] || fail_output "diff of an unchanged workspace"
	run strace -f -qq -o "$T/apply.trace" "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	assert_no_layers "$WS"
	[[ $(stat -c '%z %y %x %u:%g %a' "$WS") == "$before" ]] ||
		fail "the workspace root changed: $before -> $(stat -c '%z %y %x %u:%g %a' "$WS")"
	# only the layers were removed: no owner, mode, times or xattrs set on anything
	if grep -E '^[0-9]+ +(f?chownat|[fl]?chown|f?chmod(at)?|utimensat|futimesat|[fl]?setxattr)\(' \
		"$T/apply.trace"; then
		fail "the apply set metadata although nothing changed"
	fi
}

@test "an action that changes only a dir's atime has it applied" {
	make_fixture
	# (orun, not run_action: its snapshot would read the dir, and relatime move the atime back)
	run orun -- touch -a -d "2001-02-03 04:05:06.5" dir
	[[ $status -eq 0 ]] || fail_output "run failed"
	[[ $(stat -c '%x' "$WS/dir") == "2001-02-03 04:05:06.500000000 +0000" ]] ||
		fail "dir's atime: $(stat -c '%x' "$WS/dir")"
	assert_no_layers "$WS"
}

@test "run finishes an interrupted apply before starting the next action" {
	make_fixture
	run_action --on-exit keep 'echo x > new; rm -rf dir && mkdir dir && : > dir/only'
	[[ $status -eq 0 ]]
	cp -a "$FX" "$T/ref"
	strace -f -qq -o "$T/ref.trace" "$OVLBOX" apply "$T/ref/ws"
	snap "$T/ref/ws" >"$T/ref.snap"
	# kill the apply at its 2nd rename (renameat or renameat2, whichever it uses)
	local sc=renameat
	grep -q 'renameat2(' "$T/ref.trace" && sc=renameat2
	local st=0
	strace -f -qq -o /dev/null -e trace=$sc -e inject=$sc:signal=KILL:when=2 \
		"$OVLBOX" apply "$WS" >/dev/null 2>&1 || st=$?
	[[ $st -eq 137 ]] || fail "the apply was not killed ($st)"
	[[ -e $WS.work/ovlbox-journal ]] || fail "no journal left by the interrupted apply"
	# diff and discard must not silently lose the half-done apply
	run "$OVLBOX" discard "$WS"
	[[ $status -ne 0 ]] || fail_output "discard of a half-done apply succeeded"
	[[ -e $WS.work/ovlbox-journal ]]
	# the next run finishes it first, then runs
	run orun -- sh -c 'echo after > after.txt'
	[[ $status -eq 0 ]] || fail_output "run failed"
	[[ $(cat "$WS/after.txt") == after ]]
	snap "$WS" | grep -v '^after.txt ' | grep -v '^\. ' >"$T/now"
	grep -v '^\. ' "$T/ref.snap" >"$T/want"
	assert_same_snap "$T/want" "$T/now"
	assert_no_layers "$WS"
	assert_cache_intact
}

@test "run that cannot finish an interrupted apply says which command finishes it" {
	make_fixture
	run_action --on-exit keep 'echo x > new'
	[[ $status -eq 0 ]]
	# killed at its 2nd rename: the 1st puts the journal in place, the 2nd would move new
	local st=0
	strace -f -qq -o /dev/null -e trace=renameat,renameat2 \
		-e inject=renameat,renameat2:signal=KILL:when=2 "$OVLBOX" apply "$WS" >/dev/null 2>&1 ||
		st=$?
	[[ $st -eq 137 && -e $WS.work/ovlbox-journal ]] || fail "no journal left ($st)"
	chattr +i "$WS"
	run orun -- true
	chattr -i "$WS"
	[[ $status -eq 125 ]] || fail_output "expected 125"
	[[ $output == "ovlbox: apply $WS (the journal is kept): "*": Operation not permitted; run \`ovlbox apply $WS\` to finish" ]] ||
		fail_output "unexpected message"
	[[ ! -e $WS/new && -e $WS.work/ovlbox-journal ]] || fail "the journal or the workspace changed"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 && $(cat "$WS/new") == x ]] || fail_output "the suggested apply failed"
	assert_no_layers "$WS"
}
