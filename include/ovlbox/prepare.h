/* Making upper and work ready for an overlay, and removing them again: the steps that create or
 * delete the layers' directories, always beneath the parent fds struct ovl_layers holds. */
#ifndef OVLBOX_PREPARE_H
#define OVLBOX_PREPARE_H

#include <stdbool.h>

#include "error.h"
#include "layers.h"

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

/* Removes upper and work entirely (discard), their contents through the fds, then the names if
 * they still are those dirs. Requires the lock. */
int ovl_layers_discard(struct ovl_layers *l, ovl_error_t *err);

#endif
