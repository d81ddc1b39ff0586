#!/usr/bin/env bats
# Recycled runners with runc and crun: one container (init `sleep`, cwd /) started once with the
# hook at createRuntime + poststop; actions run by exec; between them the executor runs
# `ovlbox-hook unmount` (the outputs land in the workspace), stages inputs, `ovlbox-hook mount`.

# Variables set inside a test stay in it on purpose; sh -c scripts are single-quoted on purpose.
# shellcheck disable=SC2030,SC2031,SC2016

load lib/bundle
load lib/recycle
load lib/crash

setup_file() {
	ovl_suite_setup
}

setup() {
	recycle_case_setup
	RT=runc
}

teardown() {
	rt delete -f "$ID" >/dev/null 2>&1 || true
}

# rt ARGS...: the suite's runtime ($RT) with its test-private state dir.
rt() {
	if [[ $RT == crun ]]; then
		ovl_crun "$@"
	else
		ovl_runc "$@"
	fi
}

# rt_start [STAGE [ANNOTATIONS]]: the runner, detached.
rt_start() {
	ovl_make_bundle "${1:-createRuntime}" "${2:-$(ovl_ann org.ovlbox.workspace=/workspace)}" \
		"$OVL_RUNNER_CMD"
	rt run -d -b "$B" "$ID" </dev/null >/dev/null 2>"$C/run.err" || fail "$RT run: $(cat "$C/run.err") $(cat "$LOG" 2>/dev/null)"
}

# rt_exec [-d] [--cap CAP] ARGS...: exec in the runner, stdin from /dev/null.
rt_exec() {
	local opts=()
	while [[ $1 == -* ]]; do
		opts+=("$1")
		[[ $1 == --cap ]] && opts+=("$2") && shift
		shift
	done
	rt exec "${opts[@]}" "$ID" "$@" </dev/null
}

rt_state() {
	rt state "$ID"
}

# rt_stop: kills the init and deletes the container (the runtime runs poststop then).
rt_stop() {
	rt kill "$ID" KILL
	ovl_wait_stopped rt "$ID"
	rt delete "$ID" || fail "$RT delete $ID"
}

# init_pid: the container's init, as the host numbers it.
init_pid() {
	rt state "$ID" | jq -r .pid
}

# pid_of COMM CWD: the host pid of the container's process COMM other than the init whose cwd
# is CWD in the container (found through runc's list of its processes).
pid_of() {
	local p init
	init=$(init_pid)
	for p in $(rt ps --format json "$ID" | jq -r '.[]'); do
		[[ $p != "$init" && $(cat "/proc/$p/comm" 2>/dev/null) == "$1" ]] || continue
		printf '%s\n' "$p"
		return 0
	done
	return 1
}

# wait_pid_of COMM: pid_of, waiting up to 5 s for the process to appear.
wait_pid_of() {
	local i
	for ((i = 0; i < 100; i++)); do
		pid_of "$1" && return 0
		sleep 0.05
	done
	return 1
}

# inside_mounts: the container's view of its mounts at /workspace.
inside_mounts() {
	rt_exec grep ' /workspace ' /proc/self/mountinfo
}

@test "runc: ten actions in one container, each unmounted, applied and mounted again" {
	rt_start
	recycle_actions 10
	grep -q 'unmounted the overlay of .* from /workspace' "$LOG"
}

@test "crun: ten actions in one container, each unmounted, applied and mounted again" {
	RT=crun
	rt_start
	recycle_actions 10
}

@test "crun createContainer: the first overlay from inside, the later ones through unmount/mount" {
	RT=crun
	rt_start createContainer
	recycle_actions 3
}

@test "the bare bind mount is read-only in the container, writable on the host" {
	rt_start
	run inside_mounts
	[[ $status -eq 0 ]] || fail "$output"
	# the bind mount first (read-only), the overlay on top
	[[ $(sed -n 1p <<<"$output") == *" /workspace ro,"* ]] || fail "bind not read-only: $output"
	[[ $(sed -n 2p <<<"$output") == *" - overlay "* ]] || fail "no overlay on top: $output"
	stage_ok unmount
	assert_read_only in/inputB
	echo host >"$WS/host-write" # the host's view stays writable
	stage_ok mount
	run rt_exec cat /workspace/host-write
	[[ $output == host ]]
	ovl_assert_cache_intact
}

@test "a straggler in the workspace: exit 3 naming its pid and sleep, nothing done; --kill unmounts" {
	rt_start
	action 1
	rt_exec -d sh -c 'cd /workspace; sleep 300'
	local pid
	pid=$(wait_pid_of sleep)
	[[ -n $pid ]] || fail "no straggler"
	ovl_snapshot "$WS" >"$C/ws-before.txt"
	stage unmount --stats "$C/stats.json"
	[[ $status -eq 3 ]] || fail "exit $status: $output"
	one_line
	ovl_assert_output "is busy: " "pid $pid (sleep): cwd" "nothing unmounted, nothing applied"
	diff -u "$C/ws-before.txt" <(ovl_snapshot "$WS")
	[[ ! -e $C/stats.json ]]
	run inside_mounts
	[[ $output == *" - overlay "* ]] || fail "the overlay is gone: $output"
	stage_ok unmount --kill --stats "$C/stats.json"
	[[ ! -e /proc/$pid ]] || [[ $(awk '{ print $3 }' "/proc/$pid/stat") == Z ]] || fail "the straggler lives"
	diff -u "$OUT/inside1.txt" <(ovl_snapshot "$WS")
	assert_stats 1 "$C/stats.json"
	[[ -d /proc/$(init_pid) ]]
}

@test "a file held open and a cwd below the workspace: both named as fd and cwd" {
	rt_start
	rt_exec -d sh -c 'exec 3</workspace/mod.txt; exec sleep 300'
	rt_exec -d sh -c 'cd /workspace/in && exec sleep 301'
	sleep 0.3
	stage unmount
	[[ $status -eq 3 ]] || fail "exit $status: $output"
	one_line
	[[ $output =~ \(sleep\):\ fd ]] && [[ $output =~ \(sleep\):\ cwd ]] || fail "$output"
	stage_ok unmount --kill
	ovl_assert_untouched
}

@test "a nested sandbox's copy of the overlay (unshare -m inside) is a holder: mount" {
	rt_start
	rt_exec -d --cap CAP_SYS_ADMIN unshare -m --propagation private sleep 300
	local pid
	pid=$(wait_pid_of sleep)
	[[ -n $pid ]] || fail "no nested sandbox"
	stage unmount
	[[ $status -eq 3 ]] || fail "exit $status: $output"
	one_line
	ovl_assert_output "pid $pid (sleep): mount"
	run inside_mounts
	[[ $output == *" - overlay "* ]] || fail "the overlay is gone: $output"
	stage_ok unmount --kill
	run inside_mounts
	[[ $output != *" - overlay "* ]] || fail "the overlay is still there: $output"
}

@test "--kill never kills the container's init: stop the container instead" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_RUNNER_CMD"
	jq '.process.cwd = "/workspace"' "$B/config.json" >"$B/c.json" && mv "$B/c.json" "$B/config.json"
	rt run -d -b "$B" "$ID" </dev/null >/dev/null 2>"$C/run.err" || fail "$(cat "$C/run.err")"
	stage unmount --kill
	[[ $status -eq 3 ]] || fail "exit $status: $output"
	one_line
	ovl_assert_output "its init (pid $(init_pid)) holds it (cwd): stop the container instead"
	[[ -d /proc/$(init_pid) ]]
}

@test "idempotent: mount when mounted and unmount when unmounted do nothing" {
	rt_start
	action 1
	stage_ok mount
	grep -q 'mounted on /workspace in container .* already: nothing to do' "$LOG"
	stage_ok unmount --stats "$C/s1.json"
	assert_stats 1 "$C/s1.json"
	stage_ok unmount --stats "$C/s2.json"
	[[ $(jq -c . "$C/s2.json") == '{"changes":{"added":0,"modified":0,"deleted":0,"bytes":0},"applied":false}' ]]
	diff -u "$OUT/inside1.txt" <(ovl_snapshot "$WS")
	stage_ok mount
	stage_ok mount
	run inside_mounts
	[[ $(grep -c ' - overlay ' <<<"$output") -eq 1 ]] || fail "not one overlay: $output"
}

@test "unmount --on-exit discard and keep; after keep, mount refuses until ovlbox apply" {
	rt_start
	action 1
	stage_ok unmount --on-exit discard --stats "$C/s.json"
	ovl_assert_untouched
	[[ $(jq -c .applied "$C/s.json") == false && $(jq .changes.added "$C/s.json") == 3 ]]
	ovl_assert_no_layers
	stage_ok mount
	action 1
	stage_ok unmount --on-exit keep
	ovl_assert_untouched
	[[ -d $WS.upper ]]
	stage mount
	[[ $status -eq 1 ]] || fail "exit $status: $output"
	one_line
	ovl_assert_output "has unapplied changes in $WS.upper" "ovlbox apply"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail "ovlbox apply: $output"
	diff -u "$OUT/inside1.txt" <(ovl_snapshot "$WS")
	stage_ok mount
	rt_stop
	diff -u "$OUT/inside1.txt" <(ovl_snapshot "$WS")
	ovl_assert_no_layers
}

# bad_input JQ EXIT FRAGMENT [STAGE...]: the stage (default unmount) on the state changed by JQ
# exits EXIT with one line holding FRAGMENT, and changes nothing.
bad_input() {
	local filter=$1 want=$2 fragment=$3
	shift 3
	[[ $# -gt 0 ]] || set -- unmount
	rt_state | jq "$filter" >"$C/bad.json"
	ovl_snapshot "$WS" >"$C/ws-before.txt"
	ls -laR "$WS.upper" "$WS.work" >"$C/layers-before.txt" 2>&1
	run "$OVLBOX_HOOK" "$@" <"$C/bad.json"
	[[ $status -eq $want ]] || fail "$* ($filter): exit $status, expected $want: $output"
	one_line
	ovl_assert_output "$fragment"
	diff -u "$C/ws-before.txt" <(ovl_snapshot "$WS")
	diff -u "$C/layers-before.txt" <(ls -laR "$WS.upper" "$WS.work" 2>&1)
	run inside_mounts
	[[ $output == *" - overlay "* ]] || fail "the overlay is gone: $output"
}

@test "bad input: one line, nothing changed" {
	rt_start
	action 1
	bad_input '.status = "stopped"' 1 'state: status stopped: the mount and unmount stages are for a running container'
	bad_input '.status = "created"' 1 'state: status created:' mount
	bad_input 'del(.pid)' 1 'state: pid: missing'
	bad_input '.pid = 0' 1 'state: pid: 0 is not'
	bad_input '.pid = 999999999' 1 'state: pid 999999999: No such file or directory'
	bad_input ".pid = $$" 1 "(state pid $$) has no mount namespace of its own"
	bad_input '.id = "other"' 1 "the layers of $WS belong to container $ID, not other: refused, nothing changed"
	bad_input '.id = "other"' 1 "workspace $WS is in use by running container $ID" mount
	bad_input '.' 2 'unknown stage unmuont (prestart, createRuntime, createContainer, poststop, mount or unmount)' unmuont
	bad_input '.' 2 'state: status running: a running container' --log "$LOG"
	bad_input '.' 2 '--stats: only the unmount stage takes it' mount --stats "$C/x"
	bad_input '.' 2 '--on-exit maybe: not one of apply, discard, keep' unmount --on-exit maybe
	bad_input '.' 1 "--stats $C/nodir/x: No such file or directory" unmount --stats "$C/nodir/x"
	bad_input '.' 1 "--stats $C/: Is a directory" unmount --stats "$C/"
}

@test "a state whose pid is another process of the container, or another container's init: refused" {
	rt_start
	action 1
	rt_exec -d sleep 300
	local other
	other=$(wait_pid_of sleep)
	bad_input ".pid = $other" 1 "state: pid $other is not a container's init (it is pid "
	# a second runner, without a workspace: its init, with this container's id
	local b2=$C/b2
	ovl_bundle "$b2" "$OVL_T/rootfs" "$OVL_JQ_CMD" --argjson cmd "$OVL_RUNNER_CMD"
	rt run -d -b "$b2" "$ID-2" </dev/null >/dev/null 2>"$C/run2.err" || fail "$(cat "$C/run2.err")"
	local pid2
	pid2=$(rt state "$ID-2" | jq -r .pid)
	bad_input ".pid = $pid2" 1 "state: pid $pid2 is not the init of container $ID (its mount stage recorded pid $(init_pid)): refused, nothing changed"
	run "$OVLBOX_HOOK" unmount < <(rt state "$ID-2")
	[[ $status -eq 1 ]] || fail "exit $status: $output"
	one_line
	ovl_assert_output "container $ID-2 asks for no workspace"
	rt delete -f "$ID-2"
}

# ---- crash safety ----

# The changing system calls of the crash suites, and the unmount itself.
MUTATING="$MUTATING umount2 "

# fresh_workspace: the workspace of recycle_case_setup again, no layers, no outputs.
fresh_workspace() {
	rm -rf "$WS" "$WS.upper" "$WS.work" "${OUT:?}"
	mkdir -p "$OUT"
	ovl_workspace "$WS" "$CACHE"
	ln "$CACHE/obj1" "$WS/in/obj1"
}

# crash_start: a runner that has run action 1. LeakSanitizer (make check SANITIZE=1) cannot
# work under ptrace: leak detection is off for the traced hook (ASan and UBSan still check).
crash_start() {
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	rt_start
	action 1
	rt_state >"$C/state.json"
}

@test "kill -9 of unmount at each of its changing system calls, then mount: nothing lost" {
	crash_start
	strace -f -qq -o "$C/trace" "$OVLBOX_HOOK" unmount <"$C/state.json" || fail "traced unmount failed"
	local pid
	pid=$(awk 'NR == 1 { print $1 }' "$C/trace")
	awk -v p="$pid" '$1 == p' "$C/trace" >"$C/trace.main"
	crash_points "$C/trace.main" >"$C/points"
	grep -q '^umount2 1$' "$C/points" || fail "no umount2 in the trace: $(cat "$C/points")"
	rt_stop
	local sc n trials=0 st
	while read -r sc n <&4; do
		trials=$((trials + 1))
		fresh_workspace
		crash_start
		st=0
		strace -f -qq -o /dev/null -e trace="$sc" -e inject="$sc":signal=KILL:when="$n" \
			"$OVLBOX_HOOK" unmount <"$C/state.json" >"$C/trial.out" 2>&1 || st=$?
		[[ $st -eq 137 ]] || fail "$sc #$n: the unmount was not killed (exit $st): $(cat "$C/trial.out")"
		assert_no_host_overlay
		stage mount
		[[ $status -eq 0 ]] || fail "$sc #$n: mount after the crash: $output"
		run rt_exec sh -c "$OVL_SNAPSHOT_SH" sh /workspace
		[[ $status -eq 0 ]] || fail "$sc #$n: snapshot: $output"
		diff -u "$OUT/inside1.txt" <(printf '%s\n' "$output") || fail "$sc #$n: the view after mount is not the action's"
		stage_ok unmount
		diff -u "$OUT/inside1.txt" <(ovl_snapshot "$WS") || fail "$sc #$n: the workspace is not the action's"
		ovl_assert_cache_intact
		rt_stop
		ovl_assert_no_layers
	done 4<"$C/points"
	echo "# $trials crash points" >&3
	[[ $trials -ge 5 ]]
}

@test "kill -9 of unmount after its unmount, then poststop or ovlbox apply finishes it" {
	local how
	for how in poststop apply; do
		fresh_workspace
		crash_start
		# the first mark write after umount2 is marking the layers unmounted
		local st=0
		strace -f -qq -o /dev/null -e trace=fsetxattr,setxattr,symlinkat \
			-e inject=fsetxattr:signal=KILL:when=1 -e inject=symlinkat:signal=KILL:when=1 \
			"$OVLBOX_HOOK" unmount --on-exit apply <"$C/state.json" >"$C/trial.out" 2>&1 || st=$?
		[[ $st -eq 137 ]] || fail "$how: not killed (exit $st): $(cat "$C/trial.out")"
		run inside_mounts
		[[ $output != *" - overlay "* ]] || fail "$how: the overlay is still there: $output"
		if [[ $how == apply ]]; then
			run "$OVLBOX" apply "$WS"
			[[ $status -eq 0 ]] || fail "ovlbox apply: $output"
			ovl_assert_output "finished its interrupted unmount"
			diff -u "$OUT/inside1.txt" <(ovl_snapshot "$WS")
			rt_stop
		else
			rt_stop
		fi
		diff -u "$OUT/inside1.txt" <(ovl_snapshot "$WS") || fail "$how: not applied"
		ovl_assert_cache_intact
		ovl_assert_no_layers
	done
}
