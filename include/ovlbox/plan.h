/* Planning an apply: a read-only scan of the whole upper layer (and the lower entries it
 * touches) that validates everything before anything changes, and yields the journal's steps. */
#ifndef OVLBOX_PLAN_H
#define OVLBOX_PLAN_H

#include <stdbool.h>
#include <sys/stat.h>

#include "apply.h"
#include "error.h"
#include "journal.h"

/* What an upper entry means, as overlayfs would read it. */
enum ovl_entry_kind {
	OVL_ENTRY_WHITEOUT, /* remove the lower entry */
	OVL_ENTRY_REPLACE,  /* non-dir, or a dir that replaces the lower entry whole */
	OVL_ENTRY_MERGE,    /* dir merged with a lower dir */
};

/* "trusted.overlay." or "user.overlay." */
const char *ovl_overlay_prefix(int userxattr);
/* The key of one of overlayfs' own xattrs in that namespace ("opaque" for
 * "trusted.overlay.opaque"), else NULL: other names, and escaped ones (trusted.overlay.overlay.*,
 * user data to overlayfs), are not. */
const char *ovl_overlay_key(const char *name, int userxattr);

/* Classifies dirfd/name (an upper entry, stat in st). Reads its overlay xattrs. */
int ovl_classify(int upper_dirfd, const char *name, const struct stat *st, int lower_dirfd,
		 int userxattr, enum ovl_entry_kind *kind, ovl_error_t *err);

/* Scans upper_fd against lower_fd and fills plan. Fails, with nothing changed, on anything apply
 * must refuse: redirect/metacopy/nlink/upper xattrs (origin on the root), device nodes unless
 * allowed, immutable or append-only lower targets. */
int ovl_plan_build(int lower_fd, int upper_fd, int userxattr, const struct ovl_apply_opts *opts,
		   struct ovl_plan *plan, ovl_error_t *err);

#endif
