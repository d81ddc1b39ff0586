/* Namespaces: entering a container's user and mount namespaces by pid, mapping a new user
 * namespace's root, and finding a path inside a container's rootfs without ever leaving it. */
#ifndef OVLBOX_NS_H
#define OVLBOX_NS_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

/* The namespaces of a process, opened (so that the pid may go away afterwards). A namespace the
 * caller already is in is not opened (fd -1): setns() into one's own user namespace fails. */
struct ovl_ns_target {
	int user_fd;	 /* -1: same user namespace as the caller */
	int mnt_fd;	 /* -1: same mount namespace as the caller */
	int home_mnt_fd; /* with mnt_fd >= 0: the caller's own mount namespace, to come back to */
	uid_t root_uid;	 /* with user_fd >= 0: the caller-side ids of uid/gid 0 in the target */
	gid_t root_gid;
};

#define OVL_NS_TARGET_INIT                                                                         \
	{                                                                                          \
		.user_fd = -1, .mnt_fd = -1, .home_mnt_fd = -1                                     \
	}

int ovl_ns_open_pid(pid_t pid, struct ovl_ns_target *t, ovl_error_t *err);
void ovl_ns_target_close(struct ovl_ns_target *t);

/* Enters t's mount namespace (if it has its own). Root and cwd become that namespace's root.
 * Changes the calling process: call it in a child made for the purpose. Before pivot_root
 * (the hook stages), the container's mount namespace still shows the host's tree outside the
 * rootfs; mounts opened in another namespace cannot be used as overlay layers there. */
int ovl_ns_enter_mnt(const struct ovl_ns_target *t, ovl_error_t *err);

/* Enters t's user namespace (if it has its own) and becomes uid 0 / gid 0 there, without
 * supplementary groups where setgroups is allowed. Call after ovl_ns_enter_mnt (joining the
 * mount namespace needs the caller's privileges over it, which it keeps from outside). */
int ovl_ns_enter_user(const struct ovl_ns_target *t, ovl_error_t *err);

/* Sets *in_userns to true when the caller runs in a user namespace other than the initial one
 * (its uid_map is not the identity over all 2^32-1 ids). Mounts made there need userxattr. */
int ovl_ns_in_child_userns(bool *in_userns, ovl_error_t *err);

/* Maps id 0 of a new user namespace, the one of pid (0: the caller's own, after
 * unshare(CLONE_NEWUSER)), to uid and gid of the namespace above, one id each: uid_map, then
 * setgroups "deny" (without CAP_SETGID above, gid_map may be written only after it), then
 * gid_map. Each map can be written once. */
int ovl_ns_map_root(pid_t pid, uid_t uid, gid_t gid, ovl_error_t *err);

/* Opens the directory at container path rel (as ovl_oci_container_path makes it: clean,
 * relative, "" = the root) beneath rootfs_fd as an O_PATH fd. No component may be a symlink or
 * "..", so the walk can never leave the rootfs; a symlink gives ELOOP and the message says so. */
int ovl_ns_open_in_rootfs(int rootfs_fd, const char *rel, ovl_error_t *err);

#endif
