/* Copying a layer tree between filesystems, exactly: types (whiteouts included), data, owners,
 * modes, times, xattrs (overlay's own included) and hardlinks within the tree. Used to move an
 * upper layer from a size-limited tmpfs onto the workspace's filesystem before applying it. */
#ifndef OVLBOX_COPY_H
#define OVLBOX_COPY_H

#include "error.h"

/* Copies the directory src_fd (its contents and its own metadata) to a new directory
 * dst_dirfd/dst_name, which must not exist. Never follows symlinks. Device nodes other than
 * whiteouts are copied as device nodes (the apply decides whether to refuse them). */
int ovl_copy_tree(int src_fd, int dst_dirfd, const char *dst_name, ovl_error_t *err);

#endif
