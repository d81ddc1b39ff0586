# shellcheck shell=bash
# Killing an apply just before one of its system calls and resuming it: the crash points of a
# traced apply, and one trial (tests/core_crash.bats, tests/core_random.bats). Needs strace and
# lib/common (snap, MODE, T, TREESNAP, OVLBOX).

# bats' hooks, for the suites that load this file (tests/core_crash.bats, core_random.bats).
setup_file() {
	ensure_test_user
}

setup() {
	crash_setup
}

teardown() {
	common_teardown
}

# crash_setup: the per-test set-up of a suite that runs ovlbox under strace.
crash_setup() {
	common_setup
	command -v strace >/dev/null || fail "strace is needed (tests/install-deps.sh installs it)"
	# LeakSanitizer (make check SANITIZE=1) cannot work under ptrace, so only leak detection
	# is off (ASan and UBSan still check).
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
}

# System calls that change the filesystem (openat only when it creates or writes).
MUTATING=' rename renameat renameat2 unlink unlinkat rmdir mkdir mkdirat link linkat symlink
	symlinkat mknod mknodat chmod fchmod fchmodat fchmodat2 chown fchown lchown fchownat utime
	utimes utimensat futimesat setxattr lsetxattr fsetxattr removexattr lremovexattr
	fremovexattr write pwrite64 writev ftruncate truncate fsync fdatasync syncfs sync ioctl
	copy_file_range sendfile open openat openat2 creat '

# mode_prefix: PREFIX, the command prefix that runs as the mode's user (an array, for strace
# to run).
mode_prefix() {
	if [[ $MODE == user ]]; then
		PREFIX=(setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --clear-groups --)
	else
		PREFIX=()
	fi
}

# copy_scenario FROM DEST: a fresh copy of a saved scenario (hardlinks kept).
copy_scenario() {
	rm -rf "$2"
	mkdir "$2"
	[[ $MODE == user ]] && chown "$TEST_UID:$TEST_GID" "$2"
	cp -a "$1/." "$2/"
}

# crash_points TRACE: "SYSCALL N" for every call in TRACE (strace -f -o, one pid) that changes
# the filesystem, N counting that syscall's calls (all of them) in order.
crash_points() {
	awk -v mut="$MUTATING" '
		BEGIN { n = split(mut, a, /[ \t\n]+/); for (i = 1; i <= n; i++) if (a[i] != "") m[a[i]] = 1 }
		{
			line = $0
			sub(/^[0-9]+ +/, "", line)
			if (!match(line, /^[a-z0-9_]+\(/)) next
			name = substr(line, 1, RLENGTH - 1)
			count[name]++
			if (!(name in m)) next
			if (name ~ /^open/ && line !~ /O_CREAT|O_WRONLY|O_RDWR|O_TRUNC/) next
			if (name == "ioctl" && line !~ /FS_IOC_SETFLAGS/) next
			print name, count[name]
		}' "$1"
}

# traced_apply_points WS TRACE POINTS: applies WS under strace into TRACE (as the mode's user),
# then writes the crash points of the apply's own process to POINTS. Fails if the apply does.
traced_apply_points() {
	mode_prefix
	strace -f -qq -o "$2" "${PREFIX[@]}" "$OVLBOX" apply "$1" || return 1
	local pid
	pid=$(awk 'NR == 1 { print $1 }' "$2")
	awk -v p="$pid" '$1 == p' "$2" >"$2.main"
	crash_points "$2.main" >"$3"
}

# crash_trial SCENARIO SYSCALL N REF_SNAP: a copy of SCENARIO (a dir holding ws and cache) in
# $T/trial has its ws applied, killed just before its N-th SYSCALL, then applied again. Returns
# 0 when that gives REF_SNAP with no upper or work left, a cache as $T/cache.before, and a
# third apply changes nothing; otherwise 1, with the reason on fd 3.
crash_trial() {
	local scenario=$1 sc=$2 n=$3 ref=$4 trial=$T/trial st
	local tws=$trial/ws
	mode_prefix
	copy_scenario "$scenario" "$trial"
	st=0
	strace -f -qq -o /dev/null -e trace="$sc" -e inject="$sc":signal=KILL:when="$n" \
		"${PREFIX[@]}" "$OVLBOX" apply "$tws" >"$T/trial.out" 2>&1 || st=$?
	if [[ $st -ne 137 ]]; then
		echo "# $sc #$n: the traced apply was not killed (exit $st): $(cat "$T/trial.out")" >&3
		return 1
	fi
	st=0
	"${PREFIX[@]}" "$OVLBOX" apply "$tws" >"$T/trial.out" 2>&1 || st=$?
	if [[ $st -ne 0 ]]; then
		echo "# $sc #$n: the apply after the crash failed ($st): $(cat "$T/trial.out")" >&3
		return 1
	fi
	snap "$tws" >"$T/trial.snap"
	if ! diff -u "$ref" "$T/trial.snap" >"$T/trial.diff"; then
		echo "# $sc #$n: the tree differs from the reference:" >&3
		sed 's/^/#   /' "$T/trial.diff" | head -20 >&3
		return 1
	fi
	if [[ -e $tws.upper || -e $tws.work ]]; then
		echo "# $sc #$n: upper or work left behind" >&3
		return 1
	fi
	"$TREESNAP" --no-links "$trial/cache" >"$T/trial.cache"
	if ! cmp -s "$T/cache.before" "$T/trial.cache"; then
		echo "# $sc #$n: the cache changed" >&3
		return 1
	fi
	# a third apply is a no-op
	st=0
	"${PREFIX[@]}" "$OVLBOX" apply "$tws" >"$T/trial.out" 2>&1 || st=$?
	snap "$tws" >"$T/trial.snap2"
	if [[ $st -ne 0 ]] || ! cmp -s "$T/trial.snap" "$T/trial.snap2"; then
		echo "# $sc #$n: the third apply was not a no-op ($st): $(cat "$T/trial.out")" >&3
		return 1
	fi
}
