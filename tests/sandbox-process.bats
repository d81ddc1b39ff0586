#!/usr/bin/env bats
# ovlbox run's process set-up, from inside the sandbox and from its caller: the action cannot push
# input into the caller's terminal (TIOCSTI, CVE-2017-5226) while Ctrl-C still reaches it; init
# holds nothing of the host that an action given CAP_SYS_PTRACE could reach through /proc/1;
# signals sent right after start are not lost; --rlimit binds the command, not ovlbox's set-up;
# CMD is looked up in ovlbox's PATH whatever --cwd; the README's --stats example is what the code
# counts.

# Action scripts are single-quoted on purpose: they run inside the sandbox (arguments go in as
# "$1"...). Each @test runs in its own subshell (SC2030/SC2031), and bats' run sets stderr
# (SC2154).
# shellcheck disable=SC2016,SC2030,SC2031,SC2154

load lib/common
load lib/sandbox
bats_require_minimum_version 1.5.0

# ---------------------------------------------------------------------------------------------
# the terminal

# Pushes "$1" and a newline into the terminal with TIOCSTI, through /dev/tty and through stdin;
# prints what each attempt gave.
TIOCSTI_PY='
import fcntl, os, sys, termios
res = []
def inject(fd, what):
    try:
        for c in sys.argv[1].encode() + b"\n":
            fcntl.ioctl(fd, termios.TIOCSTI, bytes([c]))
        res.append(what + " injected")
    except OSError as e:
        res.append(what + " " + e.strerror)
try:
    inject(os.open("/dev/tty", os.O_RDWR), "tty")
except OSError as e:
    res.append("tty " + e.strerror)
inject(0, "stdin")
print("; ".join(res))
'

# in_pty FEEDER CMD...: runs CMD in a new terminal (util-linux script), its input written by
# the shell command FEEDER, then reads one line from that terminal within a second, as the
# caller's shell would after ovlbox exits, and prints it as "read<LINE>"; "status N" is CMD's.
in_pty() {
	local feeder=$1 cmd
	shift
	cmd=$(printf '%q ' "$@")
	cmd+='; echo "status $?"; read -t 1 -r l; printf "read<%s>\n" "$l"'
	SHELL=/bin/bash script -q -c "$cmd" /dev/null < <(
		exec 3>&-
		eval "$feeder"
	)
}

check_no_tiocsti() {
	local tag="ovlbox-injected-$$$RANDOM" who=()
	[[ $MODE == user ]] && who=(setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --clear-groups --)
	printf '%s' "$TIOCSTI_PY" >"$H/tiocsti.py"
	run --separate-stderr in_pty 'sleep 4' "${who[@]}" "$OVLBOX" run --workspace "$WS" "$@" -- \
		python3 "$H/tiocsti.py" "echo $tag"
	[[ $output == *"tty No such device or address; stdin Operation not permitted"* ]] ||
		sb_fail "TIOCSTI was not refused"
	[[ $output == *"status 0"* ]] || sb_fail "ovlbox did not exit 0"
	[[ $output == *"read<>"* && $output != *"$tag"* ]] ||
		sb_fail "the action pushed input into the caller's terminal"
}

@test "tty: root: the action has no controlling terminal; TIOCSTI injects nothing" {
	check_no_tiocsti
}

@test "tty: root: --cap-add ALL: the default seccomp profile refuses TIOCSTI" {
	check_no_tiocsti --cap-add ALL
}

@test "tty: user: the action has no controlling terminal; TIOCSTI injects nothing" {
	sb_user
	check_no_tiocsti
}

@test "tty: Ctrl-C in the caller's terminal still reaches the action (SIGINT, forwarded)" {
	mkdir "$H/comm"
	local feeder
	feeder=$(printf 'while [ ! -e %q ]; do sleep 0.05; done; printf "\\003"; sleep 3' "$H/comm/ready")
	run --separate-stderr in_pty "$feeder" "$OVLBOX" run --workspace "$WS" --bind "$H/comm" -- sh -c '
		trap "echo got-INT > $1/got; exit 7" INT
		echo ready > "$1/ready"
		i=0
		while [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done' sh "$H/comm"
	[[ $output == *"status 7"* ]] || sb_fail "ovlbox did not exit with the action's 7"
	[[ $(cat "$H/comm/got") == got-INT ]] || sb_fail "SIGINT did not reach the action"
}

# ---------------------------------------------------------------------------------------------
# what init holds

# Lists, for every process the action sees, each fd (past stdio, which the action inherits from
# its caller by design), cwd and root that resolve to a path, and prints one line for each whose
# path inside the sandbox is not the same file on the same mount; also pipes held by init (one
# can be opened again through /proc/1/fd). Prints "clean" when there is none.
FDCHECK_PY='
import os
def mnt_id(fdinfo):
    with open(fdinfo) as f:
        for line in f:
            if line.startswith("mnt_id:"):
                return int(line.split()[1])
def ident(path, fdinfo):
    st = os.stat(path)
    return (st.st_dev, st.st_ino, mnt_id(fdinfo) if fdinfo else None)
def seen_here(path, with_mnt):
    fd = os.open(path, os.O_PATH)
    try:
        return ident("/proc/self/fd/%d" % fd, "/proc/self/fdinfo/%d" % fd if with_mnt else None)
    finally:
        os.close(fd)
bad, seen = [], 0
me = str(os.getpid())
for pid in sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int):
    if pid == me:
        continue
    entries = [("cwd", None), ("root", None)]
    try:
        entries += [("fd/" + n, "fdinfo/" + n) for n in os.listdir("/proc/%s/fd" % pid) if int(n) > 2]
    except PermissionError:
        pass
    except FileNotFoundError:
        continue
    for name, info in entries:
        p = "/proc/%s/%s" % (pid, name)
        try:
            link = os.readlink(p)
            there = ident(p, "/proc/%s/%s" % (pid, info) if info else None)
        except (PermissionError, FileNotFoundError):
            continue
        seen += 1
        if link.startswith("pipe:") and pid == "1":
            bad.append("init %s is a pipe" % name)
        if not link.startswith("/"):
            continue
        try:
            here = seen_here(link, info is not None)
        except OSError as e:
            here = e.strerror
        if here != there:
            bad.append("pid %s %s -> %s: not the file the sandbox shows there" % (pid, name, link))
print("\n".join(bad) or "clean (%d checked)" % seen)
'

# sb_closed_fds CMD...: runs CMD with no fd open past stdio (bats has some), so that every fd
# the checks find is one ovlbox or init opened, and --rlimit nofile=4 leaves the command one.
sb_closed_fds() {
	(
		local f
		for f in "/proc/$BASHPID/fd/"*; do
			f=${f##*/}
			[[ $f -gt 2 ]] && eval "exec $f>&-"
		done 2>/dev/null
		"$@"
	)
}

check_init_fds() {
	make_fixture
	printf '%s' "$FDCHECK_PY" >"$H/fdcheck.py"
	if [[ $MODE == user ]]; then
		chown -R "$TEST_UID:$TEST_GID" "$H"
	fi
	run --separate-stderr sb_closed_fds as_mode "$OVLBOX" run --workspace "$WS" \
		--cap-add SYS_PTRACE --on-exit discard -- sh -c '
		python3 "$1"
		# what the reported exploit did, through each fd of init
		for f in /proc/1/fd/*; do
			echo EVIL > "$f/in/a.txt"
			echo EVIL > "$f/../ovlbox-escaped"
		done 2>/dev/null
		exit 0' sh "$H/fdcheck.py"
	assert_status 0
	[[ $output == clean* ]] || sb_fail "init holds what the sandbox does not show"
	[[ $output != "clean (0 checked)" ]] || sb_fail "the check saw nothing"
	assert_cache_intact
	[[ ! -e $FX/ovlbox-escaped ]] || fail "the action wrote $FX/ovlbox-escaped on the host"
	snap "$WS" >"$T/ws.after"
	diff -u "$T/ws.before" "$T/ws.after" || fail "the workspace changed (--on-exit discard)"
}

@test "init: root: --cap-add SYS_PTRACE: /proc/1/fd, cwd and root show nothing of the host" {
	check_init_fds
}

@test "init: user: --cap-add SYS_PTRACE: /proc/1/fd, cwd and root show nothing of the host" {
	sb_user
	check_init_fds
}

@test "init: the workspace lock is held for the whole run (by ovlbox, not init)" {
	mkdir "$H/comm"
	"$OVLBOX" run --workspace "$WS" --bind "$H/comm" -- sh -c '
		echo ready > "$1/ready"
		i=0
		while [ ! -e "$1/stop" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done' \
		sh "$H/comm" >"$T/out" 2>"$T/err" 3>&- &
	local pid=$!
	SB_PIDS+=("$pid")
	wait_for_file "$H/comm/ready"
	run --separate-stderr sb -- true
	touch "$H/comm/stop"
	local rc=0
	wait "$pid" || rc=$?
	assert_status 125
	assert_one_err_line "is in use by another ovlbox (lock held)"
	[[ $rc -eq 0 ]] || fail "the first run exited $rc: $(cat "$T/err")"
}

# overlayfs marks a volatile mount's work dir (work/incompat/volatile/dirty); init removes the
# marker before it releases the action, so that the end of the run need not (checked from
# outside while the action runs).
check_marker_gone_while_running() {
	mkdir "$H/comm"
	[[ $MODE == root ]] || chown "$TEST_UID:$TEST_GID" "$H/comm"
	as_mode "$OVLBOX" run --workspace "$WS" --bind "$H/comm" -- sh -c '
		echo ready > "$1/ready"
		i=0
		while [ ! -e "$1/stop" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done' \
		sh "$H/comm" >"$T/out" 2>"$T/err" 3>&- &
	local pid=$! rc=0 i
	SB_PIDS+=("$pid")
	wait_for_file "$H/comm/ready"
	# the action runs: the overlay is mounted (work/work exists), its marker removed
	for ((i = 0; i < 40; i++)); do
		[[ -d $WS.work/work && ! -e $WS.work/work/incompat ]] && break
		sleep 0.05
	done
	local seen
	seen=$(cd "$WS.work" && find . | sort | tr '\n' ' ')
	touch "$H/comm/stop"
	wait "$pid" || rc=$?
	[[ $rc -eq 0 ]] || fail "the run exited $rc: $(cat "$T/err")"
	[[ $seen == ". ./work " || $seen == ". ./ovlbox-mode ./work " ]] ||
		fail "the work dir while the action ran: $seen"
	assert_no_layers_left
}

@test "marker: root: overlayfs' volatile marker is removed while the action runs" {
	check_marker_gone_while_running
}

@test "marker: user: overlayfs' volatile marker is removed while the action runs" {
	sb_user
	check_marker_gone_while_running
}

# ---------------------------------------------------------------------------------------------
# signals at start

# kill -INT once ovlbox has started (it runs ovlbox's own code: /proc/PID/exe is ovlbox), at
# whatever point of its set-up: the action must end of it, 130, long before its sleep 5 would.
# env --default-signal: bash starts background jobs with SIGINT ignored.
@test "signals: 50 runs, each sent SIGINT right after start: all exit 130 quickly" {
	local i pid rc start ms bad=()
	for ((i = 0; i < 50; i++)); do
		start=$(now_ms)
		env --default-signal=INT "$OVLBOX" run --workspace "$WS" -- sleep 5 \
			>/dev/null 2>"$T/err" 3>&- &
		pid=$!
		SB_PIDS+=("$pid")
		while [[ $(readlink "/proc/$pid/exe" 2>/dev/null) != "$OVLBOX" ]] &&
			kill -0 "$pid" 2>/dev/null; do
			:
		done
		kill -INT "$pid" 2>/dev/null || true
		rc=0
		wait "$pid" || rc=$?
		ms=$(($(now_ms) - start))
		if [[ $rc -ne 130 || $ms -ge 2000 ]]; then
			bad+=("run $i: exit $rc after $ms ms: $(cat "$T/err")")
		fi
	done
	[[ ${#bad[@]} -eq 0 ]] || fail "${#bad[@]} of 50 runs:" "${bad[@]}"
}

# ---------------------------------------------------------------------------------------------
# --rlimit

@test "rlimit: nofile=4 binds the command, not ovlbox's set-up" {
	run --separate-stderr sb_closed_fds sb --rlimit nofile=4 -- /bin/true
	assert_status 0
	assert_no_stderr
	run --separate-stderr sb_closed_fds sb --rlimit nofile=4 -- sh -c 'ulimit -n'
	assert_status 0
	assert_out 4
}

# ---------------------------------------------------------------------------------------------
# CMD lookup

@test "PATH: CMD is looked up in ovlbox's PATH, not the action's, with or without --cwd" {
	mkdir "$H/bin"
	printf '#!/bin/sh\necho tool ran\n' >"$H/bin/ovlbox-sb-tool"
	chmod 0755 "$H/bin/ovlbox-sb-tool"
	local cwd
	for cwd in "" "--cwd=/"; do
		# in ovlbox's PATH only: found
		PATH="$H/bin:$PATH" run --separate-stderr sb ${cwd:+"$cwd"} --clear-env -- ovlbox-sb-tool
		assert_status 0
		assert_out "tool ran"
		# in the action's PATH only: not found
		run -127 --separate-stderr sb ${cwd:+"$cwd"} --env PATH="$H/bin" -- ovlbox-sb-tool
		assert_status 127
		assert_one_err_line ovlbox-sb-tool
	done
}

# ---------------------------------------------------------------------------------------------
# --stats, as ovlbox(1) shows it

@test "stats: ovlbox(1)'s example action gives its counts" {
	local readme=$OVLBOX_SRC/man/ovlbox.1.scd action want
	action=$(grep -o 'the action `printf 12345 >.*' "$readme" | head -1)
	[[ -n $action ]] || fail "the example is not in ovlbox(1)"
	# the example's JSON block: its changes object
	want=$(sed -n '/^# STATS/,/^# EXIT STATUS/p' "$readme" | sed -n '/^```$/,/^```$/p' |
		sed '1d;$d' | jq -c '.changes')
	mkdir "$WS/d"
	printf 'aaa\n' >"$WS/a"
	printf 'bbb\n' >"$WS/b"
	printf 'x' >"$WS/d/x"
	run --separate-stderr sb --stats "$T/stats.json" -- sh -c \
		'printf 12345 > new1; printf 1234567890 > d/new2; printf 1234567 > a; rm b; rm d/x'
	assert_status 0
	[[ $(stats_get "$T/stats.json" .changes) == "$want" ]] ||
		fail "ovlbox(1): $want, ovlbox: $(stats_get "$T/stats.json" .changes)"
	grep -q 'gives added 2 (`new1`,' "$readme" && grep -q 'modified 1 (`a`' "$readme" ||
		fail "ovlbox(1)'s text does not give modified 1"
}
