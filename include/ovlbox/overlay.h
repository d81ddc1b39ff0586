/* The overlay mount of a layer set: its options, the new mount API (fsopen/fsconfig/fsmount,
 * layers by fd where the kernel takes them) with mount(2) where that is missing, attaching and
 * read-only remounts, and overlayfs' own scratch dirs in the work dir. */
#ifndef OVLBOX_OVERLAY_H
#define OVLBOX_OVERLAY_H

#include <stdbool.h>

#include "error.h"
#include "layers.h"

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

#endif
