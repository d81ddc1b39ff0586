#!/usr/bin/env bats
# The ovlbox command line: diff (text and JSON), discard, --on-exit keep/discard, exit codes,
# the workspace lock, --help/--version, bad flags, and that no process of the action survives.

# Action scripts are single-quoted on purpose: they run inside the sandbox.
# shellcheck disable=SC2016

load lib/common
bats_require_minimum_version 1.5.0

setup_file() {
	ensure_test_user
}

setup() {
	common_setup
}

teardown() {
	if [[ -n ${HOLD_PID:-} ]] && kill -0 "$HOLD_PID" 2>/dev/null; then
		[[ -p $IO/go ]] && { echo >"$IO/go"; } 2>/dev/null &
		sleep 0.5
		kill -KILL "$HOLD_PID" 2>/dev/null || true
	fi
	if [[ -n ${BG_PID:-} ]] && kill -0 "$BG_PID" 2>/dev/null; then
		kill -KILL "$BG_PID" 2>/dev/null || true
		sleep 0.5
	fi
	common_teardown
}

# Adds t/ to the fixture (after make_fixture) and re-takes the "before" snapshot.
add_t_tree() {
	local c
	mkdir -p "$WS/t/olddir/y" "$WS/t/merged"
	printf 'keep\n' >"$WS/t/keep"
	c=$(cache_put $'mod\n' 0644 '2020-02-02 00:00:00')
	ln "$c" "$WS/t/mod"
	printf '12345' >"$WS/t/del"
	printf 'xx\n' >"$WS/t/olddir/x"
	printf 'zzzz' >"$WS/t/olddir/y/z"
	printf 'c\n' >"$WS/t/chm"
	printf 'i\n' >"$WS/t/merged/inner"
	printf 'rep\n' >"$WS/t/rep"
	touch -d '2022-03-03 03:03:03' "$WS/t/merged" "$WS/t/olddir/y" "$WS/t/olddir" "$WS/t"
	touch -d '2021-12-12 12:12:12.121212121' "$WS"
	if [[ $MODE == user ]]; then
		chown -R "$TEST_UID:$TEST_GID" "$WS/t"
	fi
	snapshot_cache
	snap "$WS" >"$T/ws.before"
}

T_ACTION='
	echo more >> t/mod
	rm t/del
	rm -rf t/olddir
	echo hello > t/new
	mkdir -p t/nd/sub && ln -s target t/nd/sub/sl
	mkfifo t/ff
	chmod 600 t/chm
	chmod 700 t/merged
	rm t/rep && mkdir t/rep && echo 12 > t/rep/f'

# (t itself is not listed: its mtime changed, but its listed children explain that)
T_DIFF='M t/chm
D t/del
A t/ff
M t/merged
M t/mod
A t/nd
A t/nd/sub
A t/nd/sub/sl
A t/new
D t/olddir
D t/olddir/x
D t/olddir/y
D t/olddir/y/z
M t/rep
A t/rep/f'

T_JSON='[
 {"path":"t/chm","change":"M","type":"file","size":2},
 {"path":"t/del","change":"D","type":"file","size":5},
 {"path":"t/ff","change":"A","type":"fifo","size":0},
 {"path":"t/merged","change":"M","type":"dir","size":0},
 {"path":"t/mod","change":"M","type":"file","size":9},
 {"path":"t/nd","change":"A","type":"dir","size":0},
 {"path":"t/nd/sub","change":"A","type":"dir","size":0},
 {"path":"t/nd/sub/sl","change":"A","type":"symlink","size":0},
 {"path":"t/new","change":"A","type":"file","size":6},
 {"path":"t/olddir","change":"D","type":"dir","size":0},
 {"path":"t/olddir/x","change":"D","type":"file","size":3},
 {"path":"t/olddir/y","change":"D","type":"dir","size":0},
 {"path":"t/olddir/y/z","change":"D","type":"file","size":4},
 {"path":"t/rep","change":"M","type":"dir","size":0},
 {"path":"t/rep/f","change":"A","type":"file","size":3}
]'

# one line on stderr, nothing on stdout
assert_one_line_error() {
	local out=$1 err=$2
	[[ ! -s $out ]] || fail "stdout not empty: $(cat "$out")"
	[[ $(wc -l <"$err") -eq 1 ]] || fail "stderr is not one line: $(cat "$err")"
	[[ -n $(tr -d '\n' <"$err") ]] || fail "stderr line is empty"
}

# hold_lock: an `ovlbox run` in the background whose action waits on the fifo $IO/go; returns
# once the action runs (the lock is held). HOLD_PID is its pid.
hold_lock() {
	mkfifo "$IO/go"
	[[ $MODE == user ]] && chown "$TEST_UID" "$IO/go"
	local started=$IO/started
	: >"$started"
	[[ $MODE == user ]] && chown "$TEST_UID" "$started"
	local cmd=("$OVLBOX" run --workspace "$WS" "${RUN_FLAGS[@]}" -- sh -c
		"echo hold > held.txt; echo up > $(shq "$started"); read x < $(shq "$IO/go")")
	if [[ $MODE == user ]]; then
		cmd=(setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --clear-groups -- "${cmd[@]}")
	fi
	# a simple command, so that $! is ovlbox itself (setpriv execs it)
	"${cmd[@]}" >"$T/hold.out" 2>&1 3>&- &
	HOLD_PID=$!

	for _ in $(seq 200); do
		[[ -s $started ]] && return 0
		kill -0 "$HOLD_PID" 2>/dev/null || fail "the lock holder exited: $(cat "$T/hold.out")"
		sleep 0.05
	done
	fail "the lock holder did not start: $(cat "$T/hold.out")"
}

# release_lock: lets the holder's action finish; waits for it; it must exit 0 and apply.
release_lock() {
	echo go >"$IO/go"
	local st=0
	wait "$HOLD_PID" || st=$?
	HOLD_PID=
	[[ $st -eq 0 ]] || fail "the lock holder exited $st: $(cat "$T/hold.out")"
	[[ $(cat "$WS/held.txt") == hold ]] || fail "the lock holder's change was not applied"
	assert_no_layers "$WS"
}

# ---------------------------------------------------------------------------------------------
# diff

@test "diff lists A/M/D lines, sorted bytewise, one per changed path" {
	make_fixture
	add_t_tree
	run_keep "$T_ACTION"
	run "$OVLBOX" diff "$WS"
	[[ $status -eq 0 ]] || fail_output "diff failed"
	[[ $output == "$T_DIFF" ]] || fail_output "diff output differs from:" "$T_DIFF"
	# diff changes nothing
	assert_ws_unchanged
	[[ -d $WS.upper ]]
	# and apply gives what the action saw
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	snap "$WS" >"$T/snap.out"
	assert_same_snap "$T/snap.in" "$T/snap.out"
	assert_no_layers "$WS"
	assert_cache_intact
}

@test "diff --json prints one array of {path, change, type, size}" {
	make_fixture
	add_t_tree
	run_keep "$T_ACTION"
	"$OVLBOX" diff --json "$WS" >"$T/diff.json"
	# one JSON document, an array of objects with exactly these keys and types
	jq -e 'type == "array" and all(.[]; (keys == ["change", "path", "size", "type"]) and
		(.path | type) == "string" and (.change | IN("A", "M", "D")) and
		(.type | IN("file", "dir", "symlink", "fifo", "socket", "char", "block")) and
		(.size | type) == "number")' "$T/diff.json" >/dev/null ||
		fail "diff --json is not the expected shape: $(cat "$T/diff.json")"
	[[ $(jq -c . "$T/diff.json") == "$(jq -c . <<<"$T_JSON")" ]] ||
		fail "diff --json differs:" "$(jq -c '.[]' "$T/diff.json")"
	# the same paths, in the same order, as the text diff
	[[ $(jq -r '.[] | .change + " " + .path' "$T/diff.json") == "$T_DIFF" ]]
}

@test "diff of an action that changed nothing is empty; apply then removes the layers" {
	make_fixture
	run_keep 'cat in/a.txt > /dev/null'
	run "$OVLBOX" diff "$WS"
	[[ $status -eq 0 && -z $output ]] || fail_output "expected an empty diff"
	run "$OVLBOX" diff --json "$WS"
	[[ $status -eq 0 ]] && [[ $(jq -c . <<<"$output") == '[]' ]] || fail_output "expected []"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	assert_no_layers "$WS"
	assert_ws_unchanged
}

@test "diff reports a change of the workspace root's own mode and times" {
	make_fixture
	run_keep 'chmod 0700 . && touch -d @1000000000 .'
	run "$OVLBOX" diff "$WS"
	[[ $status -eq 0 ]] || fail_output "diff failed"
	# apply will change the root: diff must say so (as "M ." or with an empty path)
	[[ $output =~ ^M\ (\.|/)?$ ]] || fail_output "expected one line for the workspace root"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]]
	assert_snap_line . '^\. dir 0700 0:0 mtime=1000000000.000000000' <(snap "$WS")
}

@test "diff lists a merged dir for its own changes, not for the mtime its listed children explain" {
	make_fixture
	run_keep 'touch -d @5 src
		setfattr -n user.x -v 1 dir/sub
		chmod 0700 empty && touch empty/x
		echo y > src/x/y/new'
	run "$OVLBOX" diff "$WS"
	[[ $status -eq 0 ]] || fail_output "diff failed"
	local want='M dir/sub
M empty
A empty/x
M src
A src/x/y/new'
	[[ $output == "$want" ]] || fail_output "expected:" "$want"
}

@test "diff escapes newlines and backslashes in names; JSON stays valid with non-UTF-8" {
	make_fixture
	run_keep 'touch "$(printf "a\nb")" "c\\d" "$(printf "e\377f")" "sp ace"'
	run "$OVLBOX" diff "$WS"
	[[ $status -eq 0 ]] || fail_output "diff failed"
	# one line per path: a newline in a name must not start a new line
	[[ $(printf '%s\n' "$output" | wc -l) -eq 4 ]] || fail_output "expected 4 lines"
	[[ $output == *'A a\x0ab'* ]] || fail_output "newline not escaped as \\x0a"
	[[ $output == *'A c\\d'* ]] || fail_output "backslash not escaped as \\\\"
	[[ $output == *'A sp ace'* ]] || fail_output "space mangled"
	"$OVLBOX" diff --json "$WS" >"$T/diff.json"
	[[ $(jq 'length' "$T/diff.json") -eq 4 ]] || fail "bad JSON: $(cat "$T/diff.json")"
	[[ $(jq -r '.[].path' "$T/diff.json" | grep -c .) -ge 4 ]]
	jq -e 'any(.[]; .path == "a\nb") and any(.[]; .path == "c\\d") and any(.[]; .path == "sp ace")' \
		"$T/diff.json" >/dev/null || fail "paths not round-tripped: $(cat "$T/diff.json")"
}

# ---------------------------------------------------------------------------------------------
# discard, keep, apply

@test "discard after --on-exit keep: workspace unchanged, upper and work gone" {
	make_fixture
	run_keep 'echo x >> in/a.txt; rm -rf dir; mkdir new; chmod 0700 src'
	run "$OVLBOX" discard "$WS"
	[[ $status -eq 0 ]] || fail_output "discard failed"
	assert_no_layers "$WS"
	assert_ws_unchanged
	assert_cache_intact
}

@test "--on-exit discard: workspace unchanged, upper and work gone" {
	make_fixture
	run_action --on-exit discard 'echo x >> in/a.txt; rm -rf dir; mkdir new'
	[[ $status -eq 0 ]] || fail_output "run failed"
	assert_no_layers "$WS"
	assert_ws_unchanged
	assert_cache_intact
}

@test "--on-exit discard keeps the action's exit status" {
	make_fixture
	run "$OVLBOX" run --workspace "$WS" --on-exit discard -- sh -c 'echo x > new; exit 7'
	[[ $status -eq 7 ]] || fail_output "expected 7"
	assert_no_layers "$WS"
	assert_ws_unchanged
}

@test "--on-exit keep, then diff, then apply (root)" {
	make_fixture
	run_keep 'echo x >> in/a.txt; rm -rf dir/sub; mkdir -p new/n; ln -sf x link; chmod 0555 src'
	assert_ws_unchanged
	run "$OVLBOX" diff "$WS"
	[[ $status -eq 0 && -n $output ]] || fail_output "diff failed"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	snap "$WS" >"$T/snap.out"
	assert_same_snap "$T/snap.in" "$T/snap.out"
	assert_no_layers "$WS"
	assert_cache_intact
	# a second apply is a no-op
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "second apply failed"
	snap "$WS" >"$T/snap.again"
	assert_same_snap "$T/snap.out" "$T/snap.again"
	assert_no_layers "$WS"
}

@test "--on-exit keep, then diff, then apply (user, read-only dirs)" {
	use_mode user
	make_fixture
	run_keep 'echo x >> in/a.txt; rm -rf dir/sub; mkdir -p new/n; echo r > rodir/r
		chmod 0555 new/n new src; chmod 0444 in/a.txt'
	run as_user "$OVLBOX" diff "$WS"
	[[ $status -eq 0 && -n $output ]] || fail_output "diff failed"
	run as_user "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	snap "$WS" >"$T/snap.out"
	sed -E 's/ link=[0-9]+$//' "$T/snap.in" >"$T/a"
	sed -E 's/ link=[0-9]+$//' "$T/snap.out" >"$T/b"
	assert_same_snap "$T/a" "$T/b"
	assert_no_layers "$WS"
	assert_cache_intact
}

@test "discard and --on-exit discard as the user, with read-only dirs in the upper" {
	use_mode user
	make_fixture
	run_keep 'mkdir -p ro/in && echo x > ro/in/f && chmod 0444 ro/in/f && chmod 0555 ro/in ro
		echo y > rodir/new; chmod 0000 in/b.sh; rm -rf dir'
	run as_user "$OVLBOX" discard "$WS"
	[[ $status -eq 0 ]] || fail_output "discard failed"
	assert_no_layers "$WS"
	assert_ws_unchanged
	run_action --on-exit discard 'mkdir -p ro/in && chmod 0555 ro/in ro; echo z > rodir/z'
	[[ $status -eq 0 ]] || fail_output "run --on-exit discard failed"
	assert_no_layers "$WS"
	assert_ws_unchanged
	assert_cache_intact
}

@test "--upper and --work put the layers elsewhere (run keep, diff, apply)" {
	make_fixture
	mkdir "$T/layers"
	run "$OVLBOX" run --workspace "$WS" --upper "$T/layers/up" --work "$T/layers/wk" \
		--on-exit keep -- sh -c 'echo new > new.txt; rm plain.txt'
	[[ $status -eq 0 ]] || fail_output "run failed"
	[[ -d $T/layers/up && -d $T/layers/wk ]]
	[[ ! -e $WS.upper && ! -e $WS.work ]]
	[[ $(cat "$T/layers/up/new.txt") == new ]]
	run "$OVLBOX" diff --upper "$T/layers/up" "$WS"
	[[ $status -eq 0 ]] || fail_output "diff failed"
	[[ $output == $'A new.txt\nD plain.txt' ]] || fail_output "unexpected diff"
	run "$OVLBOX" apply --upper "$T/layers/up" --work "$T/layers/wk" "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	[[ ! -e $T/layers/up && ! -e $T/layers/wk ]]
	[[ $(cat "$WS/new.txt") == new && ! -e $WS/plain.txt ]]
	assert_cache_intact
}

@test "a relative workspace path works" {
	make_fixture
	cd "$FX"
	run "$OVLBOX" run --workspace ws -- sh -c 'echo rel > rel.txt'
	[[ $status -eq 0 ]] || fail_output "run failed"
	[[ $(cat "$WS/rel.txt") == rel ]]
	assert_no_layers "$WS"
}

@test "run refuses to start over changes that were kept but not applied" {
	make_fixture
	run_keep 'echo kept > kept.txt'
	run "$OVLBOX" run --workspace "$WS" -- sh -c 'echo second > second.txt'
	[[ $status -eq 125 ]] || fail_output "expected 125"
	[[ $output == *apply* ]] || fail_output "the message should say to apply (or discard)"
	[[ ! -e $WS/second.txt && ! -e $WS/kept.txt ]]
	[[ -f $WS.upper/kept.txt ]] || fail "the kept changes were lost"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 && $(cat "$WS/kept.txt") == kept ]]
}

@test "a command a message suggests runs as written when pasted: quoted paths, the layers' flags" {
	local ws="$T/work space" up="$T/it's upper"
	mkdir -p "$ws"
	echo old >"$ws/a.txt"
	run "$OVLBOX" run --workspace "$ws" --upper "$up" --on-exit keep -- sh -c 'echo new > a.txt'
	[[ $status -eq 0 ]] || fail_output "run --on-exit keep failed"
	run "$OVLBOX" run --workspace "$ws" --upper "$up" -- true
	[[ $status -eq 125 ]] || fail_output "expected 125"
	local q_up="'$T/it'\\''s upper'" q_ws="'$ws'"
	[[ $output == "ovlbox: upper dir $up holds changes that were not applied: run \`ovlbox apply --upper $q_up $q_ws\` or \`ovlbox discard --upper $q_up $q_ws\` first" ]] ||
		fail_output "unexpected message"
	local cmd=${output#*run \`}
	cmd=${cmd%%\`*}
	# shellcheck disable=SC2016 # $OVLBOX and $@ are the inner shell's
	run bash -c 'ovlbox() { "$OVLBOX" "$@"; }; '"$cmd"
	[[ $status -eq 0 ]] || fail_output "the pasted command failed: $cmd"
	[[ $(cat "$ws/a.txt") == new && ! -e $up ]] || fail "the pasted apply did not apply"
}

@test "upper or work inside the workspace (or the workspace inside upper) is refused" {
	make_fixture
	run "$OVLBOX" run --workspace "$WS" --upper "$WS/up" -- true
	[[ $status -eq 125 ]] || fail_output "expected 125 for upper inside the workspace"
	[[ ! -e $WS/up ]]
	run "$OVLBOX" run --workspace "$WS" --work "$WS/src/wk" -- true
	[[ $status -eq 125 ]] || fail_output "expected 125 for work inside the workspace"
	run "$OVLBOX" run --workspace "$WS" --upper "$FX" -- true
	[[ $status -eq 125 ]] || fail_output "expected 125 for the workspace inside upper"
	run "$OVLBOX" run --workspace "$WS" --upper "$T/same" --work "$T/same" -- true
	[[ $status -eq 125 ]] || fail_output "expected 125 for upper == work"
	assert_ws_unchanged
	[[ ! -e $T/same ]]
}

@test "layers that lie in the workspace (or it in them) on disk are refused: symlinks, a bind mount" {
	make_fixture
	ln -s "$WS" "$T/wslink"
	mkdir "$T/elsewhere"
	# upper made inside the workspace through a symlinked parent
	run "$OVLBOX" run --workspace "$WS" --upper "$T/wslink/up" -- true
	[[ $status -eq 125 ]] || fail_output "upper through a symlink"
	[[ $output == "ovlbox: upper dir $T/wslink/up lies in workspace $WS (through a symlink or a mount): they must be separate trees" ]] ||
		fail_output "message"
	# the workspace itself as the work dir; apply and discard refuse it as well
	# (a symlink as a layer itself is never followed)
	run "$OVLBOX" run --workspace "$WS" --work "$T/wslink" -- true
	[[ $status -eq 125 && $output == "ovlbox: work dir $T/wslink is a symlink (not followed)" ]] ||
		fail_output "work alias"
	ln -s "$FX" "$T/fxlink"
	run "$OVLBOX" discard --upper "$T/fxlink/ws" "$WS"
	[[ $status -eq 125 && $output == *"workspace $WS lies in upper dir $T/fxlink/ws"* ]] || fail_output "discard"
	run "$OVLBOX" apply --upper "$T/fxlink/ws" "$WS"
	[[ $status -eq 125 && $output == *"workspace $WS lies in upper dir $T/fxlink/ws"* ]] || fail_output "apply"
	# upper and work: the one inside the other through a symlink
	ln -s "$T/elsewhere" "$T/elink"
	run "$OVLBOX" run --workspace "$WS" --upper "$T/elsewhere" --work "$T/elink/wk" -- true
	[[ $status -eq 125 && $output == *"work dir $T/elink/wk lies in upper dir $T/elsewhere"* ]] ||
		fail_output "work in upper"
	# a bind mount of the workspace (in a mount namespace of the test's own)
	mkdir "$T/bound"
	run unshare -m --propagation private sh -c \
		'mount --bind "$1" "$2" && exec "$3" run --workspace "$1" --upper "$2/up" -- true' \
		sh "$WS" "$T/bound" "$OVLBOX"
	[[ $status -eq 125 && $output == *"upper dir $T/bound/up lies in workspace $WS"* ]] ||
		fail_output "bind mount"
	assert_ws_unchanged
	[[ -z $(ls -A "$T/elsewhere") && -z $(ls -A "$T/bound") ]]
}

# ---------------------------------------------------------------------------------------------
# exit codes

@test "exit code 0, and the action's changes are applied" {
	make_fixture
	run "$OVLBOX" run --workspace "$WS" -- sh -c 'echo ok > ok.txt'
	[[ $status -eq 0 ]] || fail_output "expected 0"
	[[ $(cat "$WS/ok.txt") == ok ]]
	assert_no_layers "$WS"
}

@test "exit code 3 is passed through; the changes are still applied" {
	make_fixture
	run "$OVLBOX" run --workspace "$WS" -- sh -c 'echo three > three.txt; exit 3'
	[[ $status -eq 3 ]] || fail_output "expected 3"
	[[ $(cat "$WS/three.txt") == three ]]
	assert_no_layers "$WS"
	assert_cache_intact
}

@test "an action killed by signal 9 gives 137; its changes are applied" {
	make_fixture
	run "$OVLBOX" run --workspace "$WS" -- sh -c 'echo k > killed.txt; kill -9 $$'
	[[ $status -eq 137 ]] || fail_output "expected 128+9"
	[[ $(cat "$WS/killed.txt") == k ]]
	assert_no_layers "$WS"
}

@test "an action that dies of SIGSEGV gives 139" {
	make_fixture
	run "$OVLBOX" run --workspace "$WS" -- sh -c 'kill -SEGV $$'
	[[ $status -eq 139 ]] || fail_output "expected 128+11"
}

@test "a command that is not executable gives 126" {
	make_fixture
	printf '#!/bin/sh\necho hi\n' >"$WS/noexec.sh"
	chmod 0644 "$WS/noexec.sh"
	snap "$WS" >"$T/ws.before"
	run "$OVLBOX" run --workspace "$WS" -- ./noexec.sh
	[[ $status -eq 126 ]] || fail_output "expected 126"
	[[ $output == *noexec.sh* ]] || fail_output "the message should name the command"
	run "$OVLBOX" run --workspace "$WS" -- /etc
	[[ $status -eq 126 ]] || fail_output "expected 126 for a directory"
	assert_no_layers "$WS"
	assert_ws_unchanged
}

@test "a command that does not exist gives 127" {
	make_fixture
	run -127 "$OVLBOX" run --workspace "$WS" -- ovlbox-no-such-command-xyz
	[[ $status -eq 127 ]] || fail_output "expected 127 (PATH lookup)"
	[[ $output == *ovlbox-no-such-command-xyz* ]] || fail_output "the message should name it"
	run -127 "$OVLBOX" run --workspace "$WS" -- /nonexistent/dir/cmd
	[[ $status -eq 127 ]] || fail_output "expected 127 (absolute path)"
	assert_no_layers "$WS"
	assert_ws_unchanged
}

@test "a bad workspace gives 125 with one line and creates nothing" {
	run "$OVLBOX" run --workspace "$T/missing/ws" -- true
	[[ $status -eq 125 ]] || fail_output "expected 125 for a missing workspace"
	[[ $(printf '%s\n' "$output" | wc -l) -eq 1 ]] || fail_output "expected one line"
	[[ ! -e $T/missing ]]
	printf 'file\n' >"$T/afile"
	run "$OVLBOX" run --workspace "$T/afile" -- true
	[[ $status -eq 125 ]] || fail_output "expected 125 for a workspace that is a file"
	[[ ! -e $T/afile.upper && ! -e $T/afile.work ]]
}

@test "SIGTERM to ovlbox run reaches the action (143) and the changes are applied" {
	make_fixture
	mkfifo "$IO/ready"
	"$OVLBOX" run --workspace "$WS" "${RUN_FLAGS[@]}" -- sh -c \
		"echo t > term.txt; echo > $(shq "$IO/ready"); exec sleep 30" >"$T/out" 2>&1 3>&- &
	local pid=$!
	BG_PID=$pid
	# (a timeout, so that a run that never starts the action fails instead of hanging)
	timeout 20 cat "$IO/ready" >/dev/null || fail "the action did not start: $(cat "$T/out")"
	sleep 0.2
	kill -TERM "$pid"
	local st=0
	wait "$pid" || st=$?
	[[ $st -eq 143 ]] || fail "expected 143, got $st: $(cat "$T/out")"
	[[ $(cat "$WS/term.txt") == t ]]
	assert_no_layers "$WS"
}

# ---------------------------------------------------------------------------------------------
# the lock

@test "a second run or apply on a locked workspace fails at once with 'in use' (root)" {
	make_fixture
	hold_lock
	local t0=$SECONDS
	run timeout 10 "$OVLBOX" run --workspace "$WS" -- sh -c 'echo second > second.txt'
	[[ $status -eq 125 ]] || fail_output "expected 125"
	[[ $output == *"in use"* ]] || fail_output "expected 'in use'"
	[[ $(printf '%s\n' "$output" | wc -l) -eq 1 ]] || fail_output "expected one line"
	run timeout 10 "$OVLBOX" apply "$WS"
	[[ $status -ne 0 && $output == *"in use"* ]] || fail_output "apply: expected 'in use'"
	run timeout 10 "$OVLBOX" discard "$WS"
	[[ $status -ne 0 && $output == *"in use"* ]] || fail_output "discard: expected 'in use'"
	[[ $((SECONDS - t0)) -lt 5 ]] || fail "the second command did not fail at once"
	[[ -d $WS.upper ]] || fail "the holder's upper was removed"
	[[ ! -e $WS/second.txt && ! -e $WS.upper/second.txt ]]
	release_lock
	[[ ! -e $WS/second.txt ]]
}

@test "a second run on a locked workspace fails at once with 'in use' (user)" {
	use_mode user
	make_fixture
	hold_lock
	run timeout 10 setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --clear-groups -- \
		"$OVLBOX" run --workspace "$WS" -- sh -c 'echo second > second.txt'
	[[ $status -eq 125 && $output == *"in use"* ]] || fail_output "expected 125 and 'in use'"
	release_lock
	[[ ! -e $WS/second.txt ]]
}

@test "apply and discard failures exit 125, like run's" {
	make_fixture
	hold_lock
	run timeout 10 "$OVLBOX" apply "$WS"
	[[ $status -eq 125 ]] || fail_output "apply on a locked workspace: expected 125"
	run timeout 10 "$OVLBOX" discard "$WS"
	[[ $status -eq 125 ]] || fail_output "discard on a locked workspace: expected 125"
	release_lock
}

# A damaged journal (here a ".." step, which ovlbox never writes) is refused, not replayed: its
# removal would have reached the workspace's parent.
@test "apply refuses a damaged journal: 125, one line with its line number, nothing changed" {
	make_fixture
	run --separate-stderr "$OVLBOX" run --workspace "$WS" --on-exit keep -- sh -c 'echo x > new'
	[[ $status -eq 0 ]] || fail_output "run --on-exit keep"
	mkdir "$FX/sibling"
	printf 'keep\n' >"$FX/sibling/f"
	printf 'ovlbox-journal 1 trusted\nW ..\nend 1\n' >"$WS.work/ovlbox-journal"
	snap "$WS.upper" >"$T/upper.before"
	run --separate-stderr "$OVLBOX" apply "$WS"
	[[ $status -eq 125 ]] || fail_output "expected 125"
	[[ $stderr == "ovlbox: "*"journal ovlbox-journal is damaged at line 2" && $stderr != *$'\n'* ]] ||
		fail_output "expected one line naming the damaged line"
	[[ $(cat "$FX/sibling/f") == keep && -e $WS.work/ovlbox-journal ]] ||
		fail "the workspace's parent or the journal changed"
	snap "$WS" | diff -u "$T/ws.before" - || fail "the workspace changed"
	snap "$WS.upper" | diff -u "$T/upper.before" - || fail "the upper changed"
}

# ---------------------------------------------------------------------------------------------
# help, version, bad command lines

@test "-h and --help on every command: exit 0, one line per option" {
	local c out
	for c in run apply diff discard; do
		run "$OVLBOX" "$c" -h
		[[ $status -eq 0 ]] || fail_output "$c -h"
		out=$output
		run "$OVLBOX" "$c" --help
		[[ $status -eq 0 && $output == "$out" ]] || fail_output "$c --help differs from -h"
		[[ $output == *"  -h, --help "* ]] || fail_output "$c --help does not list -h"
	done
	run "$OVLBOX" apply -h
	[[ $output == *$'\n  --keep-setuid '* && $output == *$'\n  --userxattr '* ]] ||
		fail_output "apply -h lists an option per line"
	run "$OVLBOX_HOOK" -h
	[[ $status -eq 0 && $output == usage:\ ovlbox-hook* ]] || fail_output "ovlbox-hook -h"
}

@test "--version and --help" {
	run "$OVLBOX" --version
	[[ $status -eq 0 && $output =~ ^ovlbox\ [0-9]+\.[0-9]+\.[0-9]+ ]] || fail_output "--version"
	run "$OVLBOX" --help
	[[ $status -eq 0 ]] || fail_output "--help"
	local c
	for c in run apply diff discard; do
		[[ $output == *"$c"* ]] || fail_output "--help does not mention $c"
	done
	run "$OVLBOX" run --help
	[[ $status -eq 0 && $output == *--workspace* && $output == *--on-exit* ]] || fail_output "run --help"
	run "$OVLBOX" apply --help
	[[ $status -eq 0 && $output == *--keep-setuid* && $output == *--allow-devices* ]] ||
		fail_output "apply --help"
	run "$OVLBOX" diff --help
	[[ $status -eq 0 && $output == *--json* ]] || fail_output "diff --help"
	run "$OVLBOX" discard --help
	[[ $status -eq 0 && $output == *--upper* ]] || fail_output "discard --help"
}

@test "bad command lines: one line on stderr, nothing on stdout, exit 125 (run) or 2" {
	make_fixture
	local -a cases=(
		"run --bogus --workspace $WS -- true"
		"run --workspace $WS --on-exit maybe -- true"
		"run -- true"
		"run --workspace $WS"
		"run --workspace"
		"apply --bogus $WS"
		"apply"
		"apply $WS $WS"
		"diff --keep-setuid $WS"
		"diff"
		"discard --json $WS"
		"discard --allow-devices $WS"
		"frobnicate $WS"
	)
	local c st
	for c in "${cases[@]}"; do
		st=0
		# shellcheck disable=SC2086 # word splitting of the case is intended
		"$OVLBOX" $c >"$T/out" 2>"$T/err" || st=$?
		# run uses 125 for its own failures (its other codes are the action's); the layer
		# commands use 2 for a bad command line
		case $c in
		run*) [[ $st -eq 125 ]] || fail "ovlbox $c: exit $st, expected 125" ;;
		*) [[ $st -eq 2 ]] || fail "ovlbox $c: exit $st, expected 2" ;;
		esac
		assert_one_line_error "$T/out" "$T/err" || fail "ovlbox $c: not one line"
	done
	assert_no_layers "$WS"
	assert_ws_unchanged
}

@test "a relative path with the current directory gone: one line naming it, exit 125" {
	mkdir "$T/gone"
	local -A want=(
		["apply ws"]="ovlbox: workspace ws: get the current directory: No such file or directory"
		["diff --upper up /ws"]="ovlbox: --upper up: get the current directory: No such file or directory"
		["run --workspace ws -- true"]="ovlbox: run: --workspace ws: get the current directory: No such file or directory"
	)
	local c st
	for c in "${!want[@]}"; do
		st=0
		# shellcheck disable=SC2086 # word splitting of the case is intended
		(cd "$T/gone" && rmdir "$T/gone" && exec "$OVLBOX" $c) >"$T/out" 2>"$T/err" || st=$?
		mkdir "$T/gone"
		[[ $st -eq 125 ]] || fail "ovlbox $c: exit $st, expected 125"
		[[ ! -s $T/out && $(cat "$T/err") == "${want[$c]}" ]] ||
			fail "ovlbox $c: stdout $(cat "$T/out"), stderr $(cat "$T/err")"
	done
}

# ---------------------------------------------------------------------------------------------
# no process of the action outlives it

@test "a daemonized grandchild is gone when run returns, and writes nothing later" {
	make_fixture
	printf '#!/bin/sh\nsleep 1\necho "late $2" > "$1/late-$2.txt"\nexec sleep 100\n' >"$IO/daemon.sh"
	chmod 0755 "$IO/daemon.sh"
	local d t0=$SECONDS
	d=$(shq "$IO/daemon.sh")
	run timeout 60 "$OVLBOX" run --workspace "$WS" --ro-bind "$IO" -- sh -c \
		"setsid $d \"\$PWD\" a </dev/null >/dev/null 2>&1 &
		 setsid sh -c '\"\$0\" \"\$1\" b &' $d \"\$PWD\" </dev/null >/dev/null 2>&1
		 sleep 0.2
		 echo done > done.txt"
	[[ $status -eq 0 ]] || fail_output "run failed"
	[[ $((SECONDS - t0)) -lt 30 ]] || fail "run waited for the daemon"
	[[ $(cat "$WS/done.txt") == "done" ]]
	local pids
	pids=$(pgrep -f "$IO/daemon.sh" || true)
	if [[ -n $pids ]]; then
		# shellcheck disable=SC2086 # one pid per word
		kill -KILL $pids 2>/dev/null || true
		fail "the daemonized grandchildren survived ovlbox run: $pids"
	fi
	sleep 2
	[[ ! -e $WS/late-a.txt && ! -e $WS/late-b.txt ]] ||
		fail "a process of the action wrote after run returned"
	assert_no_layers "$WS"
}
