#!/usr/bin/env bats
# Rootless `ovlbox run` at scale: no per-file work before the run (start-up the same on 100 and
# 100,000 workspace files); entries of owners the run cannot map are looked for only after an
# action that failed, and named in notes; --check-owners refuses them up front.

# Action scripts are single-quoted on purpose: they run inside the sandbox.
# shellcheck disable=SC2016

load lib/common
load lib/sandbox

# (the test user is made by require_rootless, in the tests that need it)
setup() { common_setup; }
teardown() { common_teardown; }

# A root-owned, world-writable file in the workspace: the action may write it as far as modes
# go, but overlayfs cannot copy it up in the one-id user namespace.
add_root_owned() {
	printf 'r\n' >"$WS/$1"
	chown 0:0 "$WS/$1"
	chmod 0666 "$WS/$1"
}

# median FILE: the median of the numbers in FILE, one a line (an odd count).
median() {
	sort -n "$1" | awk '{ v[NR] = $1 } END { print v[(NR + 1) / 2] }'
}

# run_us WS: microseconds of one rootless `ovlbox run --workspace WS -- /bin/true`.
run_us() {
	local s e
	s=$EPOCHREALTIME
	as_user "$OVLBOX" run --workspace "$1" -- /bin/true || return 1
	e=$EPOCHREALTIME
	echo $((${e/./} - ${s/./}))
}

@test "rootless run on 100,000 workspace files starts within 1.2x of one on 100 (medians)" {
	require_rootless
	local d=$T/scale # the user's: upper and work are made beside each workspace
	mkdir -p "$d/small" "$d/big"
	chown -R "$TEST_UID:$TEST_GID" "$d"
	as_user "$MKFILES" "$d/small" 1 100
	as_user "$MKFILES" "$d/big" 100 1000
	[[ $(find "$d/big" -type f | wc -l) -eq 100000 ]] || fail "mkfiles made no 100,000 files"
	local i ws
	for i in 1 2; do # warm-up
		run_us "$d/small" >/dev/null && run_us "$d/big" >/dev/null || fail "run failed"
	done
	# interleaved, every other round in reverse order
	for i in $(seq 1 31); do
		for ws in $( ((i % 2)) && echo small big || echo big small); do
			run_us "$d/$ws" >>"$T/$ws.us" || fail "run on $ws failed"
		done
	done
	local small big
	small=$(median "$T/small.us")
	big=$(median "$T/big.us")
	echo "median us: 100 files $small, 100,000 files $big" >&3
	((big * 10 <= small * 12)) ||
		fail "100,000 files: median ${big} us, over 1.2x the ${small} us of 100 files"
	assert_no_layers "$d/small"
	assert_no_layers "$d/big"
}

@test "a rootless action failing on an entry of an unmapped owner ends with a note naming it" {
	use_mode user
	make_fixture
	add_root_owned src/rootowned
	run orun --stats "$IO/stats.json" -- sh -c 'echo x > created.txt; echo y >> src/rootowned'
	[[ $status -eq 2 ]] || fail_output "expected the action's status 2"
	[[ ${lines[0]} == *"src/rootowned: Value too large for defined data type" ]] ||
		fail_output "the action should have failed with EOVERFLOW"
	[[ ${#lines[@]} -eq 2 ]] || fail_output "expected the action's line and one note"
	[[ ${lines[1]} == "ovlbox: note: $WS/src/rootowned is owned by 0:0, which this run cannot map (writes to it fail with EOVERFLOW): chown it to $TEST_UID:$TEST_GID" ]] ||
		fail_output "unexpected note"
	stats_schema_ok "$IO/stats.json"
	[[ $(stats_get "$IO/stats.json" '[.exit_code, .unmapped_owners, .applied]') == '[2,1,true]' ]] ||
		fail "stats: $(cat "$IO/stats.json")"
	[[ $(cat "$WS/created.txt") == x && $(cat "$WS/src/rootowned") == r ]]
}

@test "after a failed rootless action, five notes and the count of the rest" {
	use_mode user
	make_fixture
	local i
	for i in 1 2 3 4 5 6 7; do
		add_root_owned "dir/sub/r$i"
	done
	chown 0:0 "$WS/empty"
	run orun --stats "$IO/stats.json" -- false
	[[ $status -eq 1 ]] || fail_output "expected the action's status 1"
	[[ ${#lines[@]} -eq 6 ]] || fail_output "expected five notes and a count"
	for i in 0 1 2 3 4; do
		[[ ${lines[i]} =~ ^"ovlbox: note: $WS/"(dir/sub/r[1-7]|empty)" is owned by 0:0, which this run cannot map (writes to it fail with EOVERFLOW): chown it to $TEST_UID:$TEST_GID"$ ]] ||
			fail_output "unexpected note $i"
	done
	[[ ${lines[5]} == "ovlbox: note: 3 more entries are owned by ids this run cannot map" ]] ||
		fail_output "unexpected count line"
	[[ $(stats_get "$IO/stats.json" .unmapped_owners) == 8 ]] || fail "stats: $(cat "$IO/stats.json")"
}

@test "a rootless action that succeeds gets no note; unmapped_owners is null (not looked for)" {
	use_mode user
	make_fixture
	add_root_owned src/rootowned
	run orun --stats "$IO/stats.json" -- sh -c 'echo x > created.txt'
	[[ $status -eq 0 && -z $output ]] || fail_output "expected a quiet success"
	stats_schema_ok "$IO/stats.json"
	[[ $(stats_get "$IO/stats.json" .unmapped_owners) == null ]] ||
		fail "stats: $(cat "$IO/stats.json")"
}

@test "as root, unmapped_owners is 0" {
	make_fixture
	run orun --stats "$IO/stats.json" -- false
	[[ $status -eq 1 && -z $output ]] || fail_output "expected status 1 and no note"
	[[ $(stats_get "$IO/stats.json" .unmapped_owners) == 0 ]] || fail "stats: $(cat "$IO/stats.json")"
}

@test "--check-owners: a rootless run over an entry of an unmapped owner fails up front, naming it" {
	use_mode user
	make_fixture
	add_root_owned src/rootowned
	touch -r "$WS/src/sub" "$WS/src"
	snap "$WS" >"$T/ws.before"
	run orun --check-owners -- sh -c 'echo x > created.txt; echo y >> src/rootowned'
	[[ $status -eq 125 ]] || fail_output "expected 125"
	[[ $output == "ovlbox: workspace entry src/rootowned is owned by 0:0; a non-root run maps only $TEST_UID:$TEST_GID into its user namespace, so the action could not change it (chown the workspace, or run as root)" ]] ||
		fail_output "expected one line naming the entry"
	assert_no_layers "$WS"
	assert_ws_unchanged
}

@test "a rootless run over a workspace whose root has another owner fails up front" {
	use_mode user
	make_fixture
	chown 0:0 "$WS"
	snap "$WS" >"$T/ws.before"
	run orun -- sh -c 'echo x > created.txt'
	[[ $status -eq 125 ]] || fail_output "expected 125"
	[[ $output == "ovlbox: workspace $WS is owned by 0:0; a non-root run maps only $TEST_UID:$TEST_GID into its user namespace (chown the workspace, or run as root)" ]] ||
		fail_output "expected one line naming the workspace"
	assert_no_layers "$WS"
	assert_ws_unchanged
}
