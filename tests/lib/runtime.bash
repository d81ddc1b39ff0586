# shellcheck shell=bash
# Variables here are used by the suites that load this file; status/output come from bats' run.
# jq filters and sh scripts are single-quoted on purpose (they expand elsewhere).
# shellcheck disable=SC2034,SC2154,SC2016
# Helpers for the ovlbox-runtime suites (tests/runtime*.bats), over tests/lib/bundle.bash: the
# wrapper in front of runc, what it must add to config.json, and private containerd and dockerd
# instances (started on the test file's directories and sockets, stopped by pid).

# The suites load lib/bundle first (bench/runtime.sh sources both).
: "${OVLBOX_RUNTIME:?set OVLBOX_RUNTIME (tests/run.sh does)}"

# rt_case_setup: ovl_case_setup, plus $CFG (the bundle's config.json) and $RTLOG (the log the
# caller passes with --log).
rt_case_setup() {
	ovl_case_setup
	CFG=$B/config.json
	RTLOG=$C/runtime-log.json
}

# rt_runc ARGS...: runc through the wrapper, with the hook's log, runc's state private.
rt_runc() {
	"$OVLBOX_RUNTIME" --ovlbox-hook-log "$LOG" --root "$OVL_T/runc-state" "$@"
}

# rt_bundle ANNOTATIONS [ENV_JSON]: $B/config.json (compact) without hooks, the workspace at
# /workspace, the action as the command, process.env replaced by ENV_JSON when given (the
# string 'null' sets it to null); a copy in $C/config.orig.
rt_bundle() {
	ovl_make_bundle none "$1"
	if [[ $# -ge 2 ]]; then
		jq -c --argjson env "$2" '.process.env = $env' "$CFG" >"$CFG.new"
	else
		jq -c . "$CFG" >"$CFG.new"
	fi
	mv "$CFG.new" "$CFG"
	cp "$CFG" "$C/config.orig"
}

# rt_hook_entry STAGE [HOOK_ARGS...]: the entry the wrapper appends at STAGE (jq -c).
rt_hook_entry() {
	local stage=$1 a='[]'
	shift
	[[ $# -eq 0 ]] || a=$(printf '%s\n' "$@" | jq -R . | jq -cs .)
	jq -cn --arg path "$OVLBOX_HOOK" --arg stage "$stage" --argjson a "$a" \
		'{"path": $path, "args": (["ovlbox-hook", $stage] + $a)}'
}

# rt_assert_hooks_added [HOOK_ARGS...]: config.json is the original with the two entries appended
# (compared as values: jq -S) and nothing else changed.
rt_assert_hooks_added() {
	rt_assert_added_between "$C/config.orig" "$CFG" "$@"
}

# rt_assert_added_between BEFORE AFTER [HOOK_ARGS...]: AFTER is BEFORE with the two hook entries
# appended (compared as values: jq -S), nothing else changed.
rt_assert_added_between() {
	local before=$1 after=$2 cr ps
	shift 2
	cr=$(rt_hook_entry createRuntime "$@")
	ps=$(rt_hook_entry poststop "$@")
	diff -u <(jq -S --argjson cr "$cr" --argjson ps "$ps" \
		'.hooks.createRuntime += [$cr] | .hooks.poststop += [$ps]' "$before") \
		<(jq -S . "$after")
}

# rt_assert_unchanged: config.json is byte for byte the original.
rt_assert_unchanged() {
	cmp "$C/config.orig" "$CFG" || fail "config.json changed: $(diff <(jq -S . "$C/config.orig") <(jq -S . "$CFG"))"
}

# rt_assert_log_entry FORMAT MSG_REGEX: the last line of $RTLOG is runc's error entry (json or
# text) whose message matches MSG_REGEX (ERE, without anchors).
rt_assert_log_entry() {
	local last stamp='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z'
	last=$(tail -n 1 "$RTLOG")
	if [[ $1 == json ]]; then
		[[ $(jq -r '.level' <<<"$last") == error ]] || fail "log entry level: $last"
		[[ $(jq -r '.msg' <<<"$last") =~ ^ovlbox-runtime:\ $2$ ]] || fail "log entry msg: $last"
		[[ $(jq -r '.time' <<<"$last") =~ ^$stamp$ ]] || fail "log entry time: $last"
		[[ $(jq -c 'keys' <<<"$last") == '["level","msg","time"]' ]] || fail "log entry keys: $last"
	else
		[[ $last =~ ^time=\"$stamp\"\ level=error\ msg=\"(.*)\"$ ]] || fail "log entry: $last"
		local msg
		msg=$(printf '%s' "${BASH_REMATCH[1]}" | sed -e 's/\\\(["\\]\)/\1/g')
		[[ $msg =~ ^ovlbox-runtime:\ $2$ ]] || fail "log entry msg: $last"
	fi
}

# ---- containerd (a private instance: root, state, socket in the test file's directory) ----

# rt_containerd_start DIR: writes DIR/config.toml and starts containerd; sets CTR_SOCK, CTR_PID.
rt_containerd_start() {
	local d=$1 i
	mkdir -p "$d"
	cat >"$d/config.toml" <<-EOF
		version = 2
		root = "$d/root"
		state = "$d/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$d/containerd.sock"
		[ttrpc]
		  address = "$d/containerd.sock.ttrpc"
		[debug]
		  address = "$d/debug.sock"
	EOF
	# in a mount namespace of its own: whatever it mounts stays off the host
	unshare -m --propagation private containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
	CTR_PID=$!
	CTR_SOCK=$d/containerd.sock
	for i in $(seq 100); do
		ctr -a "$CTR_SOCK" version >/dev/null 2>&1 && return 0
		kill -0 "$CTR_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "containerd did not start: $(tail -20 "$d/containerd.log")"
}

# rt_daemon_stop PID: ends a daemon this file started, and waits for it.
rt_daemon_stop() {
	local pid=$1 i
	[[ -n $pid ]] || return 0
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

# rt_make_wrapper FILE WRAPPER_OPTIONS...: a runtime binary for engines that take only a path
# (containerd's BinaryName, ctr --runc-binary, dockerd --add-runtime): records each call in
# $C/calls.txt and, for a call with --bundle, the bundle's config.json before and after
# ovlbox-runtime in $C/config.before and $C/config.after; runs ovlbox-runtime (as a child, so
# that it can copy config.json afterwards) with WRAPPER_OPTIONS first. The test's $C is read
# when the script runs ($C/current names it), so one wrapper serves a whole file.
rt_make_wrapper() {
	local file=$1 opts='' o
	shift
	for o in "$@"; do
		opts+=" $(printf '%q' "$o")"
	done
	cat >"$file" <<-EOF
		#!/bin/bash
		C=\$(cat $(printf '%q' "$OVL_T/current"))
		printf '%s\n' "\$*" >>"\$C/calls.txt"
		bundle= prev=
		for a in "\$@"; do
			[[ \$prev == --bundle ]] && bundle=\$a
			prev=\$a
		done
		[[ -z \$bundle ]] || cp "\$bundle/config.json" "\$C/config.before"
		$(printf '%q' "$OVLBOX_RUNTIME")$opts "\$@"
		rc=\$?
		[[ -z \$bundle ]] || cp "\$bundle/config.json" "\$C/config.after"
		exit \$rc
	EOF
	chmod +x "$file"
}

# rt_wrapper_case: points the file's wrapper at this test's $C.
rt_wrapper_case() {
	printf '%s\n' "$C" >"$OVL_T/current"
}

# rt_assert_wrapper_unchanged: the wrapper left config.json byte for byte as the engine wrote it.
rt_assert_wrapper_unchanged() {
	[[ -s $C/config.before ]] || fail "no create call was recorded: $(cat "$C/calls.txt" 2>/dev/null)"
	cmp "$C/config.before" "$C/config.after" || fail "config.json changed"
}

# rt_assert_wrapper_added: the wrapper appended exactly the two hook entries (HOOK_ARGS as
# rt_hook_entry), nothing else changed.
rt_assert_wrapper_added() {
	rt_assert_added_between "$C/config.before" "$C/config.after" "$@"
}

# rt_action_script: the action (OVL_ACTION_SH with the snapshot script) as one sh -c string.
rt_action_script() {
	ovl_action_cmd | jq -r '.[2]'
}

# ---- dockerd (a private instance; it starts its own containerd under its exec root) ----

DOCKER=/usr/bin/docker # Debian's client (another docker may come first on PATH)

# rt_dockerd_start DIR: starts dockerd with DIR/daemon.json (written by the caller); sets
# DOCKER_SOCK, DOCKERD_PID.
rt_dockerd_start() {
	local d=$1 i
	unshare -m --propagation private dockerd --config-file "$d/daemon.json" \
		--data-root "$d/data" --exec-root "$d/x" --pidfile "$d/pid" -H "unix://$d/sock" \
		>"$d/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	DOCKER_SOCK=$d/sock
	for i in $(seq 120); do
		"$DOCKER" -H "unix://$DOCKER_SOCK" version >/dev/null 2>&1 && return 0
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.25
	done
	fail "dockerd did not start: $(tail -20 "$d/dockerd.log")"
}

# rt_docker ARGS...: the client on the private daemon.
rt_docker() {
	"$DOCKER" -H "unix://$DOCKER_SOCK" "$@"
}

# rt_split_opts OPT... -- ARG...: RT_OPTS gets the words before "--", RT_ARGS those after it.
rt_split_opts() {
	RT_OPTS=()
	while [[ $1 != -- ]]; do
		RT_OPTS+=("$1")
		shift
	done
	shift
	RT_ARGS=("$@")
}
