/* Applying an upper layer onto its lower layer, crash-safely.
 *
 * Plan (read-only scan and validation of the whole upper) -> journal in the work dir -> one syncfs
 * (journal and upper data together) -> steps that are each safe to repeat -> upper removed ->
 * journal removed. If a journal is present, ovl_apply finishes that apply first; with nothing to do
 * it changes nothing. An existing lower non-directory inode is never opened for writing, truncated,
 * chmod'ed or utime'd: it is only unlinked or renamed over. */
#ifndef OVLBOX_APPLY_H
#define OVLBOX_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "layers.h"
#include "xattrns.h"

struct ovl_apply_opts {
	bool keep_setuid;   /* keep setuid/setgid bits (default: dropped) */
	bool allow_devices; /* apply device nodes other than whiteouts (default: refused) */
	/* the namespace of upper's overlay xattrs (default: recorded, else detected; see
	 * ovl_xattr_ns_choose). An interrupted apply's journal records its own. */
	enum ovl_xattr_ns xattr_ns;
};

struct ovl_change_counts {
	uint64_t added, modified, deleted; /* paths, as ovl_diff counts them */
	uint64_t bytes;			   /* bytes of regular files added or replaced */
};

/* Requires the layers opened (ovl_layers_open), the lock (ovl_layers_lock) and no mount of the
 * overlay. counts may be NULL. Returns 0, -1, or OVL_XATTR_NS_AMBIGUOUS (see xattrns.h), with
 * nothing changed. */
int ovl_apply(struct ovl_layers *l, const struct ovl_apply_opts *opts,
	      struct ovl_change_counts *counts, ovl_error_t *err);

#endif
