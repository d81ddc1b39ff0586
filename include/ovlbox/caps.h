/* Capabilities: which ones an action keeps (--cap-add), and dropping all the others.
 *
 * The set is plain data so other modules (seccomp includes/excludes) can consult it; only
 * ovl_caps_restrict() touches the process. Capability numbers are the kernel's (CAP_CHOWN = 0). */
#ifndef OVLBOX_CAPS_H
#define OVLBOX_CAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct ovl_capset {
	uint64_t bits; /* bit n set: keep capability n */
	bool all;      /* "ALL" was named: keep every capability the process has, skip the others */
};

/* Longest name ovl_cap_name() writes, NUL included ("CAP_CHECKPOINT_RESTORE", or a number). */
#define OVL_CAP_NAME_MAX 32

/* Highest capability number the running kernel knows (CAP_LAST_CAP of the kernel, not of the
 * headers we were built with). */
int ovl_cap_last(void);

/* Resolves "CAP_NET_RAW", "cap_net_raw" or "net_raw" (any case) to its number.
 * Error: unknown capability "NAME" / capability "NAME" is not supported by the running kernel. */
int ovl_cap_from_name(const char *name, int *cap, ovl_error_t *err);

/* "CAP_NET_RAW" for 13 (upper case, as /proc and the OCI spec spell it). Returns buf. */
const char *ovl_cap_name(int cap, char buf[OVL_CAP_NAME_MAX]);

/* Adds one --cap-add value: a capability name (see ovl_cap_from_name) or "ALL" (any case). */
int ovl_capset_add(struct ovl_capset *set, const char *name, ovl_error_t *err);

/* True when the set keeps cap (always true for an "ALL" set). */
bool ovl_capset_has(const struct ovl_capset *set, int cap);

/* Empties the bounding, permitted, effective, inheritable and ambient sets except for the caps
 * in keep (NULL = keep none), which stay in all five: in the ambient set too, so they survive
 * execve() as a non-root uid (e.g. an unprivileged uid inside a user namespace). Then sets
 * PR_SET_NO_NEW_PRIVS. Needs CAP_SETPCAP to shrink the bounding set (root in the sandbox's
 * user namespace has it). A named cap the process does not have in its permitted set is an
 * error ("keeping CAP_X: not in the permitted set"); with "ALL", missing caps are skipped.
 * Call it in the child, after the last privileged setup step and before seccomp. */
int ovl_caps_restrict(const struct ovl_capset *keep, ovl_error_t *err);

#endif
