# shell=bash is for shellcheck; variables set here are used by tests/sandbox.bats.
# shellcheck shell=bash disable=SC2034,SC2154
# Helpers for tests/sandbox.bats: the isolation of `ovlbox run` (namespaces, read-only root,
# private /dev /proc /tmp /sys, binds, capabilities, seccomp, timeout, signals, env, rlimits,
# stats), checked from inside the sandbox, as root and as an unprivileged user.
#
# Needs lib/common.bash loaded first (common_setup, use_mode, as_mode, TEST_USER...).

# ---------------------------------------------------------------------------------------------
# once per file

# The unprivileged user must reach the binaries: when it cannot (a build dir under /root, say),
# copy them to a world-readable dir and point OVLBOX / OVLBOX_HELPERS there.
sandbox_setup_file() {
	SB_COPY=
	if [[ $(id -u) -eq 0 ]] && ensure_test_user; then
		if ! as_user test -x "$OVLBOX" || ! as_user test -x "$OVLBOX_HELPERS/treesnap"; then
			SB_COPY=$(mktemp -d "${TMPDIR:-/tmp}/ovlbox-sb-bin.XXXXXX")
			mkdir "$SB_COPY/helpers"
			cp "$OVLBOX" "$SB_COPY/ovlbox"
			local h
			for h in "$OVLBOX_HELPERS"/*; do
				[[ -f $h && -x $h ]] && cp "$h" "$SB_COPY/helpers/"
			done
			chmod -R a+rX "$SB_COPY"
			export OVLBOX="$SB_COPY/ovlbox" OVLBOX_HELPERS="$SB_COPY/helpers"
		fi
	fi
	export SB_COPY
}

sandbox_teardown_file() {
	if [[ -n ${SB_COPY:-} && -d $SB_COPY ]]; then
		rm -rf "$SB_COPY"
	fi
}

# ---------------------------------------------------------------------------------------------
# per test

# $T (scratch under /tmp, from common_setup), $WS = $T/ws (the workspace), and $H: a host dir
# outside /tmp (the sandbox's /tmp is private, so paths there are not visible inside) for the
# bind/writable/tmpfs tests.
sb_setup() {
	common_setup
	WS=$T/ws
	mkdir "$WS"
	H=$(mktemp -d /var/tmp/ovlbox-sb.XXXXXX)
	chmod 0755 "$H"
	SB_PIDS=()
	SB_RM=()
}

sb_teardown() {
	local p
	for p in "${SB_PIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	for p in "${SB_RM[@]}"; do
		[[ -n $p && -e $p ]] && rm -rf "$p"
	done
	[[ -n ${H:-} && -d $H ]] && rm -rf "$H"
	common_teardown
}

# Runs the following actions as the unprivileged user (skips, with the reason, where the
# machine cannot run ovlbox rootless).
sb_user() {
	use_mode user
	# $T too: ovlbox makes $WS.upper and $WS.work next to the workspace, and tests write
	# --stats files there.
	chown "$TEST_UID:$TEST_GID" "$T"
	chown -R "$TEST_UID:$TEST_GID" "$WS" "$H"
}

# sb OPTION... -- CMD...: `ovlbox run --workspace $WS OPTION... -- CMD...` as the mode's user.
# In user mode, $WS and $H (fixtures made by the test as root) are given to the user first.
sb() {
	if [[ $MODE == user ]]; then
		chown -R "$TEST_UID:$TEST_GID" "$WS" "$H"
	fi
	as_mode "$OVLBOX" run --workspace "$WS" "$@"
}

# sb_tool NAME: copies the test helper NAME into the workspace (the helpers' build dir may be
# under /tmp, which the sandbox does not show) and prints its path there.
sb_tool() {
	cp "$OVLBOX_HELPERS/$1" "$WS/$1"
	printf '%s\n' "$WS/$1"
}

# ---------------------------------------------------------------------------------------------
# assertions (after bats' `run --separate-stderr`)

sb_fail() {
	printf '%s\n' "$@" "--- status: $status" "--- stdout:" "$output" "--- stderr:" \
		"${stderr:-}" >&2
	return 1
}

assert_status() {
	[[ $status -eq $1 ]] || sb_fail "expected exit status $1"
}

# assert_out TEXT: stdout is exactly TEXT (bats strips trailing newlines).
assert_out() {
	[[ $output == "$1" ]] || sb_fail "expected stdout:" "$1"
}

assert_no_stderr() {
	[[ -z ${stderr:-} ]] || sb_fail "expected nothing on stderr"
}

# assert_one_err_line TEXT...: stderr is exactly one line and contains every TEXT.
assert_one_err_line() {
	local n t
	n=$(printf '%s\n' "${stderr:-}" | grep -c .)
	[[ -n ${stderr:-} && $n -eq 1 ]] || sb_fail "expected exactly one line on stderr, got $n"
	for t in "$@"; do
		[[ $stderr == *"$t"* ]] || sb_fail "expected stderr to contain: $t"
	done
}

# The workspace has no upper/work dirs left (nothing ran or everything was applied).
assert_no_layers_left() {
	[[ ! -e $WS.upper && ! -e $WS.work ]] || sb_fail "$WS.upper or $WS.work is left behind"
}

# The /proc/self/status lines of the capability sets, NoNewPrivs and Seccomp, as the action
# prints them with `grep -E "$SB_STATUS_RE" /proc/self/status`.
SB_STATUS_RE='^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):'

# expected_status_lines CAPHEX SECCOMP: what that grep prints for every set equal to CAPHEX.
expected_status_lines() {
	printf 'CapInh:\t%s\nCapPrm:\t%s\nCapEff:\t%s\nCapBnd:\t%s\nCapAmb:\t%s\nNoNewPrivs:\t1\nSeccomp:\t%s' \
		"$1" "$1" "$1" "$1" "$1" "$2"
}

# stats_schema_ok FILE: FILE holds exactly one JSON object with exactly the documented keys
# and types (non-negative integers; signal a "SIG..." name or null; booleans; unmapped_owners
# an integer or null).
stats_schema_ok() {
	[[ $(jq -s 'length' "$1") == 1 ]] || {
		echo "stats: not exactly one JSON value: $(cat "$1")" >&2
		return 1
	}
	jq -e '
	  def nat: type == "number" and . >= 0 and . == floor;
	  type == "object"
	  and (keys == ["applied","changes","exit_code","max_rss_kb","signal","sys_ms",
	                "timed_out","unmapped_owners","user_ms","wall_ms"])
	  and (.changes | type == "object" and keys == ["added","bytes","deleted","modified"])
	  and ([.exit_code, .wall_ms, .user_ms, .sys_ms, .max_rss_kb] | all(nat))
	  and ([.changes[]] | all(nat))
	  and (.signal == null or (.signal | type == "string" and test("^SIG[A-Z0-9+-]+$")))
	  and (.timed_out | type == "boolean")
	  and (.applied | type == "boolean")
	  and (.unmapped_owners == null or (.unmapped_owners | nat))' "$1" >/dev/null || {
		echo "stats: does not match the schema: $(cat "$1")" >&2
		return 1
	}
}

# stats_get FILE FILTER: prints the compact jq value.
stats_get() {
	jq -c "$2" "$1"
}

# Milliseconds since the epoch.
now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# wait_for_file PATH [TENTHS]: polls until PATH exists (default 10 s).
wait_for_file() {
	local i
	for ((i = 0; i < ${2:-100}; i++)); do
		[[ -e $1 ]] && return 0
		sleep 0.1
	done
	echo "timed out waiting for $1" >&2
	return 1
}

# bats' hooks, for the suites that load this file (tests/sandbox*.bats).
setup_file() {
	sandbox_setup_file
}

teardown_file() {
	sandbox_teardown_file
}

setup() {
	sb_setup
}

teardown() {
	sb_teardown
}
