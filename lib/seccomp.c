/* seccomp profiles -> libseccomp -> BPF (see include/ovlbox/seccomp.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/log.h"
#include "ovlbox/seccomp.h"

#define PROFILE_MAX_BYTES (4u << 20)
#define FIELD_MAX	  192

struct ovl_seccomp {
	scmp_filter_ctx ctx;
	struct sock_filter *insns; /* compiled program */
	unsigned short len;
	unsigned int flags; /* SECCOMP_FILTER_FLAG_* passed to seccomp(2) */
};

void ovl_seccomp_free(struct ovl_seccomp *f)
{
	if (f == NULL)
		return;
	if (f->ctx)
		seccomp_release(f->ctx);
	free(f->insns);
	free(f);
}

static void seccomp_freep(struct ovl_seccomp **f)
{
	ovl_seccomp_free(*f);
}
#define cleanup_seccomp __attribute__((cleanup(seccomp_freep)))

static void json_freep(ovl_json **j)
{
	ovl_json_free(*j);
}
#define cleanup_json __attribute__((cleanup(json_freep)))

/* A new filter context. Whatever the profile, a system call made with an architecture the
 * filter was not built for kills the process: its numbers mean other calls (int 0x80 from an
 * x86_64 process uses the i386 table, where 21 is mount, not access), so letting it through
 * would bypass every rule. libseccomp's default is to kill only the thread. */
static int new_filter(uint32_t def_action, struct ovl_seccomp **out, ovl_error_t *err)
{
	cleanup_seccomp struct ovl_seccomp *f = xcalloc(1, sizeof(*f));
	f->ctx = seccomp_init(def_action);
	if (f->ctx == NULL)
		return ovl_error(err, EINVAL, "seccomp_init");
	int r = seccomp_attr_set(f->ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r < 0)
		return ovl_error(err, -r, "seccomp: setting the bad-architecture action");
	/* A binary tree of syscall numbers instead of a linear chain: large allow-lists (the
	 * containers-common profile has ~450 names) cost O(log n) per system call. */
	r = seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r < 0)
		return ovl_error(err, -r, "seccomp: setting the optimization level");
	*out = ovl_steal_ptr(&f);
	return 0;
}

/* libseccomp 2.5 can only export to a file descriptor: a memfd. */
int ovl_seccomp_compile(struct ovl_seccomp *f, ovl_error_t *err)
{
	if (f->insns)
		return 0;
	cleanup_close int fd = memfd_create("ovlbox-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return ovl_error(err, errno, "seccomp: memfd_create");
	int r = seccomp_export_bpf(f->ctx, fd);
	if (r < 0)
		return ovl_error(err, -r, "seccomp: generating BPF");
	off_t size = lseek(fd, 0, SEEK_END);
	if (size < 0)
		return ovl_error(err, errno, "seccomp: lseek");
	size_t n = (size_t)size / sizeof(struct sock_filter);
	if (n == 0 || (size_t)size % sizeof(struct sock_filter) != 0)
		return ovl_error(err, 0, "seccomp: libseccomp produced a truncated program");
	if (n > BPF_MAXINSNS)
		return ovl_error(
		    err, 0, "seccomp: filter too large: %zu instructions (the kernel allows %d)", n,
		    BPF_MAXINSNS);
	cleanup_free struct sock_filter *insns = xcalloc(n, sizeof(struct sock_filter));
	if (pread(fd, insns, (size_t)size, 0) != size)
		return ovl_error(err, errno ? errno : EIO, "seccomp: reading the BPF program");
	f->insns = ovl_steal_ptr(&insns);
	f->len = (unsigned short)n;
	return 0;
}

size_t ovl_seccomp_insns(const struct ovl_seccomp *f)
{
	return f ? f->len : 0;
}

const struct sock_filter *ovl_seccomp_program(const struct ovl_seccomp *f)
{
	return f ? f->insns : NULL;
}

int ovl_seccomp_from_program(const struct sock_filter *insns, size_t n, struct ovl_seccomp **out,
			     ovl_error_t *err)
{
	if (n == 0 || n > BPF_MAXINSNS)
		return ovl_error(err, EINVAL, "seccomp: a program of %zu instructions", n);
	struct ovl_seccomp *f = xcalloc(1, sizeof(*f));
	f->insns = xcalloc(n, sizeof(*insns));
	memcpy(f->insns, insns, n * sizeof(*insns));
	f->len = (unsigned short)n;
	*out = f;
	return 0;
}

int ovl_seccomp_export_pfc(const struct ovl_seccomp *f, int fd, ovl_error_t *err)
{
	if (f->ctx == NULL)
		return ovl_error(err, 0, "seccomp: a precompiled filter has no pseudo filter code");
	int r = seccomp_export_pfc(f->ctx, fd);
	if (r < 0)
		return ovl_error(err, -r, "seccomp: exporting pseudo filter code");
	return 0;
}

int ovl_seccomp_install(struct ovl_seccomp *f, ovl_error_t *err)
{
	if (ovl_seccomp_compile(f, err) < 0)
		return -1;
	struct sock_fprog prog = {.len = f->len, .filter = f->insns};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return ovl_error(err, errno, "prctl(PR_SET_NO_NEW_PRIVS)");
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, f->flags, &prog);
	if (r < 0)
		return ovl_error(err, errno, "installing the seccomp filter");
	if (r > 0) /* TSYNC: the id of a thread that could not be synchronized */
		return ovl_error(err, 0, "installing the seccomp filter: thread %ld cannot sync",
				 r);
	return 0;
}

/* ---- the built-in profile ---- */

const char *const ovl_seccomp_default_deny[] = {
    /* mounts and root changes: the sandbox's view of the filesystem is fixed */
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    /* other processes' memory */
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    /* the kernel itself */
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "perf_event_open",
    /* the kernel keyring is not namespaced */
    "keyctl",
    "add_key",
    "request_key",
    "init_module",
    "finit_module",
    "delete_module",
    /* new namespaces (clone with CLONE_NEW* is handled by argument) */
    "unshare",
    "setns",
    /* host-wide state */
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
    /* The new mount API (5.2+) and quotactl_fd (5.14+) do what mount/quotactl do: denying
     * only the old calls would leave the door open. */
    "fsopen",
    "fsconfig",
    "fsmount",
    "move_mount",
    "open_tree",
    "fspick",
    "mount_setattr",
    "open_tree_attr",
    "quotactl_fd",
    /* the old umount(2); only 32-bit architectures have it */
    "umount",
    NULL,
};

/* System calls newer than some libseccomp releases, by number. Every call added since Linux
 * 5.1 has one number on all architectures that use the generic table plus x86_64 and i386
 * (not alpha, mips, ia64), so the number is only trusted on the architectures listed here. */
static long fallback_nr(const char *name)
{
#if (defined(__x86_64__) && !defined(__ILP32__)) || defined(__aarch64__) ||                        \
    (defined(__riscv) && __riscv_xlen == 64)
	static const struct {
		const char *name;
		long nr;
	} table[] = {
	    {"open_tree", 428},	  {"move_mount", 429},	   {"fsopen", 430}, {"fsconfig", 431},
	    {"fsmount", 432},	  {"fspick", 433},	   {"clone3", 435}, {"mount_setattr", 442},
	    {"quotactl_fd", 443}, {"open_tree_attr", 467},
	};
	for (size_t i = 0; i < N_ELEMENTS(table); i++)
		if (strcmp(table[i].name, name) == 0)
			return table[i].nr;
#else
	(void)name;
#endif
	return -1;
}

/* The number to give libseccomp for a built-in rule; -1 if neither it nor we know the call
 * (then it cannot be filtered: warn, the rest of the profile still stands). */
static int builtin_nr(const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		nr = (int)fallback_nr(name);
	if (nr == __NR_SCMP_ERROR)
		ovl_warn("built-in seccomp profile: libseccomp does not know \"%s\": not filtered",
			 name);
	return nr;
}

static int deny(struct ovl_seccomp *f, const char *name, int errnum, unsigned n,
		const struct scmp_arg_cmp *cmp, ovl_error_t *err)
{
	int nr = builtin_nr(name);
	if (nr == __NR_SCMP_ERROR)
		return 0;
	/* A negative pseudo number is a call the native architecture does not have (umount on
	 * x86_64): libseccomp adds nothing for it, which is right. */
	int r = seccomp_rule_add_array(f->ctx, SCMP_ACT_ERRNO((unsigned)errnum), nr, n, cmp);
	if (r < 0)
		return ovl_error(err, -r, "built-in seccomp profile: %s", name);
	return 0;
}

/* clone's flags are its first argument, except on s390 where the stack comes first. */
#if defined(__s390__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

int ovl_seccomp_default(struct ovl_seccomp **out, ovl_error_t *err)
{
	/* Only the native architecture is in the filter; new_filter() makes every other one
	 * (i386 via int 0x80, x32 via the 0x40000000 bit) kill the process. Adding i386 would
	 * mean also denying its extra entry points (umount, vm86, socketcall/ipc multiplexers)
	 * and trusting the compat layer; build tools are native binaries. A profile file with
	 * the other architectures (containers-common's) serves actions that need 32-bit code. */
	cleanup_seccomp struct ovl_seccomp *f = NULL;
	if (new_filter(SCMP_ACT_ALLOW, &f, err) < 0)
		return -1;
	for (size_t i = 0; ovl_seccomp_default_deny[i]; i++)
		if (deny(f, ovl_seccomp_default_deny[i], EPERM, 0, NULL, err) < 0)
			return -1;
	/* clone() with any namespace flag, one rule per flag: libseccomp has no "masked not
	 * equal", and rules on one call are OR-ed. CLONE_NEWTIME (0x80) cannot be passed to clone
	 * (the low byte is the exit signal); unshare and clone3 cover it. */
	static const unsigned long ns_flags[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS,
						 CLONE_NEWIPC, CLONE_NEWUSER,	CLONE_NEWPID,
						 CLONE_NEWNET};
	for (size_t i = 0; i < N_ELEMENTS(ns_flags); i++) {
		struct scmp_arg_cmp c =
		    SCMP_CMP(CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]);
		if (deny(f, "clone", EPERM, 1, &c, err) < 0)
			return -1;
	}
	/* clone3() passes its flags in a struct in memory, which seccomp cannot read. ENOSYS
	 * (not EPERM) makes glibc and others fall back to clone(), whose flags we can check. */
	if (deny(f, "clone3", ENOSYS, 0, NULL, err) < 0)
		return -1;
	/* ioctl TIOCSTI pushes input into a terminal, TIOCLINUX's selection paste too, and the
	 * caller's shell runs it after ovlbox exits (bubblewrap's CVE-2017-5226). The action has
	 * no controlling terminal (setsid), which the kernel requires, but CAP_SYS_ADMIN
	 * (--cap-add) lifts that check. The request is an unsigned int: only its low 32 bits are
	 * compared, or one with high bits set would pass here and reach the kernel as TIOCSTI. */
	static const unsigned long tty_inject[] = {TIOCSTI, TIOCLINUX};
	for (size_t i = 0; i < N_ELEMENTS(tty_inject); i++) {
		struct scmp_arg_cmp c =
		    SCMP_CMP(1, SCMP_CMP_MASKED_EQ, 0xffffffffUL, tty_inject[i]);
		if (deny(f, "ioctl", EPERM, 1, &c, err) < 0)
			return -1;
	}
	*out = ovl_steal_ptr(&f);
	return 0;
}

/* ---- profile files ---- */

struct loader {
	const char *what; /* "seccomp profile PATH" */
	const char *base; /* "" or "linux.seccomp." */
	const struct ovl_capset *keep;
	struct ovl_seccomp *f;
	uint32_t def_action;
	uint32_t native;	 /* SCMP_ARCH_* */
	const char *native_name; /* as includes/excludes.arches spell it ("amd64") */
	unsigned kmajor, kminor; /* running kernel, for includes.minKernel */
};

static const char *fieldf(char buf[FIELD_MAX], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *fieldf(char buf[FIELD_MAX], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, FIELD_MAX, fmt, ap);
	va_end(ap);
	return buf;
}

/* A member; JSON null counts as absent (containers-common writes "args": null). */
static const ovl_json *member(const ovl_json *obj, const char *key)
{
	const ovl_json *v = ovl_json_get(obj, key);
	return ovl_json_type(v) == OVL_JSON_NULL ? NULL : v;
}

static int expect(const ovl_json *v, enum ovl_json_type want, const char *field, ovl_error_t *err)
{
	enum ovl_json_type got = ovl_json_type(v);
	if (got == want)
		return 0;
	return ovl_error(
	    err, 0, "%s: expected a%s %s, got a%s %s", field,
	    want == OVL_JSON_ARRAY || want == OVL_JSON_OBJECT ? "n" : "", ovl_json_type_name(want),
	    got == OVL_JSON_ARRAY || got == OVL_JSON_OBJECT ? "n" : "", ovl_json_type_name(got));
}

/* Optional member of a given type: 1 present, 0 absent, -1 wrong type. */
static int opt(const ovl_json *obj, const char *key, enum ovl_json_type want, const char *field,
	       const ovl_json **out, ovl_error_t *err)
{
	const ovl_json *v = member(obj, key);
	*out = v;
	if (v == NULL)
		return 0;
	return expect(v, want, field, err) < 0 ? -1 : 1;
}

static const struct {
	const char *name;
	uint32_t action;
	bool takes_errno;
} actions[] = {
    {"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, false},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP, false},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG, false},
};

/* "EPERM" or "1" -> 1. Docker's profiles spell errno by name when errnoRet is absent. */
static int errno_from_string(const char *s, unsigned long *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long n = strtoul(s, &end, 10);
	if (s[0] >= '0' && s[0] <= '9' && errno == 0 && *end == '\0') {
		*out = n;
		return 0;
	}
	for (int e = 1; e < 4096; e++) {
		const char *name = strerrorname_np(e);
		if (name && strcmp(name, s) == 0) {
			*out = (unsigned long)e;
			return 0;
		}
	}
	return -1;
}

/* The errno of an ERRNO/TRACE action: errnoRet (number), else errno (name or number), else
 * EPERM (the OCI spec's default). Either key on another action is an error, as in runc. */
static int parse_errno(const struct loader *l, const ovl_json *obj, const char *prefix,
		       const char *ret_key, const char *name_key, bool takes_errno, uint32_t action,
		       uint32_t *out, ovl_error_t *err)
{
	char field[FIELD_MAX];
	const ovl_json *ret = member(obj, ret_key), *name = member(obj, name_key);
	uint64_t n = EPERM;
	const char *key = ret ? ret_key : name_key;
	fieldf(field, "%s%s%s", l->base, prefix, key);
	if (ret != NULL) {
		if (ovl_json_uint64(ret, field, &n, err) < 0)
			return -1;
	} else if (name != NULL) {
		const char *s;
		unsigned long e;
		if (ovl_json_string(name, field, &s, err) < 0)
			return -1;
		if (errno_from_string(s, &e) < 0)
			return ovl_error(err, 0, "%s: unknown errno \"%s\"", field, ovl_qp(s));
		n = e;
	}
	if ((ret || name) && !takes_errno)
		return ovl_error(err, 0, "%s: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE",
				 field);
	/* The kernel returns at most 4095 as an errno; TRACE passes 16 bits to the tracer. */
	uint64_t max = action == SCMP_ACT_ERRNO(0) ? 4095 : 0xffff;
	if (n > max)
		return ovl_error(err, 0, "%s: out of range (0..%llu): %llu", field,
				 (unsigned long long)max, (unsigned long long)n);
	*out = takes_errno ? action | (uint32_t)n : action;
	return 0;
}

/* prefix: "" for the default action (keys defaultAction, defaultErrnoRet, defaultErrno),
 * "syscalls[N]." for a rule (action, errnoRet, errno). */
static int parse_action(const struct loader *l, const ovl_json *obj, const char *prefix,
			bool is_default, uint32_t *out, ovl_error_t *err)
{
	char field[FIELD_MAX];
	const char *key = is_default ? "defaultAction" : "action";
	fieldf(field, "%s%s%s", l->base, prefix, key);
	const ovl_json *v = member(obj, key);
	const char *s;
	if (v == NULL)
		return ovl_error(err, 0, "%s: missing", field);
	if (ovl_json_string(v, field, &s, err) < 0)
		return -1;
	if (strcmp(s, "SCMP_ACT_NOTIFY") == 0)
		return ovl_error(err, 0,
				 "%s: SCMP_ACT_NOTIFY is not supported (ovlbox has no "
				 "seccomp listener)",
				 field);
	for (size_t i = 0; i < N_ELEMENTS(actions); i++)
		if (strcmp(actions[i].name, s) == 0)
			return parse_errno(l, obj, prefix,
					   is_default ? "defaultErrnoRet" : "errnoRet",
					   is_default ? "defaultErrno" : "errno",
					   actions[i].takes_errno, actions[i].action, out, err);
	return ovl_error(err, 0, "%s: unknown action \"%s\"", field, ovl_qp(s));
}

/* "SCMP_ARCH_X86_64" -> libseccomp token; 0 when libseccomp does not know it. -1 on a name
 * that is not an architecture name at all. */
static int arch_token(const char *name, uint32_t *out)
{
	char lower[32];
	if (strncmp(name, "SCMP_ARCH_", 10) != 0 || strlen(name + 10) >= sizeof(lower))
		return -1;
	size_t i = 0;
	for (const char *p = name + 10; *p; p++)
		lower[i++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	lower[i] = '\0';
	*out = seccomp_arch_resolve_name(lower);
	return 0;
}

static int add_arch(const struct loader *l, const ovl_json *v, const char *field, ovl_error_t *err)
{
	const char *name;
	uint32_t token;
	if (ovl_json_string(v, field, &name, err) < 0)
		return -1;
	if (arch_token(name, &token) < 0)
		return ovl_error(err, 0, "%s: unknown architecture \"%s\"", field, ovl_qp(name));
	if (token == 0) {
		/* Not one we can run on; left out of the filter it kills anyway (bad arch). */
		ovl_warn("%s: %s: architecture \"%s\" unknown to libseccomp, skipped", l->what,
			 field, ovl_qp(name));
		return 0;
	}
	int r = seccomp_arch_add(l->f->ctx, token);
	if (r < 0 && r != -EEXIST)
		return ovl_error(err, -r, "%s: adding architecture \"%s\"", field, ovl_qp(name));
	return 0;
}

/* architectures (OCI, Docker legacy) or archMap (Docker): the native arch's entry brings its
 * sub-architectures. The native arch is always in the filter. */
static int parse_arches(const struct loader *l, const ovl_json *p, ovl_error_t *err)
{
	char field[FIELD_MAX], sub[FIELD_MAX];
	const ovl_json *list, *map;
	if (opt(p, "architectures", OVL_JSON_ARRAY, fieldf(field, "%sarchitectures", l->base),
		&list, err) < 0 ||
	    opt(p, "archMap", OVL_JSON_ARRAY, fieldf(field, "%sarchMap", l->base), &map, err) < 0)
		return -1;
	if (ovl_json_len(list) > 0 && ovl_json_len(map) > 0)
		return ovl_error(err, 0, "%sarchMap: not allowed together with architectures",
				 l->base);
	for (size_t i = 0; i < ovl_json_len(list); i++)
		if (add_arch(l, ovl_json_at(list, i),
			     fieldf(field, "%sarchitectures[%zu]", l->base, i), err) < 0)
			return -1;
	for (size_t i = 0; i < ovl_json_len(map); i++) {
		const ovl_json *e = ovl_json_at(map, i), *subs, *a;
		const char *name;
		uint32_t token = 0;
		fieldf(field, "%sarchMap[%zu]", l->base, i);
		if (expect(e, OVL_JSON_OBJECT, field, err) < 0)
			return -1;
		a = member(e, "architecture");
		fieldf(sub, "%s.architecture", field);
		if (a == NULL)
			return ovl_error(err, 0, "%s: missing", sub);
		if (ovl_json_string(a, sub, &name, err) < 0)
			return -1;
		if (arch_token(name, &token) < 0)
			return ovl_error(err, 0, "%s: unknown architecture \"%s\"", sub,
					 ovl_qp(name));
		if (opt(e, "subArchitectures", OVL_JSON_ARRAY,
			fieldf(sub, "%s.subArchitectures", field), &subs, err) < 0)
			return -1;
		if (token != l->native)
			continue;
		for (size_t j = 0; j < ovl_json_len(subs); j++)
			if (add_arch(l, ovl_json_at(subs, j),
				     fieldf(sub, "%s.subArchitectures[%zu]", field, j), err) < 0)
				return -1;
	}
	return 0;
}

/* flags (OCI): passed to seccomp(2). */
static int parse_flags(struct loader *l, const ovl_json *p, ovl_error_t *err)
{
	static const struct {
		const char *name;
		unsigned int flag;
	} known[] = {
	    {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
	    {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
	    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
	    /* only changes how a listener waits; without one it means nothing */
	    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 0},
	};
	char field[FIELD_MAX];
	const ovl_json *list, *listener;
	if (opt(p, "flags", OVL_JSON_ARRAY, fieldf(field, "%sflags", l->base), &list, err) < 0)
		return -1;
	for (size_t i = 0; i < ovl_json_len(list); i++) {
		const char *s;
		size_t k = 0;
		fieldf(field, "%sflags[%zu]", l->base, i);
		if (ovl_json_string(ovl_json_at(list, i), field, &s, err) < 0)
			return -1;
		while (k < N_ELEMENTS(known) && strcmp(known[k].name, s) != 0)
			k++;
		if (k == N_ELEMENTS(known))
			return ovl_error(err, 0, "%s: unknown flag \"%s\"", field, ovl_qp(s));
		l->f->flags |= known[k].flag;
	}
	const char *path;
	if (opt(p, "listenerPath", OVL_JSON_STRING, fieldf(field, "%slistenerPath", l->base),
		&listener, err) < 0)
		return -1;
	if (listener && ovl_json_string(listener, field, &path, err) == 0 && path[0] != '\0')
		return ovl_error(err, 0, "%s: not supported (ovlbox has no seccomp listener)",
				 field);
	return 0;
}

static int parse_args(const struct loader *l, const ovl_json *rule, const char *prefix,
		      struct scmp_arg_cmp cmp[6], unsigned *n, ovl_error_t *err)
{
	static const struct {
		const char *name;
		enum scmp_compare op;
	} ops[] = {
	    {"SCMP_CMP_NE", SCMP_CMP_NE},
	    {"SCMP_CMP_LT", SCMP_CMP_LT},
	    {"SCMP_CMP_LE", SCMP_CMP_LE},
	    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
	    {"SCMP_CMP_GE", SCMP_CMP_GE},
	    {"SCMP_CMP_GT", SCMP_CMP_GT},
	    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
	};
	char field[FIELD_MAX], sub[FIELD_MAX];
	const ovl_json *args;
	unsigned seen = 0; /* bit i: argument i already compared */
	if (opt(rule, "args", OVL_JSON_ARRAY, fieldf(field, "%s%sargs", l->base, prefix), &args,
		err) < 0)
		return -1;
	*n = 0;
	for (size_t j = 0; j < ovl_json_len(args); j++) {
		const ovl_json *a = ovl_json_at(args, j), *v;
		uint64_t index, value, value2 = 0;
		const char *op;
		size_t k = 0;
		fieldf(field, "%s%sargs[%zu]", l->base, prefix, j);
		if (expect(a, OVL_JSON_OBJECT, field, err) < 0)
			return -1;
		static const char *const required[] = {"index", "value", "op"};
		for (size_t r = 0; r < 3; r++)
			if (member(a, required[r]) == NULL)
				return ovl_error(err, 0, "%s.%s: missing", field, required[r]);
		if (ovl_json_uint64(member(a, "index"), fieldf(sub, "%s.index", field), &index,
				    err) < 0 ||
		    ovl_json_uint64(member(a, "value"), fieldf(sub, "%s.value", field), &value,
				    err) < 0 ||
		    ovl_json_string(member(a, "op"), fieldf(sub, "%s.op", field), &op, err) < 0)
			return -1;
		v = member(a, "valueTwo");
		if (v && ovl_json_uint64(v, fieldf(sub, "%s.valueTwo", field), &value2, err) < 0)
			return -1;
		if (index > 5)
			return ovl_error(err, 0, "%s.index: out of range (0..5): %llu", field,
					 (unsigned long long)index);
		/* libseccomp takes one comparison per argument and rule (runc turns more into
		 * separate, OR-ed rules, which is not what the profile says): refuse. */
		if (seen & (1u << index))
			return ovl_error(err, 0,
					 "%s.index: argument %llu is already compared in this rule",
					 field, (unsigned long long)index);
		seen |= 1u << index;
		while (k < N_ELEMENTS(ops) && strcmp(ops[k].name, op) != 0)
			k++;
		if (k == N_ELEMENTS(ops))
			return ovl_error(err, 0, "%s.op: unknown operator \"%s\"", field,
					 ovl_qp(op));
		cmp[(*n)++] = (struct scmp_arg_cmp){
		    .arg = (unsigned)index, .op = ops[k].op, .datum_a = value, .datum_b = value2};
	}
	return 0;
}

/* includes / excludes: {caps: [...], arches: [...], minKernel: "4.8"} (Docker semantics: a
 * rule applies when the process keeps all includes.caps and none of excludes.caps, the native
 * arch is in includes.arches and not in excludes.arches, and the kernel is >= minKernel).
 * Everything is validated even when an earlier condition already decided. */
static int match_caps(const struct loader *l, const ovl_json *list, const char *field,
		      bool want_all, bool *result, ovl_error_t *err)
{
	char sub[FIELD_MAX];
	bool all = true, any = false;
	for (size_t i = 0; i < ovl_json_len(list); i++) {
		const char *name;
		int cap;
		cleanup_error ovl_error_t ignored = NULL;
		if (ovl_json_string(ovl_json_at(list, i), fieldf(sub, "%s[%zu]", field, i), &name,
				    err) < 0)
			return -1;
		/* A capability unknown here (newer than libcap/kernel) cannot be kept. */
		bool held =
		    ovl_cap_from_name(name, &cap, &ignored) == 0 && ovl_capset_has(l->keep, cap);
		all = all && held;
		any = any || held;
	}
	*result = want_all ? all : any;
	return 0;
}

static int match_arches(const struct loader *l, const ovl_json *list, const char *field,
			bool *found, ovl_error_t *err)
{
	char sub[FIELD_MAX];
	*found = false;
	for (size_t i = 0; i < ovl_json_len(list); i++) {
		const char *name;
		if (ovl_json_string(ovl_json_at(list, i), fieldf(sub, "%s[%zu]", field, i), &name,
				    err) < 0)
			return -1;
		*found = *found || (l->native_name && strcmp(name, l->native_name) == 0);
	}
	return 0;
}

static int check_cond(const struct loader *l, const ovl_json *rule, const char *prefix,
		      bool include, bool *applies, ovl_error_t *err)
{
	char field[FIELD_MAX], sub[FIELD_MAX];
	const char *key = include ? "includes" : "excludes";
	const ovl_json *c, *caps, *arches, *mk;
	fieldf(field, "%s%s%s", l->base, prefix, key);
	if (opt(rule, key, OVL_JSON_OBJECT, field, &c, err) < 0)
		return -1;
	if (c == NULL)
		return 0;
	bool caps_hit = false, arch_hit = false;
	if (opt(c, "caps", OVL_JSON_ARRAY, fieldf(sub, "%s.caps", field), &caps, err) < 0 ||
	    match_caps(l, caps, sub, include, &caps_hit, err) < 0 ||
	    opt(c, "arches", OVL_JSON_ARRAY, fieldf(sub, "%s.arches", field), &arches, err) < 0 ||
	    match_arches(l, arches, sub, &arch_hit, err) < 0)
		return -1;
	if (include) {
		if (ovl_json_len(caps) > 0 && !caps_hit)
			*applies = false;
		if (ovl_json_len(arches) > 0 && !arch_hit)
			*applies = false;
		const char *s;
		unsigned maj, min;
		int used = 0;
		if (opt(c, "minKernel", OVL_JSON_STRING, fieldf(sub, "%s.minKernel", field), &mk,
			err) < 0)
			return -1;
		if (mk && ovl_json_string(mk, sub, &s, err) == 0) {
			if (sscanf(s, "%u.%u%n", &maj, &min, &used) != 2 ||
			    (s[used] != '\0' && s[used] != '.'))
				return ovl_error(err, 0, "%s: invalid kernel version \"%s\"", sub,
						 ovl_qp(s));
			if (l->kmajor < maj || (l->kmajor == maj && l->kminor < min))
				*applies = false;
		}
	} else {
		if (caps_hit || arch_hit)
			*applies = false;
	}
	return 0;
}

static int add_rule(const struct loader *l, const ovl_json *nv, const char *field, uint32_t action,
		    unsigned n, const struct scmp_arg_cmp *cmp, bool applies, ovl_error_t *err)
{
	const char *name;
	if (ovl_json_string(nv, field, &name, err) < 0)
		return -1;
	/* A rule equal to the default action changes nothing (libseccomp refuses it). */
	if (!applies || action == l->def_action)
		return 0;
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR) {
		ovl_warn("%s: %s: unknown system call \"%s\", skipped", l->what, field,
			 ovl_qp(name));
		return 0;
	}
	int r = seccomp_rule_add_array(l->f->ctx, action, nr, n, cmp);
	if (r < 0)
		return ovl_error(err, -r, "%s: adding the rule for \"%s\"", field, ovl_qp(name));
	return 0;
}

static int parse_rule(const struct loader *l, const ovl_json *rule, size_t i, ovl_error_t *err)
{
	char prefix[FIELD_MAX], field[FIELD_MAX];
	fieldf(prefix, "syscalls[%zu].", i);
	if (expect(rule, OVL_JSON_OBJECT, fieldf(field, "%ssyscalls[%zu]", l->base, i), err) < 0)
		return -1;
	const ovl_json *names, *name;
	if (opt(rule, "names", OVL_JSON_ARRAY, fieldf(field, "%s%snames", l->base, prefix), &names,
		err) < 0)
		return -1;
	name = member(rule, "name");
	if (names && name)
		return ovl_error(err, 0, "%s%sname: not allowed together with names", l->base,
				 prefix);
	if (!names && !name)
		return ovl_error(err, 0, "%s%snames: missing", l->base, prefix);
	uint32_t action;
	struct scmp_arg_cmp cmp[6];
	unsigned n;
	bool applies = true;
	if (parse_action(l, rule, prefix, false, &action, err) < 0 ||
	    parse_args(l, rule, prefix, cmp, &n, err) < 0 ||
	    check_cond(l, rule, prefix, true, &applies, err) < 0 ||
	    check_cond(l, rule, prefix, false, &applies, err) < 0)
		return -1;
	if (name)
		return add_rule(l, name, fieldf(field, "%s%sname", l->base, prefix), action, n, cmp,
				applies, err);
	for (size_t j = 0; j < ovl_json_len(names); j++)
		if (add_rule(l, ovl_json_at(names, j),
			     fieldf(field, "%s%snames[%zu]", l->base, prefix, j), action, n, cmp,
			     applies, err) < 0)
			return -1;
	return 0;
}

/* The name Docker profiles use for the native arch in includes/excludes.arches (what
 * libseccomp-golang prints: runtime.GOARCH for most). */
static const char *go_arch_name(uint32_t token)
{
	static const struct {
		uint32_t token;
		const char *name;
	} names[] = {
	    {SCMP_ARCH_X86_64, "amd64"},
	    {SCMP_ARCH_X86, "x86"},
	    {SCMP_ARCH_X32, "x32"},
	    {SCMP_ARCH_ARM, "arm"},
	    {SCMP_ARCH_AARCH64, "arm64"},
	    {SCMP_ARCH_MIPS, "mips"},
	    {SCMP_ARCH_MIPS64, "mips64"},
	    {SCMP_ARCH_MIPS64N32, "mips64n32"},
	    {SCMP_ARCH_MIPSEL, "mipsel"},
	    {SCMP_ARCH_MIPSEL64, "mipsel64"},
	    {SCMP_ARCH_MIPSEL64N32, "mipsel64n32"},
	    {SCMP_ARCH_PPC, "ppc"},
	    {SCMP_ARCH_PPC64, "ppc64"},
	    {SCMP_ARCH_PPC64LE, "ppc64le"},
	    {SCMP_ARCH_S390, "s390"},
	    {SCMP_ARCH_S390X, "s390x"},
	    {SCMP_ARCH_RISCV64, "riscv64"},
	};
	for (size_t i = 0; i < N_ELEMENTS(names); i++)
		if (names[i].token == token)
			return names[i].name;
	return NULL;
}

static int load(struct loader *l, const ovl_json *p, ovl_error_t *err)
{
	char field[FIELD_MAX];
	const ovl_json *rules;
	struct utsname u;
	if (uname(&u) == 0 && sscanf(u.release, "%u.%u", &l->kmajor, &l->kminor) != 2)
		l->kmajor = l->kminor = 0;
	l->native = seccomp_arch_native();
	l->native_name = go_arch_name(l->native);
	if (l->base[0] && expect(p, OVL_JSON_OBJECT, "linux.seccomp", err) < 0)
		return -1;
	if (ovl_json_type(p) != OVL_JSON_OBJECT)
		return ovl_error(err, 0, "expected a JSON object, got %s",
				 ovl_json_type_phrase(ovl_json_type(p)));
	if (parse_action(l, p, "", true, &l->def_action, err) < 0 ||
	    new_filter(l->def_action, &l->f, err) < 0 || parse_flags(l, p, err) < 0 ||
	    parse_arches(l, p, err) < 0 ||
	    opt(p, "syscalls", OVL_JSON_ARRAY, fieldf(field, "%ssyscalls", l->base), &rules, err) <
		0)
		return -1;
	for (size_t i = 0; i < ovl_json_len(rules); i++)
		if (parse_rule(l, ovl_json_at(rules, i), i, err) < 0)
			return -1;
	return 0;
}

int ovl_seccomp_load_json(const ovl_json *profile, const char *what, const struct ovl_capset *keep,
			  struct ovl_seccomp **out, ovl_error_t *err)
{
	struct loader l = {.what = what, .base = "", .keep = keep};
	/* A whole OCI config.json: use its linux.seccomp. */
	const ovl_json *linux_obj = ovl_json_get(profile, "linux");
	if (ovl_json_type(linux_obj) == OVL_JSON_OBJECT) {
		l.base = "linux.seccomp.";
		profile = member(linux_obj, "seccomp");
		if (profile == NULL) {
			ovl_error(err, 0, "linux.seccomp: missing");
			return ovl_error_wrap(err, "%s", what);
		}
	}
	if (load(&l, profile, err) < 0) {
		ovl_seccomp_free(l.f);
		return ovl_error_wrap(err, "%s", what);
	}
	*out = l.f;
	return 0;
}

int ovl_seccomp_load_file(const char *path, const struct ovl_capset *keep, struct ovl_seccomp **out,
			  ovl_error_t *err)
{
	cleanup_free char *what = xasprintf("seccomp profile %s", ovl_qp(path));
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ovl_error(err, errno, "%s", what);
	cleanup_json ovl_json *root = ovl_json_parse_fd(fd, PROFILE_MAX_BYTES, what, err);
	if (root == NULL)
		return -1;
	return ovl_seccomp_load_json(root, what, keep, out, err);
}

int ovl_seccomp_from_arg(const char *arg, const struct ovl_capset *keep, struct ovl_seccomp **out,
			 ovl_error_t *err)
{
	*out = NULL;
	if (strcmp(arg, "none") == 0)
		return 0;
	if (strcmp(arg, "default") == 0)
		return ovl_seccomp_default(out, err);
	return ovl_seccomp_load_file(arg, keep, out, err);
}
