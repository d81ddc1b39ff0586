/* The three directories of a copy-on-write workspace and the overlay mount over it.
 *
 *   lower  the workspace itself (absolute path); never written while mounted
 *   upper  where the action's writes land            (default <lower>.upper)
 *   work   overlayfs' work dir; also holds ovlbox's journal and mode (default <lower>.work)
 */
#ifndef OVLBOX_LAYERS_H
#define OVLBOX_LAYERS_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

struct ovl_layers {
	char *lower;
	char *upper;
	char *work;
};

/* Fills l; upper/work may be NULL for the defaults. All three must be absolute, free of ".."
 * and "." components, and none may lie inside another. Nothing on disk is touched. */
int ovl_layers_init(struct ovl_layers *l, const char *lower, const char *upper, const char *work,
		    ovl_error_t *err);
void ovl_layers_free(struct ovl_layers *l);

/* Takes the workspace lock: an exclusive, non-blocking flock on the lower directory itself.
 * Returns the lock fd (O_CLOEXEC; closing it releases the lock) or -1 with
 * "workspace DIR is in use by another ovlbox (lock held)". */
int ovl_layers_lock(const struct ovl_layers *l, ovl_error_t *err);

/* Checks that the directories the three paths lead to (through symlinks and bind mounts) do not
 * lie in one another, as ovl_layers_init() checks the paths as written. A layer that does not
 * exist yet is placed by its parent. ovl_layers_state() and ovl_apply() call it. */
int ovl_layers_check_apart(const struct ovl_layers *l, ovl_error_t *err);

/* Checks that upper and work lie strictly beneath dir on disk (through symlinks and bind
 * mounts, as ovl_layers_check_apart(); a layer that does not exist yet by its parent). */
int ovl_layers_check_beneath(const struct ovl_layers *l, const char *dir, ovl_error_t *err);

enum ovl_layers_state {
	OVL_STATE_CLEAN,   /* no upper, or an empty one, and no journal */
	OVL_STATE_PENDING, /* upper holds changes not applied yet (an earlier --on-exit keep) */
	OVL_STATE_JOURNAL, /* an apply was interrupted: a journal is in the work dir */
};
/* Inspects upper and work (read-only). Returns the state, or -1. */
int ovl_layers_state(const struct ovl_layers *l, ovl_error_t *err);

/* The container whose overlay the layers serve: ovlbox-hook records the OCI container id on the
 * work dir (xattr user.ovlbox.container; a symlink ovlbox-container in it without user xattrs)
 * once it has mounted, so that a poststop acts only on its own container's layers and a mount
 * stage refuses layers another container holds. ovl_layers_owner() gives it in buf (size
 * bytes, truncated) or "" when there is none or no work dir. Apply and discard remove it with
 * the work dir. */
/* Bytes of an owner with its NUL: a longer one could not be read back. */
#define OVL_OWNER_MAX 256
int ovl_layers_owner(const struct ovl_layers *l, char *buf, size_t size, ovl_error_t *err);
int ovl_layers_set_owner(const struct ovl_layers *l, const char *owner, ovl_error_t *err);
int ovl_layers_clear_owner(const struct ovl_layers *l, ovl_error_t *err);

/* Which xattr namespace the overlay that wrote upper used: true = user.overlay.* (userxattr,
 * mounted in a user namespace), false = trusted.overlay.*. Read from the mode ovlbox records
 * on the work dir at prepare time (xattr user.ovlbox.mode); without one, inferred from the
 * caller. */
bool ovl_layers_userxattr(const struct ovl_layers *l);

/* Creates upper and work if missing (work mode 0700), clears overlayfs' scratch dirs from a work
 * dir that existed, copies the lower root's mode/owner/times/xattrs onto the upper root, and
 * records userxattr in the work dir. Requires OVL_STATE_CLEAN. If created is not NULL, it gets
 * OVL_CREATED_UPPER and OVL_CREATED_WORK for the dirs this call made, failing or not (for the
 * caller to remove them again). If fds is not NULL, it gets the three layers as opened here
 * (read-only directory fds; the work dir's O_PATH when it is not readable), to close with
 * ovl_layer_fds_close(): the same as ovl_layers_open() would give, without opening them again. */
#define OVL_CREATED_UPPER 1u
#define OVL_CREATED_WORK  2u
struct ovl_layer_fds;
int ovl_layers_prepare(const struct ovl_layers *l, bool userxattr, unsigned *created,
		       struct ovl_layer_fds *fds, ovl_error_t *err);

/* Copies the workspace root's mode, owner, times and (non-overlay) xattrs onto an upper root,
 * so the merged root looks like the workspace's. */
int ovl_layers_copy_root_meta(int lower_fd, int upper_fd, ovl_error_t *err);

/* Creates the work dir if missing and records userxattr in it, for an upper dir that came from
 * elsewhere (ovlbox run --upper-size copies one in). */
int ovl_layers_record_mode(const struct ovl_layers *l, bool userxattr, ovl_error_t *err);

/* Opens O_PATH directory fds of the three layers. Open them in the mount namespace the overlay
 * is made in: the kernel refuses layers reached through fds of another mount namespace
 * ("failed to clone upperpath"); ovlbox-hook reopens them by path after setns and checks that
 * they are the same inodes. Detached mounts (fsmount) are fine. */
struct ovl_layer_fds {
	int lower, upper, work;
};
int ovl_layers_open(const struct ovl_layers *l, struct ovl_layer_fds *fds, ovl_error_t *err);
void ovl_layer_fds_close(struct ovl_layer_fds *fds);

/* Mounts the overlay on target_fd (an O_PATH directory fd) in the caller's mount namespace with
 * the layers given by fd (FSCONFIG_SET_FD; as /proc/self/fd/N where the kernel does not take
 * that: no path needs escaping either way) and the options
 * redirect_dir=nofollow,index=off,metacopy=off,xino=off,uuid=null[,userxattr]. If the kernel
 * refuses uuid or xino, retries without them (harmless); never drops the others, and the error
 * names the option the kernel refused. Where fsopen fails (before Linux 5.2, or refused by a
 * seccomp filter), mount(2) on /proc/self/fd/<target_fd>, which mounts on that very directory. */
int ovl_layers_mount(const struct ovl_layer_fds *fds, int target_fd, bool userxattr,
		     ovl_error_t *err);

/* For a run in a user namespace that maps only uid and gid: finds the first workspace entry
 * owned by another uid or gid (overlayfs cannot copy those up there: EOVERFLOW inside the
 * action) and fails naming it. Walks the whole workspace without following symlinks. */
int ovl_layers_check_owners(const struct ovl_layers *l, uid_t uid, gid_t gid, ovl_error_t *err);

/* Attaches the detached mount mfd on target_fd (an O_PATH directory fd of the caller's mount
 * namespace). */
int ovl_layers_attach(int mfd, int target_fd, ovl_error_t *err);

/* The same overlay as a detached mount (an fd for move_mount), with MOUNT_ATTR_* attrs, made
 * with the new mount API only. Returns -1 on error, and -2 (err set, with fsopen's errno) where
 * fsopen itself fails: before Linux 5.2 (ENOSYS), or refused by a seccomp filter; the caller
 * may then try mount(2) (ovl_layers_mount). A detached mount belongs to no namespace: the layers
 * are taken from the caller's, and the mount can be attached in another (ovlbox-hook); no
 * unmount is ever needed to move it (an unmount waits for an RCU grace period). */
int ovl_layers_fsmount(const struct ovl_layer_fds *fds, bool userxattr, unsigned int attrs,
		       ovl_error_t *err);

/* Removes the marker a `volatile` overlay makes at mount (work/work/incompat/volatile/dirty)
 * from the work dir open as wfd. Only the next mount of these layers reads it, and
 * ovl_layers_prepare() clears it then; a run removes it while its overlay is still mounted, so
 * that its dirs are not left to remove at the end. */
int ovl_layers_clear_volatile_marker_at(int wfd, ovl_error_t *err);

/* Removes overlayfs' own scratch dirs (work/work, work/index) from the work dir open as wfd,
 * once no overlay uses it. A run does it in its init, alongside the apply in ovlbox. */
int ovl_layers_remove_scratch_at(int wfd, ovl_error_t *err);

/* Removes upper and work entirely (discard). Requires the lock. */
int ovl_layers_discard(const struct ovl_layers *l, ovl_error_t *err);

#endif
