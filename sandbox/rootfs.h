/* The action's view of the filesystem: the host root read-only, the workspace overlay writable,
 * fresh /proc, /dev, /tmp (and /sys with a private network namespace), plus the user's binds. */
#ifndef OVLBOX_ROOTFS_H
#define OVLBOX_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>

#include "ovlbox/error.h"

enum mount_kind {
	MNT_BIND,     /* --bind SRC[:DST]: writable */
	MNT_RO_BIND,  /* --ro-bind SRC[:DST] */
	MNT_TMPFS,    /* --tmpfs DIR */
	MNT_WRITABLE, /* --writable DIR: the host DIR, writable */
};

struct user_mount {
	enum mount_kind kind;
	const char *src; /* host path (absolute); NULL for tmpfs */
	const char *dst; /* path inside the sandbox (absolute) */
};

struct rootfs_config {
	const char *workspace; /* absolute path, where the overlay goes */
	int workspace_mnt;     /* the overlay, a detached mount (nosuid, nodev) */
	/* Non-NULL: a private network namespace, joined by calling join_net(join_net_data) right
	 * before a sysfs of it is mounted on /sys. */
	int (*join_net)(void *data, ovl_error_t *err);
	void *join_net_data;
	bool mknod; /* make /dev's nodes (real root) rather than bind the host's */
	const struct user_mount *mounts;
	size_t nmounts;
};

/* Builds the view in place, in the sandbox's mount namespace, and attaches the workspace
 * overlay (cfg->workspace_mnt) at cfg->workspace. */
int rootfs_enter(const struct rootfs_config *cfg, ovl_error_t *err);

#endif
