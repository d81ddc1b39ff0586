/* Workspace entries whose owner a rootless run cannot map.
 *
 * A run as non-root maps one uid and one gid into its user namespace (the caller's, as 0:0). An
 * entry owned by any other uid or gid is seen there with the overflow ids, and overlayfs cannot
 * copy it up: the action gets EOVERFLOW when it writes to, renames or deletes it. Mapping more
 * ids would not help: the owners met in practice (root, group root, other users) are not in a
 * user's subordinate id range. These walks find such entries without following symlinks. */
#ifndef OVLBOX_OWNERS_H
#define OVLBOX_OWNERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Fails unless the directory ws_fd (the workspace, ws its path for messages) is owned by
 * uid:gid. One fstat: a run does it every time. */
int ovl_owners_check_root(int ws_fd, const char *ws, uid_t uid, gid_t gid, ovl_error_t *err);

/* Walks the whole workspace below ws_fd and fails naming the first entry not owned by uid:gid
 * (by its path in the workspace), or one it cannot read. */
int ovl_owners_refuse(int ws_fd, uid_t uid, gid_t gid, ovl_error_t *err);

struct ovl_owner_entry {
	char *path; /* relative to the workspace, bytes */
	uid_t uid;
	gid_t gid;
};

struct ovl_owners {
	struct ovl_owner_entry *first; /* the first entries found, in walk order */
	size_t n;		       /* how many of them (at most the max asked for) */
	uint64_t total;		       /* every entry found */
};

/* Walks the whole workspace below ws_fd and fills out with the entries not owned by uid:gid:
 * the first max of them and the count of all. Directories it cannot read are passed over (their
 * entries are not counted). Free out with ovl_owners_free(), also after a failure. */
int ovl_owners_collect(int ws_fd, const char *ws, uid_t uid, gid_t gid, size_t max,
		       struct ovl_owners *out, ovl_error_t *err);
void ovl_owners_free(struct ovl_owners *o);

#endif
