/* Unit tests of lib/seccomp.c and lib/caps.c: profile parsing (every format feature, every
 * error message exactly), filters installed in forked children and observed through harmless
 * system calls, capability names, and capability dropping (when run as root).
 * Prints each failure; exit 0 only when every check passed. */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ovlbox/caps.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/log.h"
#include "ovlbox/seccomp.h"
#include "check.h"

static char dir[64];

static const char *write_file(const char *name, const char *text)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
	return path;
}

/* Loads text as a profile; returns the filter or NULL with *msg set to the error (static). */
static struct ovl_seccomp *load_text(const char *text, const struct ovl_capset *keep,
				     const char **msg)
{
	static char last[1024];
	struct ovl_seccomp *f = NULL;
	cleanup_error ovl_error_t err = NULL;
	const char *path = write_file("p.json", text);
	last[0] = '\0';
	if (ovl_seccomp_load_file(path, keep, &f, &err) < 0)
		snprintf(last, sizeof(last), "%s", err->msg);
	if (msg)
		*msg = last;
	return f;
}

/* ---- running code under a filter ---- */

/* What a child saw: exit code (errno of the probe, 0 for success) or the killing signal. */
struct outcome {
	int code;   /* -1 when killed */
	int signal; /* 0 when exited */
};

typedef long (*probe_fn)(const long *args);

static struct outcome run_filtered(struct ovl_seccomp *f, probe_fn fn, const long *args)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		ovl_error_t err = NULL;
		/* exit_group directly: a sanitizer's _exit() hook (leak check) would make system
		 * calls the filter under test may deny. */
		if (f && ovl_seccomp_install(f, &err) < 0)
			syscall(SYS_exit_group, 250);
		errno = 0;
		long r = fn(args);
		syscall(SYS_exit_group, r < 0 ? (errno & 0xff) : 0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("waitpid");
			exit(2);
		}
	if (WIFSIGNALED(st))
		return (struct outcome){-1, WTERMSIG(st)};
	return (struct outcome){WEXITSTATUS(st), 0};
}

/* getppid ignores its arguments: ideal to observe argument comparisons. */
static long call_getppid(const long *a)
{
	return syscall(SYS_getppid, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static long call_mount(const long *a)
{
	(void)a;
	return syscall(SYS_mount, "none", "/nonexistent/ovlbox-unit", "tmpfs", 0UL, NULL);
}

static long call_unshare(const long *a)
{
	(void)a;
	return syscall(SYS_unshare, 0);
}

static long call_clone3(const long *a)
{
	(void)a;
	return syscall(435, NULL, 0UL);
}

static long call_clone_ns(const long *a)
{
	/* CLONE_SIGHAND without CLONE_VM: EINVAL from the kernel, before it creates anything. */
	return syscall(SYS_clone, (unsigned long)a[0] | CLONE_SIGHAND | SIGCHLD, NULL, NULL, NULL,
		       0UL);
}

/* fork() (clone without namespace flags) must still work. */
static long call_fork(const long *a)
{
	(void)a;
	pid_t p = fork();
	if (p == 0)
		_exit(7);
	if (p < 0)
		return -1;
	int st;
	if (waitpid(p, &st, 0) < 0)
		return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 7) {
		errno = ECHILD;
		return -1;
	}
	return 0;
}

#if defined(__x86_64__) && !defined(__ILP32__)
static long call_int80_getpid(const long *a)
{
	(void)a;
	long r = 20; /* i386 getpid */
	__asm__ volatile("int $0x80" : "+a"(r) : : "memory", "r8", "r9", "r10", "r11");
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

static long call_x32_getpid(const long *a)
{
	(void)a;
	return syscall(0x40000000L | 39L);
}
#endif

static const long zero[6];

#define OUT_OK(o)	((o).signal == 0 && (o).code == 0)
#define OUT_ERRNO(o, e) ((o).signal == 0 && (o).code == (e))
#define OUT_SIG(o, s)	((o).signal == (s))

/* ---- tests ---- */

static void test_default_list(void)
{
	static const char *const want[] = {
	    "mount",
	    "umount2",
	    "pivot_root",
	    "chroot",
	    "ptrace",
	    "process_vm_readv",
	    "process_vm_writev",
	    "kexec_load",
	    "kexec_file_load",
	    "bpf",
	    "perf_event_open",
	    "keyctl",
	    "add_key",
	    "request_key",
	    "init_module",
	    "finit_module",
	    "delete_module",
	    "unshare",
	    "setns",
	    "swapon",
	    "swapoff",
	    "reboot",
	    "syslog",
	    "acct",
	    "settimeofday",
	    "clock_settime",
	    "open_by_handle_at",
	    "userfaultfd",
	    "iopl",
	    "ioperm",
	    "quotactl",
	    "fsopen",
	    "fsconfig",
	    "fsmount",
	    "move_mount",
	    "open_tree",
	    "fspick",
	    "mount_setattr",
	    "open_tree_attr",
	    "quotactl_fd",
	    "umount",
	    NULL,
	};
	size_t i = 0;
	for (; want[i] && ovl_seccomp_default_deny[i]; i++)
		CHECK(strcmp(want[i], ovl_seccomp_default_deny[i]) == 0,
		      "default deny list [%zu]: want %s, got %s", i, want[i],
		      ovl_seccomp_default_deny[i]);
	CHECK(want[i] == NULL && ovl_seccomp_default_deny[i] == NULL,
	      "default deny list: length differs at %zu", i);
}

/* The program `ovlbox run` embeds for --seccomp default (compiled at build time, see
 * sandbox/gen/seccomp_default.c) is the one libseccomp compiles from ovl_seccomp_default(). */
static const struct sock_filter embedded_default[] = {
#include "seccomp_default.inc"
};

static void test_embedded_default(void)
{
	struct ovl_seccomp *f = NULL;
	cleanup_error ovl_error_t err = NULL;
	CHECK(ovl_seccomp_default(&f, &err) == 0 && ovl_seccomp_compile(f, &err) == 0,
	      "default: %s", err ? err->msg : "");
	if (f == NULL)
		return;
	size_t n = sizeof(embedded_default) / sizeof(embedded_default[0]);
	CHECK(ovl_seccomp_insns(f) == n, "embedded default: %zu insns, compiled now: %zu", n,
	      ovl_seccomp_insns(f));
	if (ovl_seccomp_insns(f) == n)
		CHECK(memcmp(ovl_seccomp_program(f), embedded_default, sizeof(embedded_default)) ==
			  0,
		      "embedded default differs from a fresh compile");
	ovl_seccomp_free(f);

	/* A program-only filter installs like any other, and has no pseudo filter code. */
	CHECK(ovl_seccomp_from_program(embedded_default, n, &f, &err) == 0, "from_program: %s",
	      err ? err->msg : "");
	if (f == NULL)
		return;
	CHECK(ovl_seccomp_insns(f) == n, "from_program: %zu insns", ovl_seccomp_insns(f));
	struct outcome o = run_filtered(f, call_mount, zero);
	CHECK(OUT_ERRNO(o, EPERM), "embedded default: mount: code %d signal %d", o.code, o.signal);
	o = run_filtered(f, call_getppid, zero);
	CHECK(OUT_OK(o), "embedded default: getppid: code %d signal %d", o.code, o.signal);
	CHECK(ovl_seccomp_export_pfc(f, -1, &err) < 0 && err &&
		  strcmp(err->msg, "seccomp: a precompiled filter has no pseudo filter code") == 0,
	      "from_program: export_pfc: %s", err ? err->msg : "(no error)");
	ovl_error_free(&err);
	ovl_seccomp_free(f);
	f = NULL;
	CHECK(ovl_seccomp_from_program(embedded_default, 0, &f, &err) < 0 && f == NULL && err &&
		  strcmp(err->msg, "seccomp: a program of 0 instructions: Invalid argument") == 0,
	      "from_program(0): %s", err ? err->msg : "(no error)");
}

static void test_default_filter(void)
{
	struct ovl_seccomp *f = NULL;
	cleanup_error ovl_error_t err = NULL;
	CHECK(ovl_seccomp_default(&f, &err) == 0, "default: %s", err ? err->msg : "");
	if (f == NULL)
		return;
	CHECK(ovl_seccomp_compile(f, &err) == 0, "default: compile: %s", err ? err->msg : "");
	CHECK(ovl_seccomp_insns(f) > 40 && ovl_seccomp_insns(f) < 200, "default: %zu insns",
	      ovl_seccomp_insns(f));
	struct outcome o = run_filtered(f, call_getppid, zero);
	CHECK(OUT_OK(o), "default: getppid: code %d signal %d", o.code, o.signal);
	o = run_filtered(f, call_mount, zero);
	CHECK(OUT_ERRNO(o, EPERM), "default: mount: code %d signal %d", o.code, o.signal);
	o = run_filtered(NULL, call_mount, zero);
	CHECK(OUT_ERRNO(o, ENOENT), "no filter: mount: code %d signal %d", o.code, o.signal);
	o = run_filtered(f, call_unshare, zero);
	CHECK(OUT_ERRNO(o, EPERM), "default: unshare(0): code %d signal %d", o.code, o.signal);
	o = run_filtered(f, call_clone3, zero);
	CHECK(OUT_ERRNO(o, ENOSYS), "default: clone3: code %d signal %d", o.code, o.signal);
	o = run_filtered(f, call_fork, zero);
	CHECK(OUT_OK(o), "default: fork: code %d signal %d", o.code, o.signal);
	static const long ns[] = {CLONE_NEWNS,	 CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
				  CLONE_NEWUSER, CLONE_NEWPID,	  CLONE_NEWNET};
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		long a[6] = {ns[i]};
		o = run_filtered(f, call_clone_ns, a);
		CHECK(OUT_ERRNO(o, EPERM), "default: clone(0x%lx): code %d signal %d", ns[i],
		      o.code, o.signal);
		o = run_filtered(NULL, call_clone_ns, a);
		CHECK(OUT_ERRNO(o, EINVAL), "no filter: clone(0x%lx): code %d signal %d", ns[i],
		      o.code, o.signal);
	}
	/* Flags next to, but not, a namespace flag (CLONE_SIGHAND|CLONE_PTRACE) pass the filter. */
	long a[6] = {0x00002000};
	o = run_filtered(f, call_clone_ns, a);
	CHECK(OUT_ERRNO(o, EINVAL), "default: clone(no ns flag): code %d signal %d", o.code,
	      o.signal);
#if defined(__x86_64__) && !defined(__ILP32__)
	o = run_filtered(f, call_int80_getpid, zero);
	CHECK(OUT_SIG(o, SIGSYS), "default: int 0x80: code %d signal %d", o.code, o.signal);
	o = run_filtered(f, call_x32_getpid, zero);
	CHECK(OUT_SIG(o, SIGSYS), "default: x32: code %d signal %d", o.code, o.signal);
#endif
	ovl_seccomp_free(f);
}

/* A profile with one rule on getppid: ERRNO(42) when op(arg) holds. */
static void check_op(const char *op, int index, unsigned long long value, unsigned long long value2,
		     long hit, long miss)
{
	char text[512];
	snprintf(text, sizeof(text),
		 "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getppid\"],"
		 "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":42,\"args\":[{\"index\":%d,"
		 "\"value\":%llu,\"valueTwo\":%llu,\"op\":\"%s\"}]}]}",
		 index, value, value2, op);
	const char *msg;
	struct ovl_seccomp *f = load_text(text, NULL, &msg);
	CHECK(f != NULL, "%s: %s", op, msg);
	if (f == NULL)
		return;
	long a[6] = {0};
	a[index] = hit;
	struct outcome o = run_filtered(f, call_getppid, a);
	CHECK(OUT_ERRNO(o, 42), "%s %llu: arg%d=%ld should match: code %d signal %d", op, value,
	      index, hit, o.code, o.signal);
	a[index] = miss;
	o = run_filtered(f, call_getppid, a);
	CHECK(OUT_OK(o), "%s %llu: arg%d=%ld should not match: code %d signal %d", op, value, index,
	      miss, o.code, o.signal);
	ovl_seccomp_free(f);
}

static void test_ops(void)
{
	check_op("SCMP_CMP_EQ", 0, 10, 0, 10, 11);
	check_op("SCMP_CMP_NE", 1, 10, 0, 11, 10);
	check_op("SCMP_CMP_LT", 2, 10, 0, 9, 10);
	check_op("SCMP_CMP_LE", 3, 10, 0, 10, 11);
	check_op("SCMP_CMP_GE", 4, 10, 0, 10, 9);
	check_op("SCMP_CMP_GT", 5, 10, 0, 11, 10);
	check_op("SCMP_CMP_MASKED_EQ", 0, 0xf0, 0x20, 0x123, 0x113);
	/* 64-bit values: the upper half is compared too. */
	check_op("SCMP_CMP_EQ", 0, 0x100000000ULL, 0, 0x100000000L, 0);
	check_op("SCMP_CMP_GT", 0, 0xffffffffULL, 0, 0x100000000L, 0xffffffffL);
}

static void test_multi_args_and_actions(void)
{
	const char *msg;
	/* Conditions of one rule are AND-ed. */
	struct ovl_seccomp *f = load_text(
	    "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getppid\"],"
	    "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":42,\"args\":["
	    "{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_EQ\"},"
	    "{\"index\":1,\"value\":2,\"op\":\"SCMP_CMP_EQ\"}]}]}",
	    NULL, &msg);
	CHECK(f != NULL, "and: %s", msg);
	if (f) {
		long both[6] = {1, 2}, one[6] = {1, 3};
		struct outcome o = run_filtered(f, call_getppid, both);
		CHECK(OUT_ERRNO(o, 42), "and: (1,2): code %d signal %d", o.code, o.signal);
		o = run_filtered(f, call_getppid, one);
		CHECK(OUT_OK(o), "and: (1,3): code %d signal %d", o.code, o.signal);
		ovl_seccomp_free(f);
	}

	static const struct {
		const char *rule; /* action part of a getppid rule */
		int code, sig;
	} cases[] = {
	    {"\"action\":\"SCMP_ACT_ERRNO\"", EPERM, 0}, /* errnoRet defaults to EPERM */
	    {"\"action\":\"SCMP_ACT_ERRNO\",\"errno\":\"ENOMSG\"", ENOMSG, 0},
	    {"\"action\":\"SCMP_ACT_ERRNO\",\"errno\":\"43\"", 43, 0},
	    {"\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":44,\"errno\":\"ENOMSG\"", 44, 0},
	    {"\"action\":\"SCMP_ACT_KILL\"", -1, SIGSYS},
	    {"\"action\":\"SCMP_ACT_KILL_THREAD\"", -1, SIGSYS},
	    {"\"action\":\"SCMP_ACT_KILL_PROCESS\"", -1, SIGSYS},
	    {"\"action\":\"SCMP_ACT_TRAP\"", -1, SIGSYS},
	    {"\"action\":\"SCMP_ACT_LOG\"", 0, 0},
	    /* no tracer attached: the kernel fails the call with ENOSYS */
	    {"\"action\":\"SCMP_ACT_TRACE\",\"errnoRet\":5", ENOSYS, 0},
	    {"\"action\":\"SCMP_ACT_ALLOW\"", 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		snprintf(
		    text, sizeof(text),
		    "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"name\":\"getppid\","
		    "%s}]}",
		    cases[i].rule);
		f = load_text(text, NULL, &msg);
		CHECK(f != NULL, "%s: %s", cases[i].rule, msg);
		if (f == NULL)
			continue;
		struct outcome o = run_filtered(f, call_getppid, zero);
		CHECK(o.code == cases[i].code && o.signal == cases[i].sig,
		      "%s: want code %d signal %d, got code %d signal %d", cases[i].rule,
		      cases[i].code, cases[i].sig, o.code, o.signal);
		ovl_seccomp_free(f);
	}

	/* An allow-list: default ERRNO(99 -> 99 & 0xff in the exit code), exit_group allowed. */
	f = load_text("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":99,"
		      "\"syscalls\":[{\"names\":[\"exit_group\",\"exit\"],\"action\":"
		      "\"SCMP_ACT_ALLOW\"},{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\","
		      "\"errnoRet\":99}]}",
		      NULL, &msg);
	CHECK(f != NULL, "allow-list: %s", msg);
	if (f) {
		struct outcome o = run_filtered(f, call_getppid, zero);
		CHECK(OUT_ERRNO(o, 99), "allow-list: getppid: code %d signal %d", o.code, o.signal);
		o = run_filtered(f, call_unshare, zero);
		CHECK(OUT_ERRNO(o, 99), "allow-list: unshare: code %d signal %d", o.code, o.signal);
		ovl_seccomp_free(f);
	}
	f = load_text("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrno\":\"ENOSYS\","
		      "\"syscalls\":[{\"names\":[\"exit_group\"],\"action\":\"SCMP_ACT_ALLOW\"}]}",
		      NULL, &msg);
	CHECK(f != NULL, "defaultErrno: %s", msg);
	if (f) {
		struct outcome o = run_filtered(f, call_getppid, zero);
		CHECK(OUT_ERRNO(o, ENOSYS), "defaultErrno: code %d signal %d", o.code, o.signal);
		ovl_seccomp_free(f);
	}
}

/* includes/excludes: the rule denies getppid with 42 only when it applies. */
static void check_cond(const char *cond, const struct ovl_capset *keep, bool applies)
{
	char text[512];
	snprintf(text, sizeof(text),
		 "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getppid\"],"
		 "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":42,%s}]}",
		 cond);
	const char *msg;
	struct ovl_seccomp *f = load_text(text, keep, &msg);
	CHECK(f != NULL, "%s: %s", cond, msg);
	if (f == NULL)
		return;
	struct outcome o = run_filtered(f, call_getppid, zero);
	CHECK(applies ? OUT_ERRNO(o, 42) : OUT_OK(o), "%s: should %sapply: code %d signal %d", cond,
	      applies ? "" : "not ", o.code, o.signal);
	ovl_seccomp_free(f);
}

static void test_includes_excludes(void)
{
	struct ovl_capset raw = {0}, all = {.all = true};
	cleanup_error ovl_error_t err = NULL;
	CHECK(ovl_capset_add(&raw, "CAP_NET_RAW", &err) == 0, "capset_add");
	check_cond("\"includes\":{\"caps\":[\"CAP_NET_RAW\"]}", &raw, true);
	check_cond("\"includes\":{\"caps\":[\"CAP_NET_RAW\"]}", NULL, false);
	check_cond("\"includes\":{\"caps\":[\"CAP_NET_RAW\",\"CAP_SYS_ADMIN\"]}", &raw, false);
	check_cond("\"includes\":{\"caps\":[\"CAP_NET_RAW\",\"CAP_SYS_ADMIN\"]}", &all, true);
	check_cond("\"includes\":{\"caps\":[\"CAP_NO_SUCH_CAP\"]}", &all, false);
	check_cond("\"excludes\":{\"caps\":[\"CAP_NET_RAW\"]}", &raw, false);
	check_cond("\"excludes\":{\"caps\":[\"CAP_SYS_ADMIN\",\"CAP_NET_RAW\"]}", &raw, false);
	check_cond("\"excludes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}", &raw, true);
	check_cond("\"includes\":{},\"excludes\":{}", NULL, true);
	check_cond("\"includes\":{\"minKernel\":\"3.10\"}", NULL, true);
	check_cond("\"includes\":{\"minKernel\":\"99.1\"}", NULL, false);
#if defined(__x86_64__) && !defined(__ILP32__)
	check_cond("\"includes\":{\"arches\":[\"amd64\",\"x32\"]}", NULL, true);
	check_cond("\"includes\":{\"arches\":[\"arm64\"]}", NULL, false);
	check_cond("\"excludes\":{\"arches\":[\"amd64\"]}", NULL, false);
	check_cond("\"excludes\":{\"arches\":[\"s390x\"]}", NULL, true);
#endif
}

static void test_arches_and_formats(void)
{
	const char *msg;
	struct outcome o;
#if defined(__x86_64__) && !defined(__ILP32__)
	/* archMap: the native entry brings X86, so int 0x80 is filtered, not killed. */
	struct ovl_seccomp *f = load_text(
	    "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"archMap\":[{\"architecture\":"
	    "\"SCMP_ARCH_AARCH64\",\"subArchitectures\":[\"SCMP_ARCH_ARM\"]},{\"architecture\":"
	    "\"SCMP_ARCH_X86_64\",\"subArchitectures\":[\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"]}],"
	    "\"syscalls\":[]}",
	    NULL, &msg);
	CHECK(f != NULL, "archMap: %s", msg);
	if (f) {
		o = run_filtered(f, call_int80_getpid, zero);
		CHECK(OUT_OK(o), "archMap: int 0x80 getpid: code %d signal %d", o.code, o.signal);
		ovl_seccomp_free(f);
	}
	f = load_text("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":["
		      "\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],\"syscalls\":[{\"names\":["
		      "\"getpid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":42}]}",
		      NULL, &msg);
	CHECK(f != NULL, "architectures: %s", msg);
	if (f) {
		o = run_filtered(f, call_int80_getpid, zero);
		CHECK(OUT_ERRNO(o, 42), "architectures: int 0x80 getpid: code %d signal %d", o.code,
		      o.signal);
		o = run_filtered(f, call_x32_getpid, zero);
		CHECK(OUT_SIG(o, SIGSYS), "architectures: x32 not listed: code %d signal %d",
		      o.code, o.signal);
		ovl_seccomp_free(f);
	}
	/* No architectures: native only, others kill. */
	f = load_text("{\"defaultAction\":\"SCMP_ACT_ALLOW\"}", NULL, &msg);
	CHECK(f != NULL, "minimal: %s", msg);
	if (f) {
		o = run_filtered(f, call_int80_getpid, zero);
		CHECK(OUT_SIG(o, SIGSYS), "native only: int 0x80: code %d signal %d", o.code,
		      o.signal);
		ovl_seccomp_free(f);
	}
#endif
	/* A whole OCI config.json, with flags. */
	struct ovl_seccomp *g =
	    load_text("{\"ociVersion\":\"1.0.2\",\"process\":{},\"linux\":{\"seccomp\":{"
		      "\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\","
		      "\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\"],\"listenerPath\":\"\",\"syscalls\":[{"
		      "\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":42,"
		      "\"args\":null,\"comment\":\"x\"}]}}}",
		      NULL, &msg);
	CHECK(g != NULL, "config.json: %s", msg);
	if (g) {
		o = run_filtered(g, call_getppid, zero);
		CHECK(OUT_ERRNO(o, 42), "config.json: code %d signal %d", o.code, o.signal);
		ovl_seccomp_free(g);
	}
	/* A rule equal to the default action is a no-op, not an error. */
	g = load_text("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":["
		      "\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1},{\"names\":["
		      "\"exit_group\"],\"action\":\"SCMP_ACT_ALLOW\"}]}",
		      NULL, &msg);
	CHECK(g != NULL, "rule == default: %s", msg);
	ovl_seccomp_free(g);
}

/* Runs fn with stderr captured; returns what was written (static). */
static const char *capture_stderr(void (*fn)(void))
{
	static char buf[4096];
	char path[128];
	snprintf(path, sizeof(path), "%s", write_file("stderr.txt", ""));
	fflush(stderr);
	int saved = dup(2), fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (saved < 0 || fd < 0 || dup2(fd, 2) < 0) {
		perror("capture");
		exit(2);
	}
	close(fd);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static struct ovl_seccomp *unknown_f;
static const char *unknown_msg;
static void load_unknown(void)
{
	unknown_f = load_text("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":"
			      "[\"no_such_call\",\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\","
			      "\"errnoRet\":42}]}",
			      NULL, &unknown_msg);
}

static void test_unknown_syscall(void)
{
	const char *out = capture_stderr(load_unknown);
	char want[512];
	snprintf(want, sizeof(want),
		 "seccomp_test: warning: seccomp profile %s/p.json: syscalls[0].names[0]: unknown "
		 "system call \"no_such_call\", skipped\n",
		 dir);
	CHECK(strcmp(out, want) == 0, "unknown syscall warning:\n got: %s want: %s", out, want);
	CHECK(unknown_f != NULL, "unknown syscall: %s", unknown_msg);
	if (unknown_f) {
		struct outcome o = run_filtered(unknown_f, call_getppid, zero);
		CHECK(OUT_ERRNO(o, 42), "unknown syscall: the rest applies: code %d signal %d",
		      o.code, o.signal);
		ovl_seccomp_free(unknown_f);
	}
}

static void check_error(const char *text, const char *want)
{
	char full[1024];
	const char *msg;
	snprintf(full, sizeof(full), "seccomp profile %s/p.json: %s", dir, want);
	struct ovl_seccomp *f = load_text(text, NULL, &msg);
	CHECK(f == NULL && strcmp(msg, full) == 0, "profile %s\n   got: %s\n  want: %s", text, msg,
	      full);
	ovl_seccomp_free(f);
}

#define ALLOW	"\"defaultAction\":\"SCMP_ACT_ALLOW\""
#define RULE(x) "{" ALLOW ",\"syscalls\":[{\"names\":[\"getppid\"]," x "}]}"
#define ARG(x)	RULE("\"action\":\"SCMP_ACT_ERRNO\",\"args\":[" x "]")

static void test_errors(void)
{
	check_error("[]", "expected a JSON object, got an array");
	check_error("{}", "defaultAction: missing");
	check_error("{\"defaultAction\":1}", "defaultAction: expected a string, got a number");
	check_error("{\"defaultAction\":\"SCMP_ACT_FOO\"}",
		    "defaultAction: unknown action \"SCMP_ACT_FOO\"");
	check_error("{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}",
		    "defaultAction: SCMP_ACT_NOTIFY is not supported (ovlbox has no seccomp "
		    "listener)");
	check_error("{" ALLOW ",\"defaultErrnoRet\":1}",
		    "defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
	check_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":4096}",
		    "defaultErrnoRet: out of range (0..4095): 4096");
	check_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":-1}",
		    "defaultErrnoRet: expected a non-negative integer, got -1");
	check_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrno\":\"EFOO\"}",
		    "defaultErrno: unknown errno \"EFOO\"");
	check_error("{" ALLOW ",\"syscalls\":{}}", "syscalls: expected an array, got an object");
	check_error("{" ALLOW ",\"syscalls\":[1]}",
		    "syscalls[0]: expected an object, got a number");
	check_error("{" ALLOW ",\"syscalls\":[{\"action\":\"SCMP_ACT_ERRNO\"}]}",
		    "syscalls[0].names: missing");
	check_error("{" ALLOW ",\"syscalls\":[{\"names\":\"getppid\"}]}",
		    "syscalls[0].names: expected an array, got a string");
	check_error(RULE("\"name\":\"getpid\",\"action\":\"SCMP_ACT_ERRNO\""),
		    "syscalls[0].name: not allowed together with names");
	check_error("{" ALLOW ",\"syscalls\":[{\"names\":[\"getppid\",7],\"action\":"
		    "\"SCMP_ACT_ERRNO\"}]}",
		    "syscalls[0].names[1]: expected a string, got a number");
	check_error("{" ALLOW ",\"syscalls\":[{\"name\":true,\"action\":\"SCMP_ACT_ERRNO\"}]}",
		    "syscalls[0].name: expected a string, got a boolean");
	check_error(RULE("\"comment\":\"no action\""), "syscalls[0].action: missing");
	check_error("{" ALLOW ",\"syscalls\":["
		    "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ERRNO\"},"
		    "{\"names\":[\"getuid\"],\"action\":\"SCMP_ACT_ERRNO\"},"
		    "{\"names\":[\"getgid\"],\"action\":\"SCMP_ACT_LOG\"},"
		    "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_FOO\"}]}",
		    "syscalls[3].action: unknown action \"SCMP_ACT_FOO\"");
	check_error(RULE("\"action\":\"SCMP_ACT_NOTIFY\""),
		    "syscalls[0].action: SCMP_ACT_NOTIFY is not supported (ovlbox has no seccomp "
		    "listener)");
	check_error(RULE("\"action\":\"SCMP_ACT_ALLOW\",\"errnoRet\":1"),
		    "syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
	check_error(RULE("\"action\":\"SCMP_ACT_KILL\",\"errno\":\"EPERM\""),
		    "syscalls[0].errno: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
	check_error(RULE("\"action\":\"SCMP_ACT_TRACE\",\"errnoRet\":65536"),
		    "syscalls[0].errnoRet: out of range (0..65535): 65536");
	check_error(RULE("\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":\"1\""),
		    "syscalls[0].errnoRet: expected a number, got a string");
	check_error(RULE("\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1.5"),
		    "syscalls[0].errnoRet: expected an integer, got 1.5");
	check_error(RULE("\"action\":\"SCMP_ACT_ERRNO\",\"args\":{}"),
		    "syscalls[0].args: expected an array, got an object");
	check_error(ARG("3"), "syscalls[0].args[0]: expected an object, got a number");
	check_error(ARG("{\"value\":1,\"op\":\"SCMP_CMP_EQ\"}"),
		    "syscalls[0].args[0].index: missing");
	check_error(ARG("{\"index\":0,\"op\":\"SCMP_CMP_EQ\"}"),
		    "syscalls[0].args[0].value: missing");
	check_error(ARG("{\"index\":0,\"value\":1}"), "syscalls[0].args[0].op: missing");
	check_error(ARG("{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}"),
		    "syscalls[0].args[0].index: out of range (0..5): 6");
	check_error(ARG("{\"index\":0,\"value\":-1,\"op\":\"SCMP_CMP_EQ\"}"),
		    "syscalls[0].args[0].value: expected a non-negative integer, got -1");
	check_error(ARG("{\"index\":0,\"value\":18446744073709551616,\"op\":\"SCMP_CMP_EQ\"}"),
		    "syscalls[0].args[0].value: integer out of range: 18446744073709551616");
	check_error(ARG("{\"index\":0,\"value\":1,\"valueTwo\":\"2\",\"op\":\"SCMP_CMP_EQ\"}"),
		    "syscalls[0].args[0].valueTwo: expected a number, got a string");
	check_error(ARG("{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_FOO\"}"),
		    "syscalls[0].args[0].op: unknown operator \"SCMP_CMP_FOO\"");
	check_error(ARG("{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_GT\"},"
			"{\"index\":0,\"value\":9,\"op\":\"SCMP_CMP_LT\"}"),
		    "syscalls[0].args[1].index: argument 0 is already compared in this rule");
	check_error(RULE("\"action\":\"SCMP_ACT_ERRNO\",\"includes\":[]"),
		    "syscalls[0].includes: expected an object, got an array");
	check_error(RULE("\"action\":\"SCMP_ACT_ERRNO\",\"excludes\":{\"caps\":\"CAP_X\"}"),
		    "syscalls[0].excludes.caps: expected an array, got a string");
	check_error(RULE("\"action\":\"SCMP_ACT_ERRNO\",\"includes\":{\"caps\":[1]}"),
		    "syscalls[0].includes.caps[0]: expected a string, got a number");
	check_error(RULE("\"action\":\"SCMP_ACT_ERRNO\",\"includes\":{\"arches\":[null]}"),
		    "syscalls[0].includes.arches[0]: expected a string, got a null");
	check_error(RULE("\"action\":\"SCMP_ACT_ERRNO\",\"includes\":{\"minKernel\":\"four\"}"),
		    "syscalls[0].includes.minKernel: invalid kernel version \"four\"");
	check_error(RULE("\"action\":\"SCMP_ACT_ERRNO\",\"errno\":\"EWHAT\""),
		    "syscalls[0].errno: unknown errno \"EWHAT\"");
	check_error("{" ALLOW ",\"architectures\":[\"x86_64\"]}",
		    "architectures[0]: unknown architecture \"x86_64\"");
	check_error("{" ALLOW ",\"architectures\":\"SCMP_ARCH_X86\"}",
		    "architectures: expected an array, got a string");
	check_error("{" ALLOW ",\"architectures\":[\"SCMP_ARCH_X86\"],\"archMap\":[{"
		    "\"architecture\":\"SCMP_ARCH_X86_64\"}]}",
		    "archMap: not allowed together with architectures");
	check_error("{" ALLOW ",\"archMap\":[{\"subArchitectures\":[]}]}",
		    "archMap[0].architecture: missing");
	check_error("{" ALLOW ",\"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\","
		    "\"subArchitectures\":[\"i386\"]}]}",
		    "archMap[0].subArchitectures[0]: unknown architecture \"i386\"");
	check_error("{" ALLOW ",\"flags\":[\"SECCOMP_FILTER_FLAG_FOO\"]}",
		    "flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_FOO\"");
	check_error("{" ALLOW ",\"listenerPath\":\"/run/x.sock\"}",
		    "listenerPath: not supported (ovlbox has no seccomp listener)");
	check_error("{\"linux\":{}}", "linux.seccomp: missing");
	check_error("{\"linux\":{\"seccomp\":[]}}",
		    "linux.seccomp: expected an object, got an array");
	check_error("{\"linux\":{\"seccomp\":{" ALLOW ",\"syscalls\":[{\"names\":[\"getppid\"],"
		    "\"action\":\"SCMP_ACT_BAR\"}]}}}",
		    "linux.seccomp.syscalls[0].action: unknown action \"SCMP_ACT_BAR\"");

	/* Not JSON, and no file: the same prefix. */
	const char *msg;
	char want[256];
	struct ovl_seccomp *f = load_text("{\"defaultAction\":", NULL, &msg);
	snprintf(want, sizeof(want), "seccomp profile %s/p.json: invalid JSON: ", dir);
	CHECK(f == NULL && strncmp(msg, want, strlen(want)) == 0 && strchr(msg, '\n') == NULL,
	      "invalid JSON: %s", msg);
	ovl_seccomp_free(f);
	cleanup_error ovl_error_t err = NULL;
	CHECK(ovl_seccomp_load_file("/nonexistent/p.json", NULL, &f, &err) < 0 &&
		  strcmp(err->msg, "seccomp profile /nonexistent/p.json: No such file or "
				   "directory") == 0,
	      "missing file: %s", err ? err->msg : "(no error)");
}

static void test_from_arg(void)
{
	struct ovl_seccomp *f = (struct ovl_seccomp *)1;
	cleanup_error ovl_error_t err = NULL;
	CHECK(ovl_seccomp_from_arg("none", NULL, &f, &err) == 0 && f == NULL, "from_arg none");
	CHECK(ovl_seccomp_from_arg("default", NULL, &f, &err) == 0 && f != NULL,
	      "from_arg default");
	ovl_seccomp_free(f);
	const char *path = write_file("p.json", "{" ALLOW "}");
	CHECK(ovl_seccomp_from_arg(path, NULL, &f, &err) == 0 && f != NULL, "from_arg file");
	ovl_seccomp_free(f);
}

/* ---- capabilities ---- */

static void test_cap_names(void)
{
	static const char *const spellings[] = {"CAP_NET_RAW", "cap_net_raw", "net_raw", "NET_RAW",
						"Cap_Net_Raw"};
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		int cap = -1;
		cleanup_error ovl_error_t err = NULL;
		CHECK(ovl_cap_from_name(spellings[i], &cap, &err) == 0 && cap == CAP_NET_RAW,
		      "cap name %s: %d %s", spellings[i], cap, err ? err->msg : "");
	}
	static const struct {
		const char *name, *msg;
	} bad[] = {
	    {"CAP_FOO", "unknown capability \"CAP_FOO\""}, {"", "unknown capability \"\""},
	    {"13", "unknown capability \"13\""},	   {"cap_", "unknown capability \"cap_\""},
	    {"net raw", "unknown capability \"net raw\""},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int cap = -1;
		cleanup_error ovl_error_t err = NULL;
		CHECK(ovl_cap_from_name(bad[i].name, &cap, &err) < 0 &&
			  strcmp(err->msg, bad[i].msg) == 0,
		      "cap name \"%s\": %s", bad[i].name, err ? err->msg : "(accepted)");
	}
	char buf[OVL_CAP_NAME_MAX];
	CHECK(strcmp(ovl_cap_name(CAP_NET_RAW, buf), "CAP_NET_RAW") == 0, "cap_name: %s", buf);
	CHECK(strcmp(ovl_cap_name(CAP_CHOWN, buf), "CAP_CHOWN") == 0, "cap_name: %s", buf);
	CHECK(ovl_cap_last() >= CAP_AUDIT_READ, "cap_last: %d", ovl_cap_last());

	struct ovl_capset s = {0};
	cleanup_error ovl_error_t err = NULL;
	CHECK(ovl_capset_add(&s, "net_raw", &err) == 0 &&
		  ovl_capset_add(&s, "CAP_CHOWN", &err) == 0,
	      "capset_add");
	CHECK(s.bits == ((1ULL << CAP_NET_RAW) | (1ULL << CAP_CHOWN)) && !s.all, "capset bits %llx",
	      (unsigned long long)s.bits);
	CHECK(ovl_capset_has(&s, CAP_NET_RAW) && !ovl_capset_has(&s, CAP_SYS_ADMIN) &&
		  !ovl_capset_has(NULL, CAP_CHOWN),
	      "capset_has");
	CHECK(ovl_capset_add(&s, "all", &err) == 0 && s.all && ovl_capset_has(&s, CAP_SYS_ADMIN),
	      "capset ALL");
	CHECK(ovl_capset_add(&s, "CAP_NOPE", &err) < 0 &&
		  strcmp(err->msg, "unknown capability \"CAP_NOPE\"") == 0,
	      "capset_add unknown: %s", err ? err->msg : "");
}

/* The five sets and NoNewPrivs of the calling process, from /proc/self/status. */
struct procstat {
	unsigned long long inh, prm, eff, bnd, amb;
	int nnp;
};

static int read_status(struct procstat *s)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int found = 0;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		found +=
		    sscanf(line, "CapInh: %llx", &s->inh) + sscanf(line, "CapPrm: %llx", &s->prm) +
		    sscanf(line, "CapEff: %llx", &s->eff) + sscanf(line, "CapBnd: %llx", &s->bnd) +
		    sscanf(line, "CapAmb: %llx", &s->amb) + sscanf(line, "NoNewPrivs: %d", &s->nnp);
	}
	fclose(f);
	return found == 6 ? 0 : -1;
}

/* In a child: restrict to keep, then report the status through a pipe. */
static int restricted_status(const struct ovl_capset *keep, struct procstat *out, char *msg,
			     size_t msglen)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		ovl_error_t err = NULL;
		struct {
			int ok;
			struct procstat st;
			char msg[200];
		} r = {0};
		if (ovl_caps_restrict(keep, &err) < 0)
			snprintf(r.msg, sizeof(r.msg), "%s", err->msg);
		else
			r.ok = read_status(&r.st) == 0;
		ssize_t w = write(p[1], &r, sizeof(r));
		_exit(w == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(p[1]);
	struct {
		int ok;
		struct procstat st;
		char msg[200];
	} r = {0};
	ssize_t n = read(p[0], &r, sizeof(r));
	close(p[0]);
	waitpid(pid, NULL, 0);
	if (n != (ssize_t)sizeof(r))
		return -1;
	*out = r.st;
	snprintf(msg, msglen, "%s", r.msg);
	return r.ok ? 0 : -1;
}

static void test_caps_restrict(void)
{
	struct procstat before;
	if (read_status(&before) < 0 || !(before.eff & (1ULL << CAP_SETPCAP))) {
		printf("skip: capability dropping needs CAP_SETPCAP\n");
		return;
	}
	struct procstat st;
	char msg[200];
	struct ovl_capset none = {0}, raw = {0}, all = {.all = true};
	cleanup_error ovl_error_t err = NULL;
	ovl_capset_add(&raw, "CAP_NET_RAW", &err);

	CHECK(restricted_status(&none, &st, msg, sizeof(msg)) == 0, "restrict none: %s", msg);
	CHECK(st.inh == 0 && st.prm == 0 && st.eff == 0 && st.bnd == 0 && st.amb == 0 &&
		  st.nnp == 1,
	      "restrict none: inh %llx prm %llx eff %llx bnd %llx amb %llx nnp %d", st.inh, st.prm,
	      st.eff, st.bnd, st.amb, st.nnp);
	CHECK(restricted_status(NULL, &st, msg, sizeof(msg)) == 0 && st.bnd == 0 && st.eff == 0,
	      "restrict NULL: %s bnd %llx", msg, st.bnd);

	unsigned long long r = 1ULL << CAP_NET_RAW;
	CHECK(restricted_status(&raw, &st, msg, sizeof(msg)) == 0, "restrict raw: %s", msg);
	CHECK(st.inh == r && st.prm == r && st.eff == r && st.bnd == r && st.amb == r &&
		  st.nnp == 1,
	      "restrict raw: inh %llx prm %llx eff %llx bnd %llx amb %llx nnp %d", st.inh, st.prm,
	      st.eff, st.bnd, st.amb, st.nnp);

	CHECK(restricted_status(&all, &st, msg, sizeof(msg)) == 0, "restrict all: %s", msg);
	CHECK(st.prm == before.prm && st.eff == before.prm && st.amb == before.prm &&
		  st.bnd == (before.bnd & before.prm),
	      "restrict all: prm %llx (before %llx) eff %llx amb %llx bnd %llx", st.prm, before.prm,
	      st.eff, st.amb, st.bnd);

	/* A cap this process does not have (root here lacks CAP_SYS_RESOURCE): named, refused. */
	for (int c = 0; c <= ovl_cap_last(); c++) {
		if (before.prm & (1ULL << c))
			continue;
		struct ovl_capset one = {.bits = 1ULL << c};
		char want[100], name[OVL_CAP_NAME_MAX];
		snprintf(want, sizeof(want), "keeping %s: not in the permitted set",
			 ovl_cap_name(c, name));
		CHECK(restricted_status(&one, &st, msg, sizeof(msg)) < 0 && strcmp(msg, want) == 0,
		      "restrict missing cap: got \"%s\", want \"%s\"", msg, want);
		break;
	}
}

int main(void)
{
	ovl_log_init("seccomp_test", -1, false);
	snprintf(dir, sizeof(dir), "%s/ovlbox-seccomp-test.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (strlen(dir) > 48 || mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_default_list();
	test_default_filter();
	test_embedded_default();
	test_ops();
	test_multi_args_and_actions();
	test_includes_excludes();
	test_arches_and_formats();
	test_unknown_syscall();
	test_errors();
	test_from_arg();
	test_cap_names();
	test_caps_restrict();

	char path[128];
	snprintf(path, sizeof(path), "%s/p.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/stderr.txt", dir);
	unlink(path);
	rmdir(dir);
	printf("seccomp_test: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
