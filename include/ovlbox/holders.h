/* Who keeps a container's overlay busy, and ending them.
 *
 * A container's processes are those whose pid namespace is its init's or lies beneath it (a
 * sandbox started inside, with a pid namespace of its own, included); a container that shares
 * its runtime's pid namespace has as processes those in its init's mount namespace. A holder is
 * such a process with its cwd, root, an open file or a mapping on the overlay's mount, or one
 * in a mount namespace other than the container's holding a copy of the overlay (made by
 * unshare(CLONE_NEWNS) inside the container: unmounting the container's would leave that copy
 * writing into the layers). Everything is read through an fd of the host's /proc (proc_fd), so
 * the calls work from inside the container's mount namespace too. */
#ifndef OVLBOX_HOLDERS_H
#define OVLBOX_HOLDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* How a process holds the overlay. */
enum ovl_hold {
	OVL_HOLD_CWD,	/* its cwd or root lies in it */
	OVL_HOLD_FD,	/* an open file */
	OVL_HOLD_MAP,	/* a mapped file or its executable */
	OVL_HOLD_MOUNT, /* its mount namespace holds a copy */
};
/* "cwd", "fd", "map", "mount". */
const char *ovl_hold_name(enum ovl_hold h);

struct ovl_holder {
	int64_t pid; /* as the given /proc numbers it */
	uint64_t starttime;
	char comm[32]; /* /proc/PID/comm, unescaped */
	enum ovl_hold how;
};

struct ovl_holders {
	struct ovl_holder *v;
	size_t n, cap;
};
void ovl_holders_free(struct ovl_holders *h);

/* An overlay mount as a mount namespace's mountinfo shows it. */
struct ovl_overlay_mount {
	uint64_t mnt_id;
	dev_t dev; /* its superblock's device: the same in every copy */
};

/* Finds, in the mount namespace of process pid, the topmost overlay whose upperdir and workdir
 * are upper and work (the paths as its mounter saw them). 1 and *m, 0 if none, -1 on error. */
int ovl_overlay_find(int proc_fd, int64_t pid, const char *upper, const char *work,
		     struct ovl_overlay_mount *m, ovl_error_t *err);

/* Appends to h the container's processes (init: its init) whose mount namespace is not init's
 * and holds a mount of the superblock dev. */
int ovl_holders_copies(int proc_fd, int64_t init, dev_t dev, struct ovl_holders *h,
		       ovl_error_t *err);

/* Appends to h the container's processes that hold the mount mnt_id by cwd, root, an open file,
 * a mapping or their executable (one entry each, the first way found). Processes that vanish
 * meanwhile, or that the caller may not inspect, are skipped. */
int ovl_holders_find(int proc_fd, int64_t init, uint64_t mnt_id, struct ovl_holders *h,
		     ovl_error_t *err);

/* Sends SIGKILL to each holder through a pidfd (a process whose start time changed since it was
 * found is not the holder: left alone), then waits up to timeout_ms for them to exit. 0 when all
 * have, 1 when some still run at the deadline, -1 on error. */
int ovl_holders_kill(int proc_fd, const struct ovl_holders *h, int timeout_ms, ovl_error_t *err);

#endif
