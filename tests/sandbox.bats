#!/usr/bin/env bats
# ovlbox run's isolation (issue 4), checked from inside the sandbox, as root and as an
# unprivileged user: read-only host root, writable workspace/tmp/binds, private /dev /proc /tmp
# /sys, network, hostname, namespaces, capabilities, seccomp (default, none, files), compiler and
# make, no surviving processes, timeout/kill-after, signal forwarding, env/cwd/rlimits, exit
# codes, --stats, and the one-line errors of bad flags. (--upper-size is not covered here.)

# Action scripts are single-quoted on purpose: they run inside the sandbox (arguments go in as
# "$1"...). Each @test runs in its own subshell (SC2030/SC2031), and bats' run sets stderr
# (SC2154).
# shellcheck disable=SC2016,SC2030,SC2031,SC2154

load lib/common
load lib/sandbox
bats_require_minimum_version 1.5.0

# ---------------------------------------------------------------------------------------------
# filesystem

# Tries to create, mkdir, append to and remove things outside the workspace; prints one line
# per attempt: "PATH OP RESULT" where RESULT is "ok" or the error text.
WRITE_PROBE='
res() { if [ -s /tmp/e ]; then sed "s/.*: //" /tmp/e; else echo ok; fi; }
for p in "$@"; do
	(true > "$p/ovlbox-sb-probe") 2>/tmp/e; echo "$p create $(res)"
	: > /tmp/e; mkdir "$p/ovlbox-sb-probe.d" 2>/tmp/e; echo "$p mkdir $(res)"
done
(echo more >> "$1/existing") 2>/tmp/e; echo "$1/existing append $(res)"
: > /tmp/e; rm -f "$1/existing" 2>/tmp/e; echo "$1/existing rm $(res)"
'

# expected_write_probe HOSTDIR DIR...: the probe's output when every write fails with EROFS,
# except under a dir the user cannot even search (Permission denied, a host permission).
expected_write_probe() {
	local host=$1 d err
	shift
	for d in "$host" "$@"; do
		err="Read-only file system"
		if [[ $MODE == user ]] && ! as_user test -x "$d"; then
			err="Permission denied"
		fi
		printf '%s create %s\n%s mkdir %s\n' "$d" "$err" "$d" "$err"
	done
	printf '%s/existing append Read-only file system\n' "$host"
	printf '%s/existing rm Read-only file system' "$host"
}

@test "fs: root cannot write /etc /usr /root /var /home or a world-writable host dir (EROFS)" {
	mkdir "$H/open"
	chmod 0777 "$H/open"
	printf 'host\n' >"$H/open/existing"
	chmod 0666 "$H/open/existing"
	run --separate-stderr sb -- sh -c "$WRITE_PROBE" sh "$H/open" /etc /usr /root /var /home
	assert_status 0
	assert_out "$(expected_write_probe "$H/open" /etc /usr /root /var /home)"
	[[ $(cat "$H/open/existing") == host ]] || fail "$H/open/existing changed"
	[[ $(find "$H/open" -mindepth 1 | wc -l) -eq 1 ]] || fail "something was created in $H/open"
	local d
	for d in /etc /usr /root /var /home; do
		[[ ! -e $d/ovlbox-sb-probe && ! -e $d/ovlbox-sb-probe.d ]] ||
			fail "the sandbox wrote $d/ovlbox-sb-probe"
	done
}

@test "fs: user cannot write /etc /usr /root /var /home or its own host dir (EROFS)" {
	sb_user
	mkdir "$H/open"
	printf 'host\n' >"$H/open/existing"
	chown -R "$TEST_UID:$TEST_GID" "$H/open"
	chmod 0777 "$H/open"
	chmod 0666 "$H/open/existing"
	# sb chowns $H again: keep the modes.
	run --separate-stderr sb -- sh -c "$WRITE_PROBE" sh "$H/open" /etc /usr /root /var /home
	assert_status 0
	assert_out "$(expected_write_probe "$H/open" /etc /usr /root /var /home)"
	[[ $(cat "$H/open/existing") == host ]] || fail "$H/open/existing changed"
	[[ $(find "$H/open" -mindepth 1 | wc -l) -eq 1 ]] || fail "something was created in $H/open"
}

check_writable_places() {
	mkdir "$H/w" "$H/dst" "$T/bsrc"
	printf 'in ws\n' >"$WS/old"
	printf 'host tmp\n' >"$T/host-tmp-marker"
	[[ $MODE == user ]] && chown -R "$TEST_UID:$TEST_GID" "$T/bsrc"
	run --separate-stderr sb --writable "$H/w" --bind "$T/bsrc:$H/dst" -- sh -c '
		set -e
		echo new > "$1/new" && cat "$1/old"
		echo t > /tmp/t-probe && cat /tmp/t-probe
		[ ! -e "$2/host-tmp-marker" ] && echo "host /tmp hidden"
		echo s > /dev/shm/s-probe && cat /dev/shm/s-probe
		echo w > "$3/w-probe" && echo "writable ok"
		echo b > "$4/b-probe" && echo "bind ok"' sh "$WS" "$T" "$H/w" "$H/dst"
	assert_status 0
	assert_no_stderr
	assert_out $'in ws\nt\nhost /tmp hidden\ns\nwritable ok\nbind ok'
	[[ $(cat "$WS/new") == new ]] || fail "the workspace write was not applied"
	assert_no_layers_left
	[[ ! -e /tmp/t-probe && ! -e /dev/shm/s-probe ]] || fail "/tmp or /dev/shm is not private"
	[[ $(cat "$H/w/w-probe") == w ]] || fail "--writable: the host does not see the write"
	[[ $(cat "$T/bsrc/b-probe") == b ]] || fail "--bind: the write did not reach SRC"
	[[ ! -e $H/dst/b-probe ]] || fail "--bind: the write went to the host's DST"
}

@test "fs: root can write the workspace (applied), /tmp and /dev/shm (private), --writable and --bind dirs" {
	check_writable_places
}

@test "fs: user can write the workspace (applied), /tmp and /dev/shm (private), --writable and --bind dirs" {
	sb_user
	check_writable_places
}

@test "fs: --ro-bind SRC:DST is read-only; --ro-bind DIR over a --writable parent stays read-only" {
	mkdir -p "$T/rsrc" "$H/rdst" "$H/wp/ro"
	printf 'ro data\n' >"$T/rsrc/f"
	printf 'inner\n' >"$H/wp/ro/g"
	run --separate-stderr sb --ro-bind "$T/rsrc:$H/rdst" --writable "$H/wp" --ro-bind "$H/wp/ro" \
		-- sh -c '
		cat "$1/f"
		(echo x > "$1/f") 2>&1 | sed "s/.*: //"
		(echo x > "$1/new") 2>&1 | sed "s/.*: //"
		echo p > "$2/p" && echo "parent writable"
		cat "$2/ro/g"
		rm "$2/ro/g" 2>&1 | sed "s/.*: //"' sh "$H/rdst" "$H/wp"
	assert_status 0
	assert_out $'ro data\nRead-only file system\nRead-only file system\nparent writable\ninner\nRead-only file system'
	[[ $(cat "$T/rsrc/f") == "ro data" && ! -e $T/rsrc/new ]] || fail "--ro-bind SRC changed"
	[[ $(cat "$H/wp/p") == p && $(cat "$H/wp/ro/g") == inner ]] || fail "wrong host state in $H/wp"
}

@test "fs: --tmpfs DIR is an empty, writable, private tmpfs" {
	mkdir "$H/t"
	printf 'host\n' >"$H/t/hidden"
	run --separate-stderr sb --tmpfs "$H/t" -- sh -c '
		ls -A "$1" | wc -l
		stat -f -c %T "$1"
		echo n > "$1/new" && cat "$1/new"' sh "$H/t"
	assert_status 0
	assert_no_stderr
	assert_out $'0\ntmpfs\nn'
	[[ $(ls -A "$H/t") == hidden ]] || fail "--tmpfs wrote through to the host: $(ls -A "$H/t")"
}

@test "fs: user: --tmpfs DIR is an empty, writable, private tmpfs" {
	sb_user
	mkdir "$H/t"
	printf 'host\n' >"$H/t/hidden"
	run --separate-stderr sb --tmpfs "$H/t" -- sh -c '
		ls -A "$1" | wc -l
		echo n > "$1/new" && cat "$1/new"' sh "$H/t"
	assert_status 0
	assert_out $'0\nn'
	[[ $(ls -A "$H/t") == hidden ]] || fail "--tmpfs wrote through to the host"
}

@test "fs: a workspace under /tmp is visible and writable behind the private /tmp" {
	local top
	top=$(mktemp -d /tmp/ovlbox-sbws.XXXXXX)
	SB_RM+=("$top")
	chmod 0755 "$top"
	WS=$top/ws
	mkdir "$WS"
	printf 'input\n' >"$WS/in"
	run --separate-stderr sb -- sh -c '
		cat in
		echo out > out
		ls -A /tmp
		echo t > /tmp/x && cat /tmp/x' sh
	assert_status 0
	assert_no_stderr
	# /tmp holds only the way to the workspace.
	assert_out $'input\n'"${top#/tmp/}"$'\nt'
	[[ $(cat "$WS/out") == out ]] || fail "the write was not applied"
	[[ ! -e /tmp/x ]] || fail "/tmp/x reached the host"
	assert_no_layers_left
}

@test "fs: the root is read-only, nosuid, nodev; only the expected mounts are writable" {
	mkdir "$H/w"
	run --separate-stderr sb --writable "$H/w" -- sh -c '
		awk "\$5 == \"/\" { print \$6 }" /proc/self/mountinfo
		awk "\$6 ~ /^rw/ { print \$5 }" /proc/self/mountinfo | sort -u' sh
	assert_status 0
	local root_opts=${lines[0]}
	[[ ,$root_opts, == *,ro,* && ,$root_opts, == *,nosuid,* && ,$root_opts, == *,nodev,* ]] ||
		sb_fail "the root is mounted $root_opts"
	[[ ${#lines[@]} -ge 2 ]] || sb_fail "no writable mount at all"
	# As root the device nodes are made in /dev (mknod); in a user namespace they are binds.
	# /dev itself is read-only (tests/sandbox-mounts.bats), so are /proc's protected parts.
	local expected nodes=()
	[[ $MODE == user ]] && nodes=(/dev/full /dev/null /dev/random /dev/tty /dev/urandom /dev/zero)
	expected=$(printf '%s\n' "${nodes[@]}" /dev/pts /dev/shm /proc /tmp "$WS" "$H/w" | sort -u)
	[[ $(printf '%s\n' "${lines[@]:1}") == "$expected" ]] ||
		sb_fail "writable mounts differ from:" "$expected"
}

# ---------------------------------------------------------------------------------------------
# /dev, /proc, /sys

DEV_PROBE='
ls -A /dev | tr "\n" " "; echo
stat -c "%n %F %t:%T %a" /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/pts/ptmx
for l in ptmx fd stdin stdout stderr; do echo "$l -> $(readlink /dev/$l)"; done
ls -A /dev/pts | tr "\n" " "; echo
printf abc > /dev/null && wc -c < /dev/null
head -c 4 /dev/zero | od -An -tx1 | tr -d " "
/bin/echo x 2>&1 > /dev/full | sed "s/.*: //"
head -c 16 /dev/urandom | wc -c
script -qc tty /dev/null < /dev/null | tr -d "\r"
echo shm > /dev/shm/x && cat /dev/shm/x
'

DEV_EXPECTED='fd full null ptmx pts random shm stderr stdin stdout tty urandom zero 
/dev/null character special file 1:3 666
/dev/zero character special file 1:5 666
/dev/full character special file 1:7 666
/dev/random character special file 1:8 666
/dev/urandom character special file 1:9 666
/dev/tty character special file 5:0 666
/dev/pts/ptmx character special file 5:2 666
ptmx -> pts/ptmx
fd -> /proc/self/fd
stdin -> /proc/self/fd/0
stdout -> /proc/self/fd/1
stderr -> /proc/self/fd/2
ptmx 
0
00000000
No space left on device
16
/dev/pts/0
shm'

@test "dev: root: exactly null zero full random urandom tty shm pts and the links; they work" {
	run --separate-stderr sb -- sh -c "$DEV_PROBE"
	assert_status 0
	assert_out "$DEV_EXPECTED"
}

@test "dev: user: exactly null zero full random urandom tty shm pts and the links; they work" {
	sb_user
	run --separate-stderr sb -- sh -c "$DEV_PROBE"
	assert_status 0
	assert_out "$DEV_EXPECTED"
}

PROC_PROBE='
echo /proc/[0-9]*
echo "self $$ parent $(cut -d" " -f4 /proc/$$/stat)"
tr "\0" "\n" < /proc/1/cmdline | head -2 | xargs -n1 basename
ps -e -o pid=,comm= > /tmp/ps
sed "s/^ *//" /tmp/ps
'

check_proc() {
	run --separate-stderr sb -- sh -c "$PROC_PROBE"
	assert_status 0
	# The glob is expanded by the action's own shell: only init and the action exist.
	[[ ${#lines[@]} -eq 7 ]] || sb_fail "expected 7 lines"
	[[ $(printf '%s\n' "${lines[@]:0:6}") == "/proc/1 /proc/2
self 2 parent 1
$(basename "$OVLBOX")
run
1 ovlbox
2 sh" ]] || sb_fail "expected init (ovlbox run) as pid 1 and the action as pid 2"
	[[ ${lines[6]} =~ ^[0-9]+\ ps$ ]] || sb_fail "expected ps as the only other process"
}

@test "proc: root: only the sandbox's processes; pid 1 is ovlbox's init, the action is pid 2" {
	check_proc
}

@test "proc: user: only the sandbox's processes; pid 1 is ovlbox's init, the action is pid 2" {
	sb_user
	check_proc
}

@test "sys: a fresh read-only sysfs of the private network namespace" {
	run --separate-stderr sb -- sh -c '
		ls /sys/class/net
		(echo x > /sys/probe) 2>&1 | sed "s/.*: //"
		awk "\$5 == \"/sys\" { o = \$6 } END { print o }" /proc/self/mountinfo'
	assert_status 0
	[[ ${lines[0]} == lo && ${lines[1]} == "Read-only file system" && ${#lines[@]} -eq 3 ]] ||
		sb_fail "expected only lo in /sys/class/net, and EROFS"
	[[ ,${lines[2]}, == *,ro,* ]] || sb_fail "/sys is mounted ${lines[2]}"
}

# ---------------------------------------------------------------------------------------------
# network, hostname, namespaces

NET_PROBE='
ls /sys/class/net | tr "\n" " "; echo
cat /sys/class/net/lo/flags /sys/class/net/lo/operstate
tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\n" " "; echo
ip -o -4 addr show | awk "{ print \$2, \$4 }"
'

@test "net: root: a private network namespace with only lo, up, by default and with --net private" {
	run --separate-stderr sb -- sh -c "$NET_PROBE"
	assert_status 0
	assert_out $'lo \n0x9\nunknown\nlo \nlo 127.0.0.1/8'
	run --separate-stderr sb --net private -- sh -c "$NET_PROBE"
	assert_status 0
	assert_out $'lo \n0x9\nunknown\nlo \nlo 127.0.0.1/8'
}

@test "net: user: a private network namespace with only lo, up" {
	sb_user
	run --separate-stderr sb -- sh -c "$NET_PROBE"
	assert_status 0
	assert_out $'lo \n0x9\nunknown\nlo \nlo 127.0.0.1/8'
}

@test "net: --net host sees the host's interfaces" {
	local host_ifs
	host_ifs=$(cd /sys/class/net && printf '%s ' *)
	run --separate-stderr sb --net host -- sh -c 'ls /sys/class/net | tr "\n" " "'
	assert_status 0
	assert_out "$host_ifs"
}

# Starts the one-shot loopback listener on the host: sets LPORT, LPID, LOUT.
start_listener() {
	LOUT=$T/listener.out
	"$OVLBOX_HELPERS/tcplisten" 60 >"$LOUT" 2>"$T/listener.err" 3>&- &
	LPID=$!
	SB_PIDS+=("$LPID")
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s $LOUT ]] && break
		sleep 0.05
	done
	LPORT=$(head -n1 "$LOUT")
	[[ $LPORT =~ ^[0-9]+$ ]] || fail "the listener did not start: $(cat "$T/listener.err")"
}

# connect_script: bash connects to 127.0.0.1:$1 and sends $2.
CONNECT='exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "%s" "$2" >&3 && echo sent'

check_loopback() {
	start_listener
	run --separate-stderr sb -- bash -c "$CONNECT" bash "$LPORT" private-data
	assert_status 1
	assert_out ""
	[[ $stderr == *"Connection refused"* ]] || sb_fail "expected Connection refused"
	kill -0 "$LPID" || fail "the listener is gone: it got a connection from the private netns"
	[[ $(cat "$LOUT") == "$LPORT" ]] || fail "the listener received data: $(cat "$LOUT")"

	run --separate-stderr sb --net host -- bash -c "$CONNECT" bash "$LPORT" host-data
	assert_status 0
	assert_out sent
	local rc=0
	wait "$LPID" || rc=$?
	[[ $rc -eq 0 ]] || fail "the listener exited with $rc"
	[[ $(cat "$LOUT") == "$LPORT"$'\n'host-data ]] || fail "the listener got: $(cat "$LOUT")"
}

@test "net: root: a host loopback listener is unreachable, and reachable with --net host" {
	check_loopback
}

@test "net: user: a host loopback listener is unreachable, and reachable with --net host" {
	sb_user
	check_loopback
}

HOSTNAME_PROBE='hostname; uname -n; cat /proc/sys/kernel/hostname'

@test "uts: hostname is ovlbox by default, --hostname sets it, the host's is unchanged" {
	local host mounts
	host=$(uname -n)
	mounts=$(wc -l </proc/self/mountinfo)
	run --separate-stderr sb -- sh -c "$HOSTNAME_PROBE"
	assert_status 0
	assert_out $'ovlbox\novlbox\novlbox'
	run --separate-stderr sb --hostname build-42.example -- sh -c "$HOSTNAME_PROBE"
	assert_status 0
	assert_out $'build-42.example\nbuild-42.example\nbuild-42.example'
	[[ $(uname -n) == "$host" ]] || fail "the host's hostname changed"
	[[ $(wc -l </proc/self/mountinfo) -eq $mounts ]] || fail "the host's mount table changed"
}

@test "uts: user: --hostname sets it" {
	sb_user
	run --separate-stderr sb --hostname userbox -- sh -c "$HOSTNAME_PROBE"
	assert_status 0
	assert_out $'userbox\nuserbox\nuserbox'
}

NS_PROBE='for n in mnt pid ipc uts net user; do echo "$n $(readlink /proc/self/ns/$n)"; done'

# ns_compare OUT NEWLIST: every namespace in NEWLIST differs from the host's, the others match.
ns_compare() {
	local n inside host
	for n in mnt pid ipc uts net user; do
		inside=$(printf '%s\n' "$1" | awk -v n="$n" '$1 == n { print $2 }')
		host=$(readlink "/proc/$$/ns/$n")
		[[ -n $inside ]] || sb_fail "no $n namespace line"
		if [[ " $2 " == *" $n "* ]]; then
			[[ $inside != "$host" ]] || sb_fail "$n: the host's namespace ($host)"
		else
			[[ $inside == "$host" ]] || sb_fail "$n: expected the host's $host, got $inside"
		fi
	done
}

@test "ns: root: new mnt pid ipc uts net namespaces (not user); --net host keeps the host's net" {
	run --separate-stderr sb -- sh -c "$NS_PROBE"
	assert_status 0
	ns_compare "$output" "mnt pid ipc uts net"
	run --separate-stderr sb --net host -- sh -c "$NS_PROBE"
	assert_status 0
	ns_compare "$output" "mnt pid ipc uts"
}

@test "ns: user: new user mnt pid ipc uts net namespaces, the caller is uid/gid 0 inside" {
	sb_user
	run --separate-stderr sb -- sh -c "$NS_PROBE"
	assert_status 0
	ns_compare "$output" "mnt pid ipc uts net user"
	run --separate-stderr sb -- sh -c 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map'
	assert_status 0
	assert_out "0
0
$(printf '%10s %10s %10s' 0 "$TEST_UID" 1)
$(printf '%10s %10s %10s' 0 "$TEST_GID" 1)"
}

# ---------------------------------------------------------------------------------------------
# capabilities

@test "caps: root: every set is empty, NoNewPrivs 1, Seccomp 2" {
	run --separate-stderr sb -- grep -E "$SB_STATUS_RE" /proc/self/status
	assert_status 0
	assert_out "$(expected_status_lines 0000000000000000 2)"
}

@test "caps: user: every set is empty, NoNewPrivs 1, Seccomp 2" {
	sb_user
	run --separate-stderr sb -- grep -E "$SB_STATUS_RE" /proc/self/status
	assert_status 0
	assert_out "$(expected_status_lines 0000000000000000 2)"
}

check_cap_add() {
	run --separate-stderr sb --cap-add NET_RAW -- grep -E "$SB_STATUS_RE" /proc/self/status
	assert_status 0
	assert_out "$(expected_status_lines 0000000000002000 2)"
	# Repeatable; any spelling.
	run --separate-stderr sb --cap-add cap_net_raw --cap-add CHOWN -- \
		grep -E "$SB_STATUS_RE" /proc/self/status
	assert_status 0
	assert_out "$(expected_status_lines 0000000000002001 2)"
}

@test "caps: root: --cap-add NET_RAW keeps exactly CAP_NET_RAW in all five sets; repeatable" {
	check_cap_add
}

@test "caps: user: --cap-add NET_RAW keeps exactly CAP_NET_RAW in all five sets; repeatable" {
	sb_user
	check_cap_add
}

@test "caps: root: --cap-add ALL keeps every capability the caller has" {
	local mine
	mine=$(awk '$1 == "CapPrm:" { print $2 }' /proc/self/status)
	run --separate-stderr sb --cap-add ALL -- grep -E "$SB_STATUS_RE" /proc/self/status
	assert_status 0
	assert_out "$(expected_status_lines "$mine" 2)"
}

@test "caps: user: --cap-add ALL keeps every capability of the user namespace" {
	sb_user
	local last full
	last=$(cat /proc/sys/kernel/cap_last_cap)
	full=$(printf '%016x' $(((1 << (last + 1)) - 1)))
	run --separate-stderr sb --cap-add all -- grep -E "$SB_STATUS_RE" /proc/self/status
	assert_status 0
	assert_out "$(expected_status_lines "$full" 2)"
}

# ---------------------------------------------------------------------------------------------
# seccomp

# The deny list of issue 4, each to be answered EPERM by the default profile.
ISSUE_DENY=(mount umount2 pivot_root chroot ptrace process_vm_readv process_vm_writev
	kexec_load kexec_file_load bpf perf_event_open keyctl add_key request_key init_module
	finit_module delete_module unshare setns swapon swapoff reboot syslog acct settimeofday
	clock_settime open_by_handle_at userfaultfd iopl ioperm quotactl)
CLONE_NS=(CLONE_NEWNS CLONE_NEWCGROUP CLONE_NEWUTS CLONE_NEWIPC CLONE_NEWUSER CLONE_NEWPID
	CLONE_NEWNET)

check_default_deny() {
	local probe
	probe=$(sb_tool syscall_probe)
	run --separate-stderr sb "$@" -- "$probe"
	assert_status 0
	assert_no_stderr
	local name c
	for name in "${ISSUE_DENY[@]}"; do
		case $(uname -m) in x86_64 | i?86) ;; *) [[ $name == iop* ]] && continue ;; esac
		[[ $(grep -c "^$name " <<<"$output") -eq 1 ]] || sb_fail "no single line for $name"
		grep -qx "$name EPERM" <<<"$output" || sb_fail "$name is not EPERM"
	done
	for c in "${CLONE_NS[@]}"; do
		grep -qx "clone($c) EPERM" <<<"$output" || sb_fail "clone($c) is not EPERM"
	done
	# Every other line too (the lead's additions: the new mount API, quotactl_fd...), and
	# clone3 is ENOSYS so libc falls back to clone.
	local bad
	bad=$(grep -vE '^[a-z0-9_]+(\(CLONE_NEW[A-Z]+\))? EPERM$' <<<"$output" | grep -vx 'clone3 ENOSYS' || true)
	[[ -z $bad ]] || sb_fail "lines not EPERM: $bad"
}

@test "seccomp: root: default profile: every call of the deny list and clone(CLONE_NEW*) get EPERM" {
	check_default_deny
}

@test "seccomp: user: default profile: every call of the deny list and clone(CLONE_NEW*) get EPERM" {
	sb_user
	check_default_deny
}

@test "seccomp: --seccomp default is the built-in profile" {
	check_default_deny --seccomp default
}

NONE_PROBE='grep "^Seccomp:" /proc/self/status
"$1" | grep -E "^(ptrace|chroot|setns|unshare|settimeofday|process_vm_readv|clone\(CLONE_NEWNS\)) "'
NONE_EXPECTED=$'Seccomp:\t0
chroot ENOENT
ptrace ESRCH
process_vm_readv OK
unshare OK
setns EBADF
settimeofday EINVAL
clone(CLONE_NEWNS) EINVAL'

@test "seccomp: root: --seccomp none: no filter, the calls reach the kernel" {
	local probe
	probe=$(sb_tool syscall_probe)
	run --separate-stderr sb --seccomp none -- sh -c "$NONE_PROBE" sh "$probe"
	assert_status 0
	assert_out "$NONE_EXPECTED"
}

@test "seccomp: user: --seccomp none: no filter, the calls reach the kernel" {
	sb_user
	local probe
	probe=$(sb_tool syscall_probe)
	run --separate-stderr sb --seccomp none -- sh -c "$NONE_PROBE" sh "$probe"
	assert_status 0
	assert_out "$NONE_EXPECTED"
}

CONTAINERS_PROFILE=/usr/share/containers/seccomp.json

require_containers_profile() {
	[[ -r $CONTAINERS_PROFILE ]] ||
		skip "$CONTAINERS_PROFILE is missing (Debian package golang-github-containers-common)"
}

CC_PROBE='grep "^Seccomp:" /proc/self/status
"$1" | grep -E "^(bpf|kexec_load|add_key|unshare|chroot) "
"$1" --netlink-audit'

@test "seccomp: --seccomp $CONTAINERS_PROFILE loads and is enforced" {
	require_containers_profile
	local probe
	probe=$(sb_tool syscall_probe)
	run --separate-stderr sb --seccomp "$CONTAINERS_PROFILE" -- sh -c "$CC_PROBE" sh "$probe"
	assert_status 0
	assert_no_stderr
	# kexec_load, bpf, chroot: errnoRet 1 (bpf/chroot only without CAP_SYS_ADMIN/SYS_CHROOT);
	# add_key: not allowed, defaultErrnoRet 38; unshare: allowed (the default profile denies it);
	# an audit netlink socket: errnoRet 22 by argument.
	assert_out $'Seccomp:\t2
chroot EPERM
kexec_load EPERM
bpf EPERM
add_key ENOSYS
unshare OK
socket EINVAL'
}

@test "seccomp: $CONTAINERS_PROFILE with --cap-add SYS_ADMIN and SYS_CHROOT: its excludes.caps rules drop out" {
	require_containers_profile
	local probe
	probe=$(sb_tool syscall_probe)
	run --separate-stderr sb --cap-add SYS_ADMIN --cap-add SYS_CHROOT \
		--seccomp "$CONTAINERS_PROFILE" -- sh -c "$CC_PROBE" sh "$probe"
	assert_status 0
	assert_out $'Seccomp:\t2
chroot ENOENT
kexec_load EPERM
bpf EINVAL
add_key ENOSYS
unshare OK
socket EINVAL'
}

@test "seccomp: user: --seccomp $CONTAINERS_PROFILE loads and is enforced" {
	require_containers_profile
	sb_user
	local probe
	probe=$(sb_tool syscall_probe)
	run --separate-stderr sb --seccomp "$CONTAINERS_PROFILE" -- sh -c "$CC_PROBE" sh "$probe"
	assert_status 0
	assert_out $'Seccomp:\t2
chroot EPERM
kexec_load EPERM
bpf EPERM
add_key ENOSYS
unshare OK
socket EINVAL'
}

@test "seccomp: a profile file's rules apply; an unknown syscall name is skipped with one warning" {
	local probe
	probe=$(sb_tool syscall_probe)
	cat >"$T/p.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["no_such_call_xyz", "chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
              {"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7}]}
EOF
	run --separate-stderr sb --seccomp "$T/p.json" -- sh -c '"$1" | grep -E "^(chroot|unshare|mount|bpf) "' sh "$probe"
	assert_status 0
	# chroot/unshare as the profile says; mount and bpf allowed by the file (no default deny).
	assert_out $'mount ENOENT\nchroot EACCES\nbpf EINVAL\nunshare E2BIG'
	assert_one_err_line warning syscalls[0].names[0] no_such_call_xyz
}

# bad_profile JSON FIELD: the profile is refused: 125, one line naming FIELD, nothing ran.
bad_profile() {
	printf '%s\n' "$1" >"$T/bad.json"
	run --separate-stderr sb --seccomp "$T/bad.json" -- sh -c 'echo ran > ran'
	assert_status 125
	assert_out ""
	assert_one_err_line "$T/bad.json" "$2"
	[[ ! -e $WS/ran ]] || fail "the action ran"
	assert_no_layers_left
}

@test "seccomp: malformed profiles exit 125 with one line naming the field" {
	bad_profile '{"defaultAction": "SCMP_ACT_FOO", "syscalls": []}' 'defaultAction: unknown action "SCMP_ACT_FOO"'
	bad_profile '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}, {"names": ["chroot"], "action": "BOGUS"}]}' 'syscalls[1].action'
	bad_profile '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}' 'syscalls[0].args[0].index'
	bad_profile '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_NOPE"}]}]}' 'syscalls[0].args[0].op'
	bad_profile '{"syscalls": []}' 'defaultAction'
	bad_profile '{"defaultAction": ' 'JSON'
}

@test "seccomp: a missing profile file exits 125 with one line" {
	run --separate-stderr sb --seccomp "$T/missing.json" -- true
	assert_status 125
	assert_one_err_line "$T/missing.json" "No such file or directory"
	assert_no_layers_left
}

# ---------------------------------------------------------------------------------------------
# build tools under the default profile

check_build() {
	printf '#include <stdio.h>\nint main(void) { puts("hello, sandbox"); return 0; }\n' >"$WS/hello.c"
	printf 'hello: hello.c\n\t$(CC) -O2 -o $@ hello.c\n\nclean:\n\trm -f hello\n' >"$WS/Makefile"
	run --separate-stderr sb -- sh -c 'make -s && ./hello && python3 -c "import subprocess; print(subprocess.run([\"./hello\"], capture_output=True).stdout.decode().strip(), \"(python)\")"'
	assert_status 0
	assert_no_stderr
	assert_out $'hello, sandbox\nhello, sandbox (python)'
	[[ -x $WS/hello && $("$WS/hello") == "hello, sandbox" ]] || fail "the binary was not applied"
	assert_no_layers_left
}

@test "build: root: cc, make and python3 work under the default profile" {
	check_build
}

@test "build: user: cc, make and python3 work under the default profile" {
	sb_user
	check_build
}

# ---------------------------------------------------------------------------------------------
# processes: no survivors, timeout, signals

check_no_survivor() {
	local tag="31337.$$$RANDOM" start end
	start=$(now_ms)
	run --separate-stderr sb -- sh -c '
		setsid sh -c "trap \"\" TERM HUP INT; sleep $1 & echo \$! > /tmp/gpid" </dev/null >/dev/null 2>&1 &
		i=0
		while [ ! -s /tmp/gpid ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
		g=$(cat /tmp/gpid)
		echo "$g" > gpid
		tr "\0" " " < /proc/$g/cmdline; echo
		[ "$(cut -d" " -f6 /proc/$g/stat)" != "$(cut -d" " -f6 /proc/$$/stat)" ] && echo "own session"' sh "$tag"
	end=$(now_ms)
	assert_status 0
	assert_out "sleep $tag "$'\nown session'
	[[ -s $WS/gpid ]] || fail "the grandchild's pid was not recorded"
	local left
	left=$(pgrep -f "^sleep $tag\$" || true)
	if [[ -n $left ]]; then
		read -r -a more <<<"$left"
		SB_PIDS+=("${more[@]}")
		fail "the daemonized grandchild survived ovlbox run: host pid(s) $left"
	fi
	[[ $((end - start)) -lt 5000 ]] || fail "ovlbox run took $((end - start)) ms"
}

@test "proc: root: a daemonized grandchild is gone when ovlbox run returns" {
	check_no_survivor
}

@test "proc: user: a daemonized grandchild is gone when ovlbox run returns" {
	sb_user
	check_no_survivor
}

check_kill_after() {
	local tag="4242.$$$RANDOM" start end
	start=$(now_ms)
	run --separate-stderr sb --timeout 1 --kill-after 1 --stats "$T/stats.json" -- \
		sh -c 'trap "" TERM; sleep "$1"; echo not killed' sh "$tag"
	end=$(now_ms)
	assert_status 124
	assert_out ""
	local ms=$((end - start))
	[[ $ms -ge 1900 && $ms -lt 3500 ]] || sb_fail "took $ms ms, expected about 2 s"
	stats_schema_ok "$T/stats.json"
	[[ $(stats_get "$T/stats.json" '[.exit_code, .timed_out, .signal]') == '[124,true,"SIGKILL"]' ]] ||
		fail "stats: $(cat "$T/stats.json")"
	assert_no_layers_left
	local left
	left=$(pgrep -f "^sleep $tag\$" || true)
	if [[ -n $left ]]; then
		read -r -a more <<<"$left"
		SB_PIDS+=("${more[@]}")
		fail "the action survived: host pid(s) $left"
	fi
}

@test "timeout: root: --timeout 1 --kill-after 1 on an action that ignores SIGTERM: 124 in ~2 s" {
	check_kill_after
}

@test "timeout: user: --timeout 1 --kill-after 1 on an action that ignores SIGTERM: 124 in ~2 s" {
	sb_user
	check_kill_after
}

@test "timeout: a cooperative action stops at SIGTERM: 124 promptly, signal SIGTERM" {
	local start end
	start=$(now_ms)
	run --separate-stderr sb --timeout 1 --stats "$T/stats.json" -- sh -c '
		trap "echo got TERM > /tmp/x; exit 9" TERM
		while :; do sleep 0.05; done'
	end=$(now_ms)
	assert_status 124
	local ms=$((end - start))
	[[ $ms -ge 900 && $ms -lt 2500 ]] || sb_fail "took $ms ms, expected about 1 s"
	stats_schema_ok "$T/stats.json"
	[[ $(stats_get "$T/stats.json" '[.exit_code, .timed_out, .signal]') == '[124,true,null]' ]] ||
		fail "stats: $(cat "$T/stats.json")"
	# Killed by the signal itself.
	run --separate-stderr sb --timeout 0.5 --stats "$T/stats.json" -- sleep 30
	assert_status 124
	[[ $(stats_get "$T/stats.json" '[.exit_code, .timed_out, .signal]') == '[124,true,"SIGTERM"]' ]] ||
		fail "stats: $(cat "$T/stats.json")"
}

@test "timeout: an action that finishes in time is unaffected" {
	run --separate-stderr sb --timeout 5 --kill-after 1 --stats "$T/stats.json" -- sh -c 'sleep 0.2; exit 4'
	assert_status 4
	[[ $(stats_get "$T/stats.json" '[.exit_code, .timed_out, .signal]') == '[4,false,null]' ]] ||
		fail "stats: $(cat "$T/stats.json")"
}

@test "signals: TERM INT HUP QUIT USR1 USR2 sent to ovlbox reach the action" {
	mkdir "$H/comm"
	local sig pid rc
	for sig in TERM INT HUP QUIT USR1 USR2; do
		rm -f "$H/comm/"*
		"$OVLBOX" run --workspace "$WS" --bind "$H/comm:$H/comm" -- sh -c '
			trap "echo got-$2 > $1/got; exit 7" "$2"
			echo ready > "$1/ready"
			while :; do sleep 0.05; done' sh "$H/comm" "$sig" >"$T/out" 2>"$T/err" 3>&- &
		pid=$!
		SB_PIDS+=("$pid")
		wait_for_file "$H/comm/ready"
		kill -s "$sig" "$pid"
		rc=0
		wait "$pid" || rc=$?
		[[ $rc -eq 7 ]] || fail "SIG$sig: ovlbox exited $rc (stderr: $(cat "$T/err"))"
		[[ $(cat "$H/comm/got") == "got-$sig" ]] || fail "SIG$sig did not reach the action"
	done
}

# ---------------------------------------------------------------------------------------------
# environment, cwd, rlimits

@test "env: --clear-env --env gives exactly the given variables; a later --env wins" {
	run --separate-stderr sb --clear-env --env A=1 --env B='two words' --env A=3 -- /usr/bin/env
	assert_status 0
	assert_out $'A=3\nB=two words'
	run --separate-stderr sb --clear-env -- /usr/bin/env
	assert_status 0
	assert_out ""
}

@test "env: without --clear-env the environment is kept and --env overrides or adds" {
	OVLBOX_SB_KEEP=kept HOME=/host-home run --separate-stderr sb --env HOME=/custom --env NEWV=n=v -- \
		sh -c 'echo "$OVLBOX_SB_KEEP $HOME $NEWV"'
	assert_status 0
	assert_out "kept /custom n=v"
}

@test "cwd: the workspace by default; --cwd DIR; a missing --cwd exits 125 naming it" {
	mkdir "$WS/sub"
	run --separate-stderr sb -- pwd
	assert_status 0
	assert_out "$WS"
	run --separate-stderr sb --cwd "$WS/sub" -- pwd
	assert_status 0
	assert_out "$WS/sub"
	run --separate-stderr sb --cwd /usr/share -- pwd
	assert_status 0
	assert_out /usr/share
	run --separate-stderr sb --cwd /nonexistent-ovlbox -- sh -c 'echo ran > /tmp/x; echo ran'
	assert_status 125
	assert_out ""
	assert_one_err_line --cwd /nonexistent-ovlbox
}

@test "rlimit: root: nofile=64 shows in ulimit -n (hard kept); SOFT:HARD; fsize is enforced" {
	local hard
	hard=$(ulimit -Hn)
	run --separate-stderr sb --rlimit nofile=64 -- sh -c 'ulimit -n; ulimit -Hn'
	assert_status 0
	assert_out $'64\n'"$hard"
	run --separate-stderr sb --rlimit NOFILE=64:128 --rlimit core=0:0 -- sh -c 'ulimit -n; ulimit -Hn; ulimit -c; ulimit -Hc'
	assert_status 0
	assert_out $'64\n128\n0\n0'
	run --separate-stderr sb --rlimit fsize=1024 -- sh -c 'head -c 4096 /dev/zero > big; echo "status $?"; stat -c %s big'
	assert_status 0
	assert_out $'status 153\n1024'
}

@test "rlimit: user: lowering works without CAP_SYS_RESOURCE; raising the hard limit exits 125" {
	sb_user
	local hard
	hard=$(as_user sh -c 'ulimit -Hn')
	run --separate-stderr sb --rlimit nofile=64 -- sh -c 'ulimit -n; ulimit -Hn'
	assert_status 0
	assert_out $'64\n'"$hard"
	run --separate-stderr sb --rlimit nofile=64:128 -- sh -c 'ulimit -n; ulimit -Hn'
	assert_status 0
	assert_out $'64\n128'
	if [[ $hard != unlimited ]]; then
		run --separate-stderr sb --rlimit "nofile=64:$((hard + 1))" -- sh -c 'echo ran'
		assert_status 125
		assert_out ""
		assert_one_err_line --rlimit "nofile=64:$((hard + 1))"
	fi
}

# ---------------------------------------------------------------------------------------------
# exit codes and --stats

@test "exit codes: the action's status, 128+N for signal N, 126 not executable, 127 not found" {
	run --separate-stderr sb -- sh -c 'exit 3'
	assert_status 3
	run --separate-stderr sb -- sh -c 'kill -TERM $$'
	assert_status 143
	printf 'echo hi\n' >"$WS/noexec.sh"
	chmod 0644 "$WS/noexec.sh"
	run --separate-stderr sb -- ./noexec.sh
	assert_status 126
	assert_one_err_line noexec.sh
	run -127 --separate-stderr sb -- ovlbox-no-such-command
	assert_status 127
	assert_one_err_line ovlbox-no-such-command
	assert_no_layers_left
}

@test "stats: exit 3: the documented schema, exit_code 3, signal null, applied true" {
	run --separate-stderr sb --stats "$T/stats.json" -- sh -c 'exit 3'
	assert_status 3
	stats_schema_ok "$T/stats.json"
	[[ $(stats_get "$T/stats.json" '[.exit_code, .signal, .timed_out, .applied, .changes]') == \
		'[3,null,false,true,{"added":0,"modified":0,"deleted":0,"bytes":0}]' ]] ||
		fail "stats: $(cat "$T/stats.json")"
}

# A --stats file that cannot be written is found before the run, whose outcome it would lose.
@test "stats: a missing directory: 125, one line, nothing run, nothing changed" {
	printf 'aaa\n' >"$WS/a"
	run --separate-stderr sb --stats "$T/no-such-dir/stats.json" -- sh -c 'echo x >ran; rm a'
	assert_status 125
	assert_one_err_line "--stats $T/no-such-dir/stats.json: directory $T/no-such-dir: No such file or directory"
	[[ ! -e $WS/ran && $(cat "$WS/a") == aaa ]] || fail "the action ran"
	run --separate-stderr sb --stats "$T" -- sh -c 'echo x >ran'
	assert_status 125
	assert_one_err_line "--stats $T: Is a directory"
	[[ ! -e $WS/ran ]] || fail "the action ran"
	assert_no_layers_left
}

@test "stats: user: an unwritable file or directory: 125, one line, nothing run" {
	sb_user
	mkdir "$T/ro"
	chmod 0555 "$T/ro"
	run --separate-stderr sb --stats "$T/ro/stats.json" -- sh -c 'echo x >ran'
	assert_status 125
	assert_one_err_line "--stats $T/ro/stats.json: directory $T/ro: Permission denied"
	printf '{}\n' >"$T/mine.json"
	chmod 0444 "$T/mine.json"
	run --separate-stderr sb --stats "$T/mine.json" -- sh -c 'echo x >ran'
	assert_status 125
	assert_one_err_line "--stats $T/mine.json: Permission denied"
	[[ ! -e $WS/ran && $(cat "$T/mine.json") == '{}' ]] || fail "the action ran or the file changed"
	assert_no_layers_left
}

@test "stats: a FIFO is written after the run (not opened before it)" {
	mkfifo "$T/stats.fifo"
	sb --stats "$T/stats.fifo" -- sh -c 'exit 5' 2>"$T/err" &
	local pid=$! st=0
	# The reader comes only now: an open of the FIFO before the run would block until it does.
	cat "$T/stats.fifo" >"$T/stats.json"
	wait "$pid" || st=$?
	[[ $st -eq 5 && ! -s $T/err ]] || fail "exit $st, stderr: $(cat "$T/err")"
	stats_schema_ok "$T/stats.json"
	[[ $(stats_get "$T/stats.json" .exit_code) == 5 ]] || fail "stats: $(cat "$T/stats.json")"
}

@test "stats: kill -9 \$\$: exit_code 137, signal SIGKILL" {
	run --separate-stderr sb --stats "$T/stats.json" -- sh -c 'kill -9 $$'
	assert_status 137
	stats_schema_ok "$T/stats.json"
	[[ $(stats_get "$T/stats.json" '[.exit_code, .signal, .timed_out]') == '[137,"SIGKILL",false]' ]] ||
		fail "stats: $(cat "$T/stats.json")"
}

@test "stats: times and memory are measured" {
	run --separate-stderr sb --stats "$T/stats.json" -- sh -c '
		i=0; while [ $i -lt 200000 ]; do i=$((i + 1)); done
		sleep 0.3
		python3 -c "b = b\"x\" * (64 << 20)"'
	assert_status 0
	stats_schema_ok "$T/stats.json"
	local wall cpu rss
	wall=$(stats_get "$T/stats.json" .wall_ms)
	cpu=$(stats_get "$T/stats.json" '.user_ms + .sys_ms')
	rss=$(stats_get "$T/stats.json" .max_rss_kb)
	[[ $wall -ge 300 && $wall -lt 10000 ]] || fail "wall_ms $wall"
	[[ $cpu -ge 20 && $cpu -le $wall ]] || fail "user_ms + sys_ms $cpu (wall $wall)"
	# 64 MiB touched by one process of the action.
	[[ $rss -ge 65536 && $rss -lt 1048576 ]] || fail "max_rss_kb $rss"
}

KNOWN_CHANGES='printf 12345 > new1; printf 1234567890 > d/new2; printf 1234567 > a; rm b; rm d/x'

make_change_fixture() {
	mkdir "$WS/d"
	printf 'aaa\n' >"$WS/a"
	printf 'bbb\n' >"$WS/b"
	printf 'ccc\n' >"$WS/c"
	printf 'x' >"$WS/d/x"
}

@test "stats: changes count a known change set (apply), applied true" {
	make_change_fixture
	run --separate-stderr sb --stats "$T/stats.json" -- sh -c "$KNOWN_CHANGES"
	assert_status 0
	stats_schema_ok "$T/stats.json"
	# added new1 d/new2; modified a (d is not: only its entries changed); deleted b d/x;
	# bytes = 5 + 10 + 7 (files added or replaced).
	[[ $(stats_get "$T/stats.json" '[.changes, .applied]') == \
		'[{"added":2,"modified":1,"deleted":2,"bytes":22},true]' ]] ||
		fail "stats: $(cat "$T/stats.json")"
	[[ $(cat "$WS/a") == 1234567 && ! -e $WS/b && $(cat "$WS/d/new2") == 1234567890 ]] ||
		fail "the changes were not applied"
}

@test "stats: --on-exit discard counts the same changes, applied false, workspace unchanged" {
	make_change_fixture
	run --separate-stderr sb --on-exit discard --stats "$T/stats.json" -- sh -c "$KNOWN_CHANGES"
	assert_status 0
	stats_schema_ok "$T/stats.json"
	[[ $(stats_get "$T/stats.json" '[.changes, .applied]') == \
		'[{"added":2,"modified":1,"deleted":2,"bytes":22},false]' ]] ||
		fail "stats: $(cat "$T/stats.json")"
	[[ $(cat "$WS/a") == aaa && -e $WS/b && ! -e $WS/new1 ]] || fail "the workspace changed"
	assert_no_layers_left
}

@test "stats: user: the schema and the change counts" {
	sb_user
	make_change_fixture
	run --separate-stderr sb --stats "$T/stats.json" -- sh -c "$KNOWN_CHANGES; exit 5"
	assert_status 5
	stats_schema_ok "$T/stats.json"
	[[ $(stats_get "$T/stats.json" '[.exit_code, .signal, .changes, .applied]') == \
		'[5,null,{"added":2,"modified":1,"deleted":2,"bytes":22},true]' ]] ||
		fail "stats: $(cat "$T/stats.json")"
}

@test "stats: written for ovlbox failures (125) and a missing command (127)" {
	run --separate-stderr sb --cwd /nonexistent-ovlbox --stats "$T/stats.json" -- true
	assert_status 125
	stats_schema_ok "$T/stats.json"
	[[ $(stats_get "$T/stats.json" '[.exit_code, .signal, .timed_out, .applied]') == '[125,null,false,false]' ]] ||
		fail "stats: $(cat "$T/stats.json")"
	run -127 --separate-stderr sb --stats "$T/stats.json" -- ovlbox-no-such-command
	assert_status 127
	stats_schema_ok "$T/stats.json"
	[[ $(stats_get "$T/stats.json" '[.exit_code, .signal, .timed_out]') == '[127,null,false]' ]] ||
		fail "stats: $(cat "$T/stats.json")"
}

# ---------------------------------------------------------------------------------------------
# bad flags: 125, one line on stderr naming the flag, nothing ran, nothing left behind

# bad_flag FLAGTEXT ARG...: `ovlbox run ARG... -- CMD` is refused.
bad_flag() {
	local flag=$1
	shift
	run --separate-stderr sb "$@" -- sh -c 'echo ran > ran; echo ran'
	assert_status 125
	assert_out ""
	assert_one_err_line "$flag"
	[[ ! -e $WS/ran ]] || fail "the action ran"
	assert_no_layers_left
}

@test "bad flags: --net foo" {
	bad_flag --net --net foo
}

@test "bad flags: --rlimit bogus=1" {
	bad_flag --rlimit --rlimit bogus=1
}

@test "bad flags: --timeout -1" {
	bad_flag --timeout --timeout -1
}

@test "bad flags: --bind relative" {
	bad_flag --bind --bind relative
}

@test "bad flags: relative --ro-bind, --tmpfs, --writable and a relative --bind DST" {
	bad_flag --ro-bind --ro-bind relative
	bad_flag --tmpfs --tmpfs relative
	bad_flag --writable --writable relative
	bad_flag --bind --bind "$H:relative"
}

@test "bad flags: --kill-after, --hostname, --cap-add, --env, --rlimit values, --seccomp" {
	bad_flag --kill-after --kill-after 0
	bad_flag --kill-after --kill-after abc
	bad_flag --timeout --timeout 1x
	bad_flag --hostname --hostname=
	bad_flag --hostname --hostname "$(printf 'h%.0s' {1..65})"
	bad_flag --cap-add --cap-add NOPE
	bad_flag --env --env NOEQUALS
	bad_flag --rlimit --rlimit nofile=abc
	bad_flag --rlimit --rlimit nofile=10:5
	bad_flag --rlimit --rlimit nofile
	bad_flag --on-exit --on-exit foo
	bad_flag --frobnicate --frobnicate
}

@test "bad flags: a missing mount point or bind source exits 125 naming it" {
	bad_flag /nonexistent-ovlbox-dst --bind "$H:/nonexistent-ovlbox-dst"
	bad_flag "$H/missing-src" --ro-bind "$H/missing-src:$H"
	bad_flag "$H/missing-dir" --tmpfs "$H/missing-dir"
}

@test "help: ovlbox run --help lists every flag of issue 4" {
	run --separate-stderr "$OVLBOX" run --help
	assert_status 0
	local f
	for f in --workspace --hostname --net --bind --ro-bind --tmpfs --writable --cap-add --seccomp \
		--timeout --kill-after --env --clear-env --cwd --rlimit --stats; do
		[[ $output == *"  $f "* ]] || sb_fail "--help does not list $f"
	done
}
