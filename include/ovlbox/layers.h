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
#include "mark.h"

/* A layer set: named by paths (kept for messages and for the commands that finish its work),
 * used through directory fds opened once by ovl_layers_open(). Every step after that goes through
 * those fds, never through the names again, so that a path component swapped meanwhile (a
 * directory exchanged with a symlink) cannot lead a step elsewhere. */
struct ovl_layers {
	char *lower; /* canonical absolute paths */
	char *upper;
	char *work;
	char *anchor; /* ovl_layers_anchor(): upper and work are resolved beneath it, or NULL */
	int lower_fd; /* the workspace (O_RDONLY); -1 until opened */
	int upper_parent, work_parent; /* O_PATH dirs holding upper and work; -1 until opened */
	int upper_fd, work_fd;	       /* O_RDONLY (work: O_PATH if unreadable); -1 while missing */
};

/* Fills l; upper/work may be NULL for the defaults. All three must be absolute, free of ".."
 * and "." components, and none may lie inside another. Nothing on disk is touched. */
int ovl_layers_init(struct ovl_layers *l, const char *lower, const char *upper, const char *work,
		    ovl_error_t *err);
/* Closes the fds and frees the paths. */
void ovl_layers_free(struct ovl_layers *l);
/* Closes the fds only (a process that must hold none of the host's, keeping the paths). */
void ovl_layers_close(struct ovl_layers *l);

/* Upper and work must lie strictly beneath dir (absolute), as written: ovl_layers_open() then
 * reaches them from dir with no symlink and no other filesystem on the way. */
int ovl_layers_anchor(struct ovl_layers *l, const char *dir, ovl_error_t *err);

/* Opens the workspace, the dirs holding upper and work (beneath the anchor if set: openat2
 * RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV, an O_NOFOLLOW walk without openat2;
 * else by path, as the caller wrote it), and upper and work themselves where they exist (never
 * through a symlink). Then checks that the three are apart on disk (ovl_layers_check_apart). */
int ovl_layers_open(struct ovl_layers *l, ovl_error_t *err);

/* The basename of upper / work (points into l->upper / l->work). */
const char *ovl_layers_upper_name(const struct ovl_layers *l);
const char *ovl_layers_work_name(const struct ovl_layers *l);

/* Opens upper and work again through their parent fds after something outside this process may
 * have made or removed them; the fds then are the dirs' as they are now. */
int ovl_layers_reopen(struct ovl_layers *l, ovl_error_t *err);

/* Takes the workspace lock: an exclusive, non-blocking flock on the lower directory itself
 * (through lower_fd). Returns the lock fd (O_CLOEXEC; closing it releases the lock) or -1 with
 * "workspace DIR is in use by another ovlbox (lock held)", errno EWOULDBLOCK (ovl_error_code). */
int ovl_layers_lock(const struct ovl_layers *l, ovl_error_t *err);

/* Checks that the opened directories do not lie in one another on disk (whatever symlinks or
 * bind mounts the paths went through), as ovl_layers_init() checks the paths as written. A layer
 * that does not exist yet is placed by its parent. ovl_layers_open() calls it. */
int ovl_layers_check_apart(const struct ovl_layers *l, ovl_error_t *err);

/* The chain of directories from fd up to / by identity ("fd", "fd/..", ...): where a directory
 * really lies. Up to OVL_CHAIN_MAX entries; *n gets the count. */
#define OVL_CHAIN_MAX 128
int ovl_dir_chain(int fd, struct ovl_devino *chain, size_t *n, ovl_error_t *err);

enum ovl_layers_state {
	OVL_STATE_CLEAN,   /* no upper, or an empty one, and no journal */
	OVL_STATE_PENDING, /* upper holds changes not applied yet (an earlier --on-exit keep) */
	OVL_STATE_JOURNAL, /* an apply was interrupted: a journal is in the work dir */
};
/* Inspects upper and work through their fds (read-only). Returns the state, or -1. */
int ovl_layers_state(const struct ovl_layers *l, ovl_error_t *err);

/* The container that owns the layers (mark.h): ovlbox-hook marks the work dir (xattr
 * user.ovlbox.container; a symlink ovlbox-container in it without user xattrs) before it
 * attaches the overlay, so that later stages act only on their own container's layers and a
 * mount stage refuses layers another container holds. Apply and discard remove the mark with
 * the work dir. ovl_layers_mark() returns 1 and fills m, 0 when there is none (or no work dir),
 * -1 on error (a damaged mark included). */
int ovl_layers_mark(const struct ovl_layers *l, struct ovl_mark *m, ovl_error_t *err);
int ovl_layers_set_mark(const struct ovl_layers *l, const struct ovl_mark *m, ovl_error_t *err);
int ovl_layers_clear_mark(const struct ovl_layers *l, ovl_error_t *err);
/* Fills m's workspace, upper and work from the opened layers. */
void ovl_layers_mark_identity(const struct ovl_layers *l, struct ovl_mark *m);
/* Whether the opened layers are the directories m was written for. */
bool ovl_layers_match_mark(const struct ovl_layers *l, const struct ovl_mark *m);

/* Which xattr namespace the overlay that wrote upper used, as ovlbox recorded it on the work dir
 * at prepare time (xattr user.ovlbox.mode): 1 = user.overlay.* (userxattr, mounted in a user
 * namespace), 0 = trusted.overlay.*, -1 = no record (an upper ovlbox did not prepare; see
 * ovl_xattr_ns_choose() in xattrns.h). */
int ovl_layers_userxattr(const struct ovl_layers *l);

/* Creates upper and work beneath their parent fds if missing (work mode 0700) and opens them
 * into l, clears overlayfs' scratch dirs from a work dir that existed, copies the lower root's
 * mode/owner/times/xattrs onto the upper root, and records userxattr in the work dir. Requires
 * OVL_STATE_CLEAN. If created is not NULL, it gets OVL_CREATED_UPPER and OVL_CREATED_WORK for the
 * dirs this call made, failing or not (for ovl_layers_remove_created()). */
#define OVL_CREATED_UPPER 1u
#define OVL_CREATED_WORK  2u
int ovl_layers_prepare(struct ovl_layers *l, bool userxattr, unsigned *created, ovl_error_t *err);
/* Removes again the dirs ovl_layers_prepare() made (created), through their fds. */
int ovl_layers_remove_created(struct ovl_layers *l, unsigned created, ovl_error_t *err);

/* Copies the workspace root's mode, owner, times and (non-overlay) xattrs onto an upper root,
 * so the merged root looks like the workspace's. */
int ovl_layers_copy_root_meta(int lower_fd, int upper_fd, ovl_error_t *err);

/* Creates the work dir beneath its parent fd if missing, and opens it into l. */
int ovl_layers_make_work(struct ovl_layers *l, ovl_error_t *err);

/* Creates the work dir if missing and records userxattr in it, for an upper dir that came from
 * elsewhere (ovlbox run --upper-size copies one in; it then reopens the layers). */
int ovl_layers_record_mode(struct ovl_layers *l, bool userxattr, ovl_error_t *err);

/* Directory fds of the three layers, for a mount. */
struct ovl_layer_fds {
	int lower, upper, work;
};
/* The opened layers' fds (owned by l: not to close). */
struct ovl_layer_fds ovl_layers_fds(const struct ovl_layers *l);
/* Opens O_PATH fds of the three layers by path, in the mount namespace the overlay is made in
 * where fsmount is missing: the kernel refuses layers reached through fds of another mount
 * namespace ("failed to clone upperpath"). Callers check that they are the same inodes as l's
 * (ovl_layers_same_fds). Detached mounts (fsmount) need none of this. */
int ovl_layers_open_paths(const struct ovl_layers *l, struct ovl_layer_fds *fds, ovl_error_t *err);
/* 0 if fds are the directories l has open (or, for upper and work made since l was opened, those
 * its parent fds hold by name now), else -1 with "X is not the directory opened before". */
int ovl_layers_same_fds(const struct ovl_layers *l, const struct ovl_layer_fds *fds,
			ovl_error_t *err);
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

/* Attaches the detached mount mfd on target_fd (an O_PATH directory fd of the caller's mount
 * namespace). */
int ovl_layers_attach(int mfd, int target_fd, ovl_error_t *err);

/* Makes the mount at target_fd (an O_PATH fd of a mount's root in the caller's mount namespace)
 * and every mount beneath it read-only, in that namespace only (mount_setattr
 * MOUNT_ATTR_RDONLY, AT_RECURSIVE). Where mount_setattr is missing (before Linux 5.12) or
 * refused, a remount of that one mount with MS_RDONLY (keeping its other flags) on
 * /proc/self/fd/<target_fd>. The workspace's bind mount in a container gets this before the
 * overlay goes on top: between two overlays the container can never write into the workspace.
 */
int ovl_mount_set_readonly(int target_fd, ovl_error_t *err);

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

/* Removes upper and work entirely (discard), their contents through the fds, then the names if
 * they still are those dirs. Requires the lock. */
int ovl_layers_discard(struct ovl_layers *l, ovl_error_t *err);

#endif
