/* Readying a layer set for a mount or an apply: the one decision every front-end makes before it
 * touches layers (the hook's mount stages, `ovlbox run`, `ovlbox apply|discard`). */
#ifndef OVLBOX_READY_H
#define OVLBOX_READY_H

#include <stdbool.h>

#include "apply.h"
#include "error.h"
#include "layers.h"
#include "mark.h"

enum ovl_ready_purpose {
	OVL_READY_FOR_MOUNT,   /* a new overlay on these layers: they must be clean and free */
	OVL_READY_FOR_APPLY,   /* apply them: no live overlay on them */
	OVL_READY_FOR_DISCARD, /* discard them: the same, and a gone owner's on-exit is moot */
};

enum ovl_ready_reason {
	OVL_READY_OK,	   /* go on */
	OVL_READY_PENDING, /* (for a mount) changes wait in upper for apply or discard */
	OVL_READY_IN_USE,  /* another container owns them and its init runs (mark in info) */
	OVL_READY_SWAPPED, /* the mark in the work dir names other directories (mark in info) */
};

struct ovl_ready_info {
	bool journal;	       /* an interrupted apply was found (and, unless failing, finished) */
	bool recovered;	       /* a gone owner's recorded on-exit was carried out */
	bool unmount_finished; /* a running owner's unmount, interrupted once its overlay was off,
				  was finished with the on-exit it recorded */
	bool has_mark;	       /* mark holds the owner's mark as found */
	struct ovl_mark mark;
};

/* Requires the layers opened and locked. Finishes an interrupted apply (a journal); reads the
 * owner's mark: one of self's own (self: the caller's container id, or NULL) is no obstacle;
 * another's whose init still runs is OVL_READY_IN_USE (for an apply only while its overlay is
 * mounted); one whose init is gone (no poststop ran: the node rebooted, the shim was killed) is
 * recovered by carrying out its recorded on-exit. For a mount, unapplied changes are
 * OVL_READY_PENDING. opts: how a gone owner's on-exit apply is done (the caller's own apply
 * options: --allow-devices then covers its device nodes too); NULL for the defaults. A journal
 * is finished as it was planned. Returns the reason (info says what was done), or -1. */
int ovl_layers_ready(struct ovl_layers *l, enum ovl_ready_purpose purpose, const char *self,
		     const struct ovl_apply_opts *opts, struct ovl_ready_info *info,
		     ovl_error_t *err);

/* The one line for OVL_READY_SWAPPED: the layers of l are not the directories container id
 * marked. Returns -1. */
int ovl_layers_refuse_swapped(const struct ovl_layers *l, const char *id, ovl_error_t *err);

#endif
