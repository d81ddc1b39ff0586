# shellcheck shell=bash
# Older kernels, played on this one: seccomp profiles (for tests/helpers/seccomp_exec) that
# refuse what such a kernel lacks (ENOSYS) or does not take (EINVAL, EBADF), or what a seccomp
# filter around ovlbox may refuse (EPERM). Loaded by tests/hook.bats and tests/core_ops.bats.

# kernel_profile DIR NAME: writes the profile NAME to DIR/NAME.json (mode 0644) and prints its
# path. NAME is one of:
#   before-5.2     no new mount API, nor the later calls (openat2 is 5.6, pidfd_* 5.3, ...)
#   no-fsopen      fsopen refused with ENOSYS
#   fsopen-eperm   fsopen refused with EPERM, as Docker's older profiles refuse calls they do
#                  not know
#   no-openat2     openat2 refused with ENOSYS (before 5.6)
#   no-layer-fd-E  fsconfig(fd, FSCONFIG_SET_FD = 5, ...) refused with errno E: 22 (EINVAL) as
#                  6.12 refuses an unknown key, 9 (EBADF) as 6.13/6.14 an O_PATH fd
#   no-mount       fsopen refused with ENOSYS and mount(2) with EPERM: no way to mount
#   no-setxattr    setting and removing xattrs refused with EOPNOTSUPP, as on a filesystem
#                  without user xattrs (overlayfs' own trusted.* xattrs are the kernel's, and
#                  no filter sees them)
kernel_profile() {
	local dir=$1 name=$2 rules
	case $name in
	before-5.2) rules='{"names": ["fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
		"open_tree", "mount_setattr", "openat2", "pidfd_open", "pidfd_getfd", "close_range",
		"clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}' ;;
	no-fsopen) rules='{"names": ["fsopen"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}' ;;
	fsopen-eperm) rules='{"names": ["fsopen"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}' ;;
	no-openat2) rules='{"names": ["openat2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}' ;;
	no-layer-fd-*) rules='{"names": ["fsconfig"], "action": "SCMP_ACT_ERRNO", "errnoRet": '"${name#no-layer-fd-}"',
		"args": [{"index": 1, "value": 5, "op": "SCMP_CMP_EQ"}]}' ;;
	no-mount) rules='{"names": ["fsopen"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
		{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}' ;;
	no-setxattr) rules='{"names": ["setxattr", "lsetxattr", "fsetxattr", "setxattrat",
		"removexattr", "lremovexattr", "fremovexattr", "removexattrat"],
		"action": "SCMP_ACT_ERRNO", "errnoRet": 95}' ;;
	*)
		echo "kernel_profile: unknown profile $name" >&2
		return 1
		;;
	esac
	printf '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [%s]}\n' "$rules" >"$dir/$name.json"
	chmod 0644 "$dir/$name.json"
	printf '%s\n' "$dir/$name.json"
}
