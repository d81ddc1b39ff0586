#!/usr/bin/env bats
# ovlbox run's mounts, beyond tests/sandbox.bats, one section per fix, each checked as root and
# as an unprivileged user.

# Action scripts are single-quoted on purpose: they run inside the sandbox (arguments go in as
# "$1"...). Each @test runs in its own subshell (SC2030/SC2031), and bats' run sets stderr
# (SC2154).
# shellcheck disable=SC2016,SC2030,SC2031,SC2154

load lib/common
load lib/sandbox
bats_require_minimum_version 1.5.0

# ---------------------------------------------------------------------------------------------
# --bind and --writable: submounts keep their own read-only flag
#
# The tests' own mounts are made in `unshare -m --propagation private`: the host's mounts are
# not touched.

# in_private_ns CMD...: runs CMD in a private mount namespace where $H/src is a tmpfs holding
# top (a file) and ro/f on a read-only bind mount of $H/src/ro; the host's mounts are not
# touched. CMD runs as the mode's user.
in_private_ns() {
	local who=() uid=0 gid=0
	if [[ $MODE == user ]]; then
		who=(setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --clear-groups --)
		uid=$TEST_UID gid=$TEST_GID
	fi
	mkdir -p "$H/src"
	unshare -m --propagation private sh -c '
		set -e
		h=$1 uid=$2 gid=$3
		shift 3
		mount -t tmpfs -o mode=0755 tmpfs "$h/src"
		mkdir "$h/src/ro"
		echo orig > "$h/src/ro/f"
		echo orig > "$h/src/top"
		chown -R "$uid:$gid" "$h/src"
		mount --bind "$h/src/ro" "$h/src/ro"
		mount -o remount,bind,ro "$h/src/ro"
		exec "$@"' sh "$H" "$uid" "$gid" "${who[@]}" "$@"
}

# check_bind_keeps_ro_submounts OPTION: with `OPTION $H/src`, the top of the bind is writable
# (the private namespace's tmpfs sees the write) and the read-only submount stays read-only.
check_bind_keeps_ro_submounts() {
	[[ $MODE == user ]] && chown -R "$TEST_UID:$TEST_GID" "$WS" "$H"
	run --separate-stderr in_private_ns "$OVLBOX" run --workspace "$WS" --on-exit discard \
		"$1" "$H/src" -- sh -c '
		(echo CHANGED > "$1/ro/f") 2>&1 | sed "s/.*: //"
		cat "$1/ro/f"
		echo new > "$1/top" && cat "$1/top"' sh "$H/src"
	assert_status 0
	assert_out "Read-only file system
orig
new"
}

@test "bind: root: --bind and --writable keep a read-only submount of SRC read-only" {
	check_bind_keeps_ro_submounts --bind
	check_bind_keeps_ro_submounts --writable
}

@test "bind: user: --bind and --writable keep a read-only submount of SRC read-only" {
	sb_user
	check_bind_keeps_ro_submounts --bind
	check_bind_keeps_ro_submounts --writable
}

# ---------------------------------------------------------------------------------------------
# file binds whose host path is under /tmp (behind the sandbox's private /tmp)

check_tmp_file_binds() {
	printf 'one\n' >"$T/t1"
	printf 'two\n' >"$T/t2"
	[[ $MODE == user ]] && chown "$TEST_UID:$TEST_GID" "$T/t1" "$T/t2"
	run --separate-stderr sb --bind "$T/t1" --ro-bind "$T/t2:/tmp/elsewhere/t2" -- sh -c '
		cat "$1" /tmp/elsewhere/t2
		echo written > "$1"
		(echo x > /tmp/elsewhere/t2) 2>&1 | sed "s/.*: //"' sh "$T/t1"
	assert_status 0
	assert_out "one
two
Read-only file system"
	[[ $(cat "$T/t1") == written ]] || sb_fail "the write to --bind $T/t1 did not reach the host"
	[[ $(cat "$T/t2") == two ]] || sb_fail "$T/t2 changed"
}

@test "bind: root: --bind and --ro-bind of a file under /tmp" {
	check_tmp_file_binds
}

@test "bind: user: --bind and --ro-bind of a file under /tmp" {
	sb_user
	check_tmp_file_binds
}
# ---------------------------------------------------------------------------------------------
# --bind, --writable and --ro-bind are nosuid and nodev, as the rest of the host root

# check_binds_nosuid_nodev: a node made with CAP_MKNOD in a writable bind cannot be used, and
# every bind (and a submount in it) is mounted nosuid,nodev.
check_binds_nosuid_nodev() {
	mkdir -p "$H/w" "$H/r"
	[[ $MODE == user ]] && chown -R "$TEST_UID:$TEST_GID" "$H"
	run --separate-stderr sb --cap-add MKNOD --bind "$H/w" --ro-bind "$H/r" --writable "$H/r/sub" \
		-- sh -c "$MOUNT_OPTS"'
		mount_opts "$1" "$2" "$3"
		if mknod "$1/n" c 1 3 2>/dev/null; then
			(echo x > "$1/n") 2>&1 | sed "s/.*: //"
		else
			echo "no mknod"
		fi' sh "$H/w" "$H/r" "$H/r/sub"
	assert_status 0
	local i
	for i in 0 1 2; do
		has_opts "${lines[i]#* }" nosuid nodev || sb_fail "not nosuid,nodev: ${lines[i]}"
	done
	if [[ $MODE == root ]]; then
		[[ ${lines[3]} == "Permission denied" ]] || sb_fail "the node made in --bind could be used: ${lines[3]}"
	fi
}

@test "bind: root: binds are nosuid,nodev: a node made with --cap-add MKNOD cannot be used" {
	mkdir -p "$H/r/sub"
	check_binds_nosuid_nodev
}

@test "bind: user: binds are nosuid,nodev" {
	sb_user
	mkdir -p "$H/r/sub"
	check_binds_nosuid_nodev
}

# ---------------------------------------------------------------------------------------------
# /dev: read-only once its nodes exist

# mount_opts PATH... (in the action): "PATH OPTIONS" of the top mount at each PATH, or
# "PATH absent" for a path that does not exist.
MOUNT_OPTS='
mount_opts() {
	for p in "$@"; do
		if [ ! -e "$p" ]; then echo "$p absent"; continue; fi
		awk -v p="$p" "\$5 == p { o = \$6 } END { print p, (o == \"\" ? \"none\" : o) }" \
			/proc/self/mountinfo
	done
}
'

# has_opts OPTIONS OPT...: the comma-separated OPTIONS hold every OPT.
has_opts() {
	local o=$1 want
	shift
	for want in "$@"; do
		[[ ,$o, == *,"$want",* ]] || return 1
	done
}

# check_dev_readonly: /dev is a read-only, nosuid, noexec tmpfs (nodev too where its nodes are
# binds, as non-root); nothing can be created in it, not even a node by an action given
# CAP_MKNOD; its nodes, /dev/shm and /dev/pts still work.
check_dev_readonly() {
	run --separate-stderr sb --cap-add MKNOD -- sh -c "$MOUNT_OPTS"'
		mount_opts /dev
		(mknod /dev/mynull c 1 3 && echo x > /dev/mynull && echo made) 2>&1 | sed "s/.*: //"
		(: > /dev/newfile) 2>&1 | sed "s/.*: //"
		echo x > /dev/null && head -c 2 /dev/zero | wc -c
		echo shm > /dev/shm/x && cat /dev/shm/x
		ls /dev/pts/ptmx' sh
	assert_status 0
	local opts=${lines[0]#/dev }
	has_opts "$opts" ro nosuid noexec || sb_fail "/dev is mounted $opts"
	if [[ $MODE == user ]]; then
		has_opts "$opts" nodev || sb_fail "/dev is mounted $opts, without nodev"
	fi
	# In a user namespace mknod would be refused anyway (EPERM), but the read-only mount is
	# checked first.
	[[ $(printf '%s\n' "${lines[@]:1}") == "Read-only file system
Read-only file system
2
shm
/dev/pts/ptmx" ]] || sb_fail "expected EROFS for mknod and a new file in /dev; working nodes"
}

@test "dev: root: /dev is read-only: --cap-add MKNOD cannot make a node there (EROFS)" {
	check_dev_readonly
}

@test "dev: user: /dev is read-only and nodev: nothing can be created there" {
	sb_user
	check_dev_readonly
}

# ---------------------------------------------------------------------------------------------
# /proc and /sys: runc's default read-only and masked paths
#
# Nothing here writes a host sysctl: the /proc/sys probe writes kernel/hostname, which belongs
# to the action's own UTS namespace, and the checks read /proc/self/mountinfo for the ro flag.

PROC_RO=(/proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger)
MASKED=(/proc/acpi /proc/kcore /proc/keys /proc/latency_stats /proc/timer_list /proc/sched_debug
	/proc/scsi /sys/firmware)

# check_proc_readonly: each of PROC_RO that the host has is a read-only, nosuid,
# nodev, noexec mount in the sandbox, the others are absent there too; writing a sysctl fails
# with EROFS (kernel/hostname: the action's own UTS namespace, harmless either way) and the
# hostname is unchanged.
check_proc_readonly() {
	run --separate-stderr sb -- sh -c "$MOUNT_OPTS"'
		mount_opts "$@"
		(echo probe > /proc/sys/kernel/hostname) 2>&1 | sed "s/.*: //"
		hostname' sh "${PROC_RO[@]}"
	assert_status 0
	local i p opts
	for i in "${!PROC_RO[@]}"; do
		p=${PROC_RO[$i]}
		if [[ ! -e $p ]]; then
			[[ ${lines[$i]} == "$p absent" ]] || sb_fail "$p: expected absent"
			continue
		fi
		opts=${lines[$i]#"$p "}
		has_opts "$opts" ro nosuid nodev noexec || sb_fail "$p is mounted $opts"
	done
	[[ ${lines[${#PROC_RO[@]}]} == "Read-only file system" ]] ||
		sb_fail "a write to /proc/sys/kernel/hostname did not fail with EROFS"
	[[ ${lines[${#PROC_RO[@]} + 1]} == ovlbox ]] || sb_fail "the hostname changed"
}

@test "proc: root: /proc/sys sysrq-trigger irq bus fs are read-only; a sysctl write gets EROFS" {
	check_proc_readonly
}

@test "proc: user: /proc/sys sysrq-trigger irq bus fs are read-only; a sysctl write gets EROFS" {
	sb_user
	check_proc_readonly
}

# In the action, for each path: "PATH absent", "PATH null C:H" (a character device, its
# major:minor in hex, and the bytes read from it) or "PATH dir N OPTIONS" (N entries, the
# mount's options and type).
MASK_PROBE='
for p in "$@"; do
	if [ ! -e "$p" ]; then echo "$p absent"; continue; fi
	if [ -d "$p" ]; then
		echo "$p dir $(ls -A "$p" | wc -l) $(awk -v p="$p" "\$5 == p { o = \$6 \" \" \$(NF-2) } END { print o }" /proc/self/mountinfo)"
	else
		echo "$p $(stat -c "%F %t:%T" "$p" | sed "s/character special file/chr/") $(wc -c < "$p")"
	fi
done
'

# check_masked [OPTION...]: each of MASKED that the host has reads as /dev/null (a file) or an
# empty read-only tmpfs (a directory) in the sandbox.
check_masked() {
	run --separate-stderr sb "$@" -- sh -c "$MASK_PROBE" sh "${MASKED[@]}"
	assert_status 0
	local i p line dir_re='^dir 0 ([^ ]+) tmpfs$'
	for i in "${!MASKED[@]}"; do
		p=${MASKED[$i]}
		line=${lines[$i]#"$p "}
		if [[ ! -e $p ]]; then
			[[ $line == absent ]] || sb_fail "$p: expected absent"
		elif [[ -d $p ]]; then
			if ! [[ $line =~ $dir_re ]] ||
				! has_opts "${BASH_REMATCH[1]}" ro nosuid nodev noexec; then
				sb_fail "$p: expected an empty read-only tmpfs"
			fi
		else
			[[ $line == "chr 1:3 0" ]] || sb_fail "$p: expected /dev/null"
		fi
	done
}

@test "proc: root: kcore keys latency_stats timer_list sched_debug scsi acpi, /sys/firmware are masked" {
	check_masked
	check_masked --net host
}

@test "proc: user: kcore keys latency_stats timer_list sched_debug scsi acpi, /sys/firmware are masked" {
	sb_user
	check_masked
	check_masked --net host
}
