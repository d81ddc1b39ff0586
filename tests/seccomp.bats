#!/usr/bin/env bats
# seccomp profiles and capability dropping, without the sandbox: the filters are installed by
# tests/helpers/seccomp_exec and the capabilities dropped by tests/helpers/caps_exec, with the
# same lib/ calls `ovlbox run` makes; tests/helpers/syscall_probe makes the system calls.
#
# Env (set by tests/run.sh): OVLBOX_HELPERS (build/<variant>/tests/helpers).

# Scripts in single quotes run under the filter, not in this shell; bats' run sets status in
# each test's subshell on purpose.
# shellcheck disable=SC2016,SC2030,SC2031

: "${OVLBOX_HELPERS:?set OVLBOX_HELPERS (tests/run.sh does)}"
SECCOMP_EXEC="$OVLBOX_HELPERS/seccomp_exec"
CAPS_EXEC="$OVLBOX_HELPERS/caps_exec"
PROBE="$OVLBOX_HELPERS/syscall_probe"
CC_PROFILE=/usr/share/containers/seccomp.json

setup() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/ovlbox-seccomp.XXXXXX")
}

teardown() {
	[[ -n ${T:-} ]] && rm -rf "$T"
}

fail_output() {
	printf '%s\n' "$*" "--- output ($status):" "$output" >&2
	return 1
}

# assert_output_is EXPECTED: $output equals EXPECTED exactly (a diff otherwise).
assert_output_is() {
	if [[ $output != "$1" ]]; then
		diff -u <(printf '%s\n' "$1") <(printf '%s\n' "$output") >&2 || true
		fail_output "output differs (- expected, + got)"
	fi
}

require_root() {
	[[ $(id -u) -eq 0 ]] || skip "needs root (the probes' unfiltered results assume root)"
}

require_x86_64() {
	[[ $(uname -m) == x86_64 ]] || skip "the expected tables are for x86_64"
}

# The probe's names, in order, on x86_64 (umount does not exist there).
probe_names() {
	printf '%s\n' mount umount2 pivot_root chroot ptrace process_vm_readv process_vm_writev \
		kexec_load kexec_file_load bpf perf_event_open keyctl add_key request_key \
		init_module finit_module delete_module unshare setns swapon swapoff reboot syslog \
		acct settimeofday clock_settime open_by_handle_at userfaultfd iopl ioperm quotactl \
		fsopen fsconfig fsmount move_mount open_tree fspick mount_setattr open_tree_attr \
		quotactl_fd 'clone(CLONE_NEWNS)' 'clone(CLONE_NEWCGROUP)' 'clone(CLONE_NEWUTS)' \
		'clone(CLONE_NEWIPC)' 'clone(CLONE_NEWUSER)' 'clone(CLONE_NEWPID)' \
		'clone(CLONE_NEWNET)' clone3
}

# ---------------------------------------------------------------------------------------------
# the built-in default profile

@test "default profile: every deny-list system call fails with EPERM, clone3 with ENOSYS" {
	require_x86_64
	run "$SECCOMP_EXEC" default -- "$PROBE"
	[[ $status -eq 0 ]] || fail_output "probe failed"
	assert_output_is "$(probe_names | sed -e 's/$/ EPERM/' -e 's/^clone3 EPERM$/clone3 ENOSYS/')"
}

@test "without a filter, the same probes succeed or fail otherwise (never EPERM)" {
	require_x86_64
	require_root
	run "$PROBE"
	[[ $status -eq 0 ]] || fail_output "probe failed"
	[[ $(cut -d' ' -f1 <<<"$output") == "$(probe_names)" ]] || fail_output "names differ"
	if grep -E ' (EPERM|NOPROBE)$' <<<"$output"; then
		fail_output "a probe fails with EPERM without any filter: it proves nothing"
	fi
	# a few that are the same on every kernel: clone's flag combination and clone3's size
	[[ $output == *$'\nclone(CLONE_NEWUSER) EINVAL\n'* ]] || fail_output "clone"
	[[ $output == *$'\nclone3 EINVAL' ]] || fail_output "clone3"
	[[ $output == *$'\nunshare OK\n'* ]] || fail_output "unshare(0)"
}

@test "default profile: a 32-bit (int 0x80) or x32 system call kills the process" {
	require_x86_64
	run "$PROBE" --int80
	[[ $status -eq 0 && $output == "int80-getpid OK" ]] ||
		skip "this kernel has no IA-32 emulation ($output)"
	run "$SECCOMP_EXEC" default -- "$PROBE" --int80
	[[ $status -eq 159 && -z $output ]] || fail_output "int 0x80 not killed by SIGSYS"
	run "$SECCOMP_EXEC" default -- "$PROBE" --x32
	[[ $status -eq 159 && -z $output ]] || fail_output "x32 not killed by SIGSYS"
	run "$PROBE" --x32
	[[ $status -eq 0 ]] || fail_output "x32 probe without filter"
}

@test "default profile: the filter is installed with no_new_privs, 'none' installs nothing" {
	run "$SECCOMP_EXEC" default -- grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status
	assert_output_is $'NoNewPrivs:\t1\nSeccomp:\t2'
	run "$SECCOMP_EXEC" none -- grep -E '^Seccomp:' /proc/self/status
	assert_output_is $'Seccomp:\t0'
	run "$SECCOMP_EXEC" none -- "$PROBE" --personality 0xffffffff
	assert_output_is "personality OK"
}

@test "default profile: gcc compiles and make runs; shells, fork/exec, pipes, python work" {
	command -v gcc >/dev/null && command -v make >/dev/null || skip "needs gcc and make"
	mkdir "$T/proj"
	cat >"$T/proj/hello.c" <<-'EOF'
		#include <stdio.h>
		#include "msg.h"
		int main(void) { printf("%s\n", MSG); return 0; }
	EOF
	printf '#define MSG "hello from make"\n' >"$T/proj/msg.h"
	printf 'hello: hello.o\n\t$(CC) -o $@ $^\nhello.o: hello.c msg.h\n\t$(CC) -O2 -c -o $@ $<\n' \
		>"$T/proj/Makefile"
	run "$SECCOMP_EXEC" default -- make -C "$T/proj" -j2 CC=gcc
	[[ $status -eq 0 ]] || fail_output "make failed"
	run "$SECCOMP_EXEC" default -- "$T/proj/hello"
	assert_output_is "hello from make"
	run "$SECCOMP_EXEC" default -- sh -c \
		'x=$(echo a | tr a b); (sleep 0 & wait); printf "%s\n" "$x" | cat; exec env true'
	[[ $status -eq 0 ]] || fail_output "shell"
	assert_output_is "b"
	local py=/usr/bin/python3
	[[ -x $py ]] || py=$(command -v python3) || skip "no python3"
	run "$SECCOMP_EXEC" default -- "$py" -c \
		'import subprocess, threading, tempfile, os; t = threading.Thread(target=lambda: None); t.start(); t.join(); print(subprocess.run(["echo", "py"], capture_output=True, text=True).stdout.strip(), os.getppid() > 0)'
	assert_output_is "py True"
}

# ---------------------------------------------------------------------------------------------
# containers-common's profile (Docker format: archMap, includes/excludes, errnoRet, args)

@test "containers-common seccomp.json loads and is enforced as it says" {
	[[ -r $CC_PROFILE ]] || skip "$CC_PROFILE missing (apt-get install golang-github-containers-common)"
	require_x86_64
	require_root
	run "$SECCOMP_EXEC" "$CC_PROFILE" -- sh -c 'echo loaded'
	assert_output_is "loaded"
	run "$SECCOMP_EXEC" "$CC_PROFILE" -- "$PROBE"
	[[ $status -eq 0 ]] || fail_output "probe failed"
	local line
	# denied outright (errnoRet 1), denied unless a capability is kept (excludes.caps), not in
	# the allow-list at all (defaultErrnoRet 38 = ENOSYS), allowed
	for line in 'kexec_load EPERM' 'swapon EPERM' 'userfaultfd EPERM' 'chroot EPERM' \
		'bpf EPERM' 'quotactl EPERM' 'acct EPERM' 'add_key ENOSYS' 'request_key ENOSYS' \
		'unshare OK' 'mount ENOENT' 'ptrace ESRCH' 'clone(CLONE_NEWUSER) EINVAL'; do
		grep -qxF "$line" <<<"$output" || fail_output "missing line: $line"
	done
	# personality: only 0, 8, 0x20000, 0x20008 and 0xffffffff are allowed (args, SCMP_CMP_EQ)
	run "$SECCOMP_EXEC" "$CC_PROFILE" -- "$PROBE" --personality 0xffffffff
	assert_output_is "personality OK"
	run "$SECCOMP_EXEC" "$CC_PROFILE" -- "$PROBE" --personality 0x40000
	assert_output_is "personality ENOSYS"
	# socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT): EINVAL by a two-argument rule
	run "$SECCOMP_EXEC" "$CC_PROFILE" -- "$PROBE" --netlink-audit
	assert_output_is "socket EINVAL"
	# archMap gives x86_64 its X86 and X32 sub-architectures: int 0x80 is filtered, not killed
	run "$SECCOMP_EXEC" "$CC_PROFILE" -- "$PROBE" --int80
	if [[ $status -ne 159 ]]; then
		assert_output_is "int80-getpid OK"
	fi
}

@test "containers-common seccomp.json: includes/excludes follow the kept capabilities" {
	[[ -r $CC_PROFILE ]] || skip "$CC_PROFILE missing"
	require_root
	run "$SECCOMP_EXEC" --cap-add CAP_SYS_CHROOT "$CC_PROFILE" -- "$PROBE"
	grep -qxF 'chroot ENOENT' <<<"$output" || fail_output "chroot with CAP_SYS_CHROOT"
	grep -qxF 'bpf EPERM' <<<"$output" || fail_output "bpf without CAP_SYS_ADMIN"
	run "$SECCOMP_EXEC" --cap-add sys_admin "$CC_PROFILE" -- "$PROBE"
	grep -qxF 'bpf EINVAL' <<<"$output" || fail_output "bpf with CAP_SYS_ADMIN"
	grep -qxF 'chroot EPERM' <<<"$output" || fail_output "chroot without CAP_SYS_CHROOT"
	run "$SECCOMP_EXEC" --cap-add CAP_AUDIT_WRITE "$CC_PROFILE" -- "$PROBE" --netlink-audit
	assert_output_is "socket OK"
	run "$SECCOMP_EXEC" --cap-add ALL "$CC_PROFILE" -- "$PROBE" --netlink-audit
	assert_output_is "socket OK"
}

# ---------------------------------------------------------------------------------------------
# OCI linux.seccomp with argument comparisons

@test "OCI linux.seccomp: personality denied unless arg0 == 0xffffffff (SCMP_CMP_NE)" {
	cat >"$T/oci.json" <<-'EOF'
		{
		  "defaultAction": "SCMP_ACT_ALLOW",
		  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
		  "syscalls": [
		    {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
		     "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_NE"}]},
		    {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42,
		     "args": [{"index": 0, "value": 240, "valueTwo": 32, "op": "SCMP_CMP_MASKED_EQ"}]}
		  ]
		}
	EOF
	run "$SECCOMP_EXEC" "$T/oci.json" -- "$PROBE" --personality 0xffffffff
	assert_output_is "personality OK"
	run "$SECCOMP_EXEC" "$T/oci.json" -- "$PROBE" --personality 0
	assert_output_is "personality EACCES"
	run "$SECCOMP_EXEC" "$T/oci.json" -- "$PROBE" --getppid 0x123
	assert_output_is "getppid ENOMSG"
	run "$SECCOMP_EXEC" "$T/oci.json" -- "$PROBE" --getppid 0x113
	assert_output_is "getppid OK"
	# the same object inside a whole config.json
	printf '{"ociVersion": "1.0.2", "linux": {"seccomp": %s}}\n' "$(cat "$T/oci.json")" \
		>"$T/config.json"
	run "$SECCOMP_EXEC" "$T/config.json" -- "$PROBE" --personality 8
	assert_output_is "personality EACCES"
}

# ---------------------------------------------------------------------------------------------
# errors

# bad_profile JSON EXPECTED-MESSAGE: loading fails with exactly that line, exit 125, and the
# command does not run.
bad_profile() {
	printf '%s\n' "$1" >"$T/bad.json"
	run "$SECCOMP_EXEC" "$T/bad.json" -- touch "$T/ran"
	[[ $status -eq 125 ]] || fail_output "exit status $status, want 125"
	assert_output_is "seccomp_exec: seccomp profile $T/bad.json: $2"
	[[ ! -e $T/ran ]] || fail "the command ran"
}

@test "malformed profiles: one line naming the field, non-zero exit, nothing runs" {
	bad_profile '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
	  {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
	  {"names": ["getuid"], "action": "SCMP_ACT_ERRNO"},
	  {"names": ["getgid"], "action": "SCMP_ACT_LOG"},
	  {"names": ["getppid"], "action": "SCMP_ACT_FOO"}]}' \
		'syscalls[3].action: unknown action "SCMP_ACT_FOO"'
	bad_profile '{"syscalls": []}' 'defaultAction: missing'
	bad_profile '{"defaultAction": ["SCMP_ACT_ALLOW"]}' \
		'defaultAction: expected a string, got an array'
	bad_profile '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"],
	  "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}' \
		'syscalls[0].args[0].op: unknown operator "SCMP_CMP_ABOUT"'
	bad_profile '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"],
	  "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "op": "SCMP_CMP_EQ"}]}]}' \
		'syscalls[0].args[0].value: missing'
	bad_profile '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"],
	  "action": "SCMP_ACT_NOTIFY"}]}' \
		'syscalls[0].action: SCMP_ACT_NOTIFY is not supported (ovlbox has no seccomp listener)'
	bad_profile '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"],
	  "action": "SCMP_ACT_ERRNO", "includes": {"caps": "CAP_SYS_ADMIN"}}]}' \
		'syscalls[0].includes.caps: expected an array, got a string'
	bad_profile '{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
	  "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}' \
		'archMap: not allowed together with architectures'
	printf '{"defaultAction": "SCMP_ACT_ALLOW",\n' >"$T/bad.json"
	run "$SECCOMP_EXEC" "$T/bad.json" -- touch "$T/ran"
	[[ $status -eq 125 && ${#lines[@]} -eq 1 ]] || fail_output "invalid JSON"
	[[ $output == "seccomp_exec: seccomp profile $T/bad.json: invalid JSON: "* ]] ||
		fail_output "invalid JSON message"
	run "$SECCOMP_EXEC" "$T/missing.json" -- true
	[[ $status -eq 125 ]] || fail_output "missing file"
	assert_output_is "seccomp_exec: seccomp profile $T/missing.json: No such file or directory"
}

@test "an unknown system call name is skipped with a warning; the rest of the rule applies" {
	printf '%s\n' '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names":
	  ["not_a_syscall", "personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]}' \
		>"$T/p.json"
	run "$SECCOMP_EXEC" "$T/p.json" -- "$PROBE" --personality 0xffffffff
	[[ $status -eq 0 ]] || fail_output "failed"
	assert_output_is "seccomp_exec: warning: seccomp profile $T/p.json: syscalls[0].names[0]: unknown system call \"not_a_syscall\", skipped
personality EOPNOTSUPP"
}

# ---------------------------------------------------------------------------------------------
# capabilities

caps_status() {
	run "$CAPS_EXEC" "$@" -- grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/self/status
}

@test "caps: without --cap-add every set is empty and NoNewPrivs is 1" {
	require_root
	caps_status
	[[ $status -eq 0 ]] || fail_output "caps_exec failed"
	assert_output_is $'CapInh:\t0000000000000000
CapPrm:\t0000000000000000
CapEff:\t0000000000000000
CapBnd:\t0000000000000000
CapAmb:\t0000000000000000
NoNewPrivs:\t1'
}

@test "caps: --cap-add keeps the named capabilities in all five sets" {
	require_root
	caps_status --cap-add net_raw --cap-add CAP_SYS_CHROOT
	[[ $status -eq 0 ]] || fail_output "caps_exec failed"
	# CAP_NET_RAW = 13, CAP_SYS_CHROOT = 18
	assert_output_is $'CapInh:\t0000000000042000
CapPrm:\t0000000000042000
CapEff:\t0000000000042000
CapBnd:\t0000000000042000
CapAmb:\t0000000000042000
NoNewPrivs:\t1'
}

@test "caps: kept capabilities survive exec as a non-root uid in a user namespace (ambient)" {
	require_root
	unshare --user --map-user=1000 --map-group=1000 --keep-caps true 2>/dev/null ||
		skip "unshare --map-user/--keep-caps unavailable"
	run unshare --user --map-user=1000 --map-group=1000 --keep-caps \
		"$CAPS_EXEC" --cap-add CAP_NET_RAW -- sh -c 'id -u; grep -E "^Cap(Eff|Amb):" /proc/self/status'
	assert_output_is $'1000\nCapEff:\t0000000000002000\nCapAmb:\t0000000000002000'
}

@test "caps: an unknown or unavailable capability is an error naming it" {
	run "$CAPS_EXEC" --cap-add CAP_FLY -- true
	[[ $status -eq 125 ]] || fail_output "status"
	assert_output_is 'caps_exec: --cap-add: unknown capability "CAP_FLY"'
	require_root
	local prm missing=
	prm=$((16#$(awk '/^CapPrm:/ { print $2 }' /proc/self/status)))
	for c in $(seq 0 "$(cat /proc/sys/kernel/cap_last_cap)"); do
		if (((prm >> c) & 1)); then continue; fi
		missing=$c
		break
	done
	[[ -n $missing ]] || skip "this process has every capability"
	command -v capsh >/dev/null || skip "needs capsh to name capability $missing"
	local name
	name=$(capsh --decode="$(printf '0x%x' $((1 << missing)))" | sed 's/.*=//')
	run "$CAPS_EXEC" --cap-add "$name" -- true
	[[ $status -eq 125 ]] || fail_output "status"
	assert_output_is "caps_exec: keeping ${name^^}: not in the permitted set"
}
