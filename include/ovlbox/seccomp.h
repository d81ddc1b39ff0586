/* seccomp filters with libseccomp: profile files, the built-in default profile, installing.
 *
 * A filter is built up front (the loaders parse and add every rule, so profile errors show
 * where they are easy to report) and compiled to BPF by ovl_seccomp_compile(), which ovlbox run
 * calls in the action's process while the sandbox is being built; ovl_seccomp_install() then
 * only does prctl() + seccomp(), as the last step before execve(). The built-in profile is
 * compiled when ovlbox is built (sandbox/gen/), and a run loads that program with
 * ovl_seccomp_from_program(): the same rules, without compiling them with libseccomp at run time.
 *
 * Profile formats accepted by ovl_seccomp_load_file() (JSON, parsed through json.h):
 *   - OCI runtime-spec `linux.seccomp`: defaultAction, defaultErrnoRet, architectures, flags,
 *     syscalls[] {names, action, errnoRet, args[] {index, value, valueTwo, op}};
 *     a whole OCI config.json is accepted too (its linux.seccomp is used);
 *   - Docker / containers-common: the above plus archMap[] {architecture, subArchitectures},
 *     syscalls[].name (legacy single name), errno / defaultErrno (names or numbers, used when
 *     errnoRet / defaultErrnoRet are absent), includes / excludes {caps, arches, minKernel}.
 * Actions: SCMP_ACT_KILL (= KILL_THREAD), SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL_PROCESS,
 * SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG. SCMP_ACT_NOTIFY
 * and listenerPath are refused (ovlbox has no seccomp listener). Ops: SCMP_CMP_NE, _LT, _LE,
 * _EQ, _GE, _GT, _MASKED_EQ (value = mask, valueTwo = expected value).
 * An unknown syscall name is skipped with a warning (ovl_warn); anything malformed is an error
 * whose one-line message names the field:
 *   seccomp profile P: syscalls[3].action: unknown action "SCMP_ACT_FOO"
 * System calls of an architecture the filter does not list kill the process (SIGSYS): a 32-bit
 * (int 0x80) or x32 system call must not slip past a filter written for x86_64 numbers. */
#ifndef OVLBOX_SECCOMP_H
#define OVLBOX_SECCOMP_H

#include <linux/filter.h>
#include <stddef.h>

#include "caps.h"
#include "error.h"
#include "json.h"

struct ovl_seccomp; /* a compiled filter */

/* Loads the profile at path. keep: the capabilities the action will keep, for
 * includes.caps / excludes.caps (NULL = none). Errors start with "seccomp profile PATH: ". */
int ovl_seccomp_load_file(const char *path, const struct ovl_capset *keep, struct ovl_seccomp **out,
			  ovl_error_t *err);

/* Same from an already parsed profile (e.g. an OCI config's linux.seccomp); errors and
 * warnings start with "WHAT: ". */
int ovl_seccomp_load_json(const ovl_json *profile, const char *what, const struct ovl_capset *keep,
			  struct ovl_seccomp **out, ovl_error_t *err);

/* The built-in profile: allow by default; EPERM for every name in ovl_seccomp_default_deny,
 * and for clone() with any CLONE_NEW* flag; ENOSYS for clone3() (see lib/seccomp.c: its flags
 * are in memory seccomp cannot read, so libc must fall back to clone()). Native arch only. */
int ovl_seccomp_default(struct ovl_seccomp **out, ovl_error_t *err);

/* NULL-terminated: the system calls the default profile answers with EPERM whatever the
 * arguments, in the order the documentation lists them. clone and clone3 are not in it. */
extern const char *const ovl_seccomp_default_deny[];

/* The value of --seccomp: "default" (built-in), "none" (*out = NULL, nothing to install), or a
 * profile file (spell a file named "default" or "none" as ./default). */
int ovl_seccomp_from_arg(const char *arg, const struct ovl_capset *keep, struct ovl_seccomp **out,
			 ovl_error_t *err);

/* Compiles the filter if it is not yet, sets PR_SET_NO_NEW_PRIVS (the kernel requires it of an
 * unprivileged caller) and installs the filter on the calling thread. With the filter compiled,
 * no allocation unless it fails. Error: "installing the seccomp filter: <strerror>". */
int ovl_seccomp_install(struct ovl_seccomp *f, ovl_error_t *err);

/* Compiles the filter to BPF (once; again is a no-op). Allocates: call it before the last
 * steps of a child (after fork() of a single-threaded process is fine). Error: "seccomp: ...". */
int ovl_seccomp_compile(struct ovl_seccomp *f, ovl_error_t *err);

/* Number of BPF instructions once compiled (for logs and benchmarks); 0 before. */
size_t ovl_seccomp_insns(const struct ovl_seccomp *f);

/* The compiled program (NULL before ovl_seccomp_compile()), ovl_seccomp_insns() long: what a
 * build step embeds to skip libseccomp at run time (see ovl_seccomp_from_program()). */
const struct sock_filter *ovl_seccomp_program(const struct ovl_seccomp *f);

/* A filter from an already compiled program of n instructions (copied), e.g. the built-in
 * profile compiled at build time; it has no pseudo filter code. Error: "seccomp: ...". */
int ovl_seccomp_from_program(const struct sock_filter *insns, size_t n, struct ovl_seccomp **out,
			     ovl_error_t *err);

/* libseccomp's pseudo filter code of the filter, for debugging (not of a program-only filter:
 * error). */
int ovl_seccomp_export_pfc(const struct ovl_seccomp *f, int fd, ovl_error_t *err);

void ovl_seccomp_free(struct ovl_seccomp *f);

#endif
