/* syscall_probe: makes system calls with harmless arguments and prints what they returned.
 *
 *   syscall_probe                 each call of the default seccomp deny list (in the order of
 *                                 ovl_seccomp_default_deny), then clone with each CLONE_NEW*
 *                                 flag and clone3: one line "NAME RESULT", RESULT being OK or
 *                                 the errno name (EPERM). A deny-list entry this program has
 *                                 no probe for prints "NAME NOPROBE" (and exit status 1).
 *   syscall_probe --bench N       N getppid() calls; prints the mean ns per call
 *   syscall_probe --personality X personality(X) (X in any strtoul base): "personality RESULT"
 *   syscall_probe --getppid A0    getppid with A0 as its (ignored) first argument
 *   syscall_probe --netlink-audit socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT)
 *   syscall_probe --int80         i386 getpid through int 0x80 (x86_64 only)
 *   syscall_probe --x32           x32 getpid (nr | 0x40000000) (x86_64 only)
 *
 * "Harmless" means: as root without any filter, each call fails early on a bad argument or a
 * missing path, or succeeds doing nothing (unshare(0), a zero-length process_vm_readv). Under a
 * filter a call that is denied never reaches the kernel code at all. */
#include <errno.h>
#include <linux/netlink.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/quota.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ovlbox/seccomp.h"

#define NOPATH	 "/nonexistent/ovlbox-probe"
#define BADFLAGS 0xffffffffUL
/* QCMD(Q_GETFMT, USRQUOTA) without its signed int shift overflow. */
#define GETFMT_CMD (int)(((unsigned)Q_GETFMT << SUBCMDSHIFT) | USRQUOTA)

static long p_mount(void)
{
	return syscall(SYS_mount, "none", NOPATH, "tmpfs", 0UL, NULL);
}
static long p_umount2(void)
{
	return syscall(SYS_umount2, NOPATH, 0);
}
static long p_pivot_root(void)
{
	return syscall(SYS_pivot_root, NOPATH, NOPATH);
}
static long p_chroot(void)
{
	return syscall(SYS_chroot, NOPATH);
}
/* Not our tracee: ESRCH. */
static long p_ptrace(void)
{
	return syscall(SYS_ptrace, PTRACE_PEEKDATA, getpid(), NULL, NULL);
}
/* Zero iovecs: succeeds, reads and writes nothing. */
static long p_process_vm_readv(void)
{
	return syscall(SYS_process_vm_readv, getpid(), NULL, 0UL, NULL, 0UL, 0UL);
}
static long p_process_vm_writev(void)
{
	return syscall(SYS_process_vm_writev, getpid(), NULL, 0UL, NULL, 0UL, 0UL);
}
/* Too many segments and undefined flags: EINVAL (or ENOSYS without CONFIG_KEXEC). */
static long p_kexec_load(void)
{
	return syscall(SYS_kexec_load, 0UL, 1000UL, NULL, BADFLAGS);
}
static long p_kexec_file_load(void)
{
	return syscall(SYS_kexec_file_load, -1, -1, 0UL, NULL, BADFLAGS);
}
/* No such command: EINVAL. */
static long p_bpf(void)
{
	return syscall(SYS_bpf, 0x7fffffff, NULL, 0);
}
/* NULL attr: EFAULT. */
static long p_perf_event_open(void)
{
	return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0UL);
}
/* No such operation: EOPNOTSUPP. */
static long p_keyctl(void)
{
	return syscall(SYS_keyctl, -1, 0UL, 0UL, 0UL, 0UL);
}
static long p_add_key(void)
{
	return syscall(SYS_add_key, NULL, NULL, NULL, 0UL, 0);
}
static long p_request_key(void)
{
	return syscall(SYS_request_key, NULL, NULL, NULL, 0);
}
/* An empty image: ENOEXEC (or ENOSYS without CONFIG_MODULES). */
static long p_init_module(void)
{
	return syscall(SYS_init_module, NULL, 0UL, "");
}
static long p_finit_module(void)
{
	return syscall(SYS_finit_module, -1, "", 0);
}
static long p_delete_module(void)
{
	return syscall(SYS_delete_module, "ovlbox_probe_nonexistent", 0);
}
/* unshare(0) unshares nothing. */
static long p_unshare(void)
{
	return syscall(SYS_unshare, 0);
}
static long p_setns(void)
{
	return syscall(SYS_setns, -1, 0);
}
static long p_swapon(void)
{
	return syscall(SYS_swapon, NOPATH, 0);
}
static long p_swapoff(void)
{
	return syscall(SYS_swapoff, NOPATH);
}
/* Wrong magic numbers: EINVAL. */
static long p_reboot(void)
{
	return syscall(SYS_reboot, 0, 0, 0U, NULL);
}
/* SYSLOG_ACTION_SIZE_BUFFER: reads the buffer size only. */
static long p_syslog(void)
{
	return syscall(SYS_syslog, 10, NULL, 0);
}
static long p_acct(void)
{
	return syscall(SYS_acct, NOPATH);
}
/* tv_usec out of range: EINVAL before any permission check. */
static long p_settimeofday(void)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = 2000000};
	return syscall(SYS_settimeofday, &tv, NULL);
}
static long p_clock_settime(void)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = -1};
	return syscall(SYS_clock_settime, CLOCK_REALTIME, &ts);
}
static long p_open_by_handle_at(void)
{
	return syscall(SYS_open_by_handle_at, -1, NULL, 0);
}
/* Undefined flags: EINVAL. */
static long p_userfaultfd(void)
{
	return syscall(SYS_userfaultfd, BADFLAGS);
}
#ifdef SYS_iopl
static long p_iopl(void)
{
	return syscall(SYS_iopl, 4);
}
#endif
#ifdef SYS_ioperm
static long p_ioperm(void)
{
	return syscall(SYS_ioperm, 0xffffffffUL, 1UL, 0);
}
#endif
static long p_quotactl(void)
{
	char buf[64];
	return syscall(SYS_quotactl, GETFMT_CMD, NOPATH, 0, buf);
}
/* The mount API: bad fds and undefined flags. Numbers from the unified table (Linux >= 5.1
 * gives new calls one number on every architecture this test runs on). */
static long p_fsopen(void)
{
	return syscall(430, "ovlbox_probe_nonexistent", 0U);
}
static long p_fsconfig(void)
{
	return syscall(431, -1, 6U /* FSCONFIG_CMD_CREATE */, NULL, NULL, 0);
}
static long p_fsmount(void)
{
	return syscall(432, -1, 0U, 0U);
}
static long p_move_mount(void)
{
	return syscall(429, -1, "", -1, "", BADFLAGS);
}
static long p_open_tree(void)
{
	return syscall(428, -1, NOPATH, BADFLAGS);
}
static long p_fspick(void)
{
	return syscall(433, -1, "", BADFLAGS);
}
static long p_mount_setattr(void)
{
	return syscall(442, -1, "", BADFLAGS, NULL, 0UL);
}
static long p_open_tree_attr(void)
{
	return syscall(467, -1, NOPATH, BADFLAGS, NULL, 0UL);
}
static long p_quotactl_fd(void)
{
	char buf[64];
	return syscall(443, -1, GETFMT_CMD, 0, buf);
}
#ifdef SYS_umount
static long p_umount(void)
{
	return syscall(SYS_umount, NOPATH);
}
#endif

static const struct probe {
	const char *name;
	long (*fn)(void);
} probes[] = {
    {"mount", p_mount},
    {"umount2", p_umount2},
    {"pivot_root", p_pivot_root},
    {"chroot", p_chroot},
    {"ptrace", p_ptrace},
    {"process_vm_readv", p_process_vm_readv},
    {"process_vm_writev", p_process_vm_writev},
    {"kexec_load", p_kexec_load},
    {"kexec_file_load", p_kexec_file_load},
    {"bpf", p_bpf},
    {"perf_event_open", p_perf_event_open},
    {"keyctl", p_keyctl},
    {"add_key", p_add_key},
    {"request_key", p_request_key},
    {"init_module", p_init_module},
    {"finit_module", p_finit_module},
    {"delete_module", p_delete_module},
    {"unshare", p_unshare},
    {"setns", p_setns},
    {"swapon", p_swapon},
    {"swapoff", p_swapoff},
    {"reboot", p_reboot},
    {"syslog", p_syslog},
    {"acct", p_acct},
    {"settimeofday", p_settimeofday},
    {"clock_settime", p_clock_settime},
    {"open_by_handle_at", p_open_by_handle_at},
    {"userfaultfd", p_userfaultfd},
#ifdef SYS_iopl
    {"iopl", p_iopl},
#endif
#ifdef SYS_ioperm
    {"ioperm", p_ioperm},
#endif
    {"quotactl", p_quotactl},
    {"fsopen", p_fsopen},
    {"fsconfig", p_fsconfig},
    {"fsmount", p_fsmount},
    {"move_mount", p_move_mount},
    {"open_tree", p_open_tree},
    {"fspick", p_fspick},
    {"mount_setattr", p_mount_setattr},
    {"open_tree_attr", p_open_tree_attr},
    {"quotactl_fd", p_quotactl_fd},
#ifdef SYS_umount
    {"umount", p_umount},
#endif
};

/* Calls this architecture does not have: nothing to probe, no line. */
static int absent_here(const char *name)
{
	static const char *const absent[] = {
#ifndef SYS_umount
	    "umount",
#endif
#ifndef SYS_iopl
	    "iopl",
#endif
#ifndef SYS_ioperm
	    "ioperm",
#endif
	    NULL,
	};
	for (size_t i = 0; absent[i]; i++)
		if (strcmp(absent[i], name) == 0)
			return 1;
	return 0;
}

static void report(const char *name, long r)
{
	if (r >= 0) {
		printf("%s OK\n", name);
	} else {
		const char *e = strerrorname_np(errno);
		if (e)
			printf("%s %s\n", name, e);
		else
			printf("%s E%d\n", name, errno);
	}
}

/* clone with one namespace flag plus CLONE_SIGHAND without CLONE_VM: the kernel rejects the
 * combination (EINVAL) before creating anything; a filter must answer first. */
static void probe_clone(void)
{
	static const struct {
		const char *name;
		unsigned long flag;
	} ns[] = {
	    {"clone(CLONE_NEWNS)", CLONE_NEWNS},     {"clone(CLONE_NEWCGROUP)", CLONE_NEWCGROUP},
	    {"clone(CLONE_NEWUTS)", CLONE_NEWUTS},   {"clone(CLONE_NEWIPC)", CLONE_NEWIPC},
	    {"clone(CLONE_NEWUSER)", CLONE_NEWUSER}, {"clone(CLONE_NEWPID)", CLONE_NEWPID},
	    {"clone(CLONE_NEWNET)", CLONE_NEWNET},
	};
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		errno = 0;
		long r =
		    syscall(SYS_clone, ns[i].flag | CLONE_SIGHAND | SIGCHLD, NULL, NULL, NULL, 0UL);
		if (r == 0)
			_exit(0); /* cannot happen; never let a child run on */
		report(ns[i].name, r);
	}
	/* size 0 is below the smallest struct clone_args: EINVAL. */
	report("clone3", syscall(435, NULL, 0UL));
}

static int probe_all(void)
{
	int missing = 0;
	for (size_t i = 0; ovl_seccomp_default_deny[i]; i++) {
		const char *name = ovl_seccomp_default_deny[i];
		size_t k = 0;
		while (k < sizeof(probes) / sizeof(probes[0]) && strcmp(probes[k].name, name) != 0)
			k++;
		if (k == sizeof(probes) / sizeof(probes[0])) {
			if (!absent_here(name)) {
				printf("%s NOPROBE\n", name);
				missing = 1;
			}
			continue;
		}
		errno = 0;
		report(name, probes[k].fn());
	}
	probe_clone();
	return missing;
}

static int bench(long n)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
	printf("%.1f\n", ns / (double)n);
	return 0;
}

#if defined(__x86_64__) && !defined(__ILP32__)
/* i386 getpid is 20 in the int 0x80 table. */
static long int80_getpid(void)
{
	long r = 20;
	__asm__ volatile("int $0x80" : "+a"(r) : : "memory", "r8", "r9", "r10", "r11");
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}
#endif

static int usage(void)
{
	fputs("usage: syscall_probe [--bench N | --personality X | --getppid A0 | "
	      "--netlink-audit | --int80 | --x32]\n",
	      stderr);
	return 2;
}

static int run(int argc, char **argv)
{
	if (argc == 1)
		return probe_all();
	if (argc == 3 && strcmp(argv[1], "--bench") == 0) {
		long n = strtol(argv[2], NULL, 10);
		return n > 0 ? bench(n) : usage();
	}
	if (argc == 3 && strcmp(argv[1], "--personality") == 0) {
		errno = 0;
		report("personality", syscall(SYS_personality, strtoul(argv[2], NULL, 0)));
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--getppid") == 0) {
		errno = 0;
		report("getppid", syscall(SYS_getppid, strtoul(argv[2], NULL, 0)));
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--netlink-audit") == 0) {
		errno = 0;
		report("socket",
		       syscall(SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT));
		return 0;
	}
#if defined(__x86_64__) && !defined(__ILP32__)
	if (argc == 2 && strcmp(argv[1], "--int80") == 0) {
		errno = 0;
		report("int80-getpid", int80_getpid());
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--x32") == 0) {
		errno = 0;
		report("x32-getpid", syscall(0x40000000L | 39L));
		return 0;
	}
#endif
	return usage();
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	int status = run(argc, argv);
	/* exit_group directly: a sanitizer build's exit hooks (LeakSanitizer) need ptrace and
	 * clone, which the filters under test deny. */
	fflush(stdout);
	syscall(SYS_exit_group, status);
	return status;
}
