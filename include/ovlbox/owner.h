/* Who may act on a layer set, and what its work dir says about it: the workspace lock (one
 * ovlbox process at a time), the owner mark (the container that holds the layers), the mode tag
 * (which xattrs the overlay wrote) and the state (clean, pending, an apply cut short). The names
 * of the work dir's entries are in workdir.h. (owners.h is another matter: the owners of the
 * workspace's files.) */
#ifndef OVLBOX_OWNER_H
#define OVLBOX_OWNER_H

#include <stdbool.h>

#include "error.h"
#include "layers.h"
#include "mark.h"

/* Takes the workspace lock: an exclusive, non-blocking flock on the lower directory itself
 * (through lower_fd). Returns the lock fd (O_CLOEXEC; closing it releases the lock) or -1 with
 * "workspace DIR is in use by another ovlbox (lock held)", errno EWOULDBLOCK (ovl_error_code). */
int ovl_layers_lock(const struct ovl_layers *l, ovl_error_t *err);

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
/* Records it on the opened work dir (not synced: a crash before any apply loses only the hint,
 * and the journal records the mode for itself). */
int ovl_layers_write_mode(const struct ovl_layers *l, bool userxattr, ovl_error_t *err);

/* Fails unless the opened work dir is one ovlbox made (its mode recorded) or an empty one (or
 * there is none): prepare clears overlayfs' scratch dirs in it, and apply and discard remove it
 * whole, so a directory of someone else's named as the work dir would lose its contents. */
int ovl_layers_check_work_is_ours(const struct ovl_layers *l, ovl_error_t *err);

#endif
