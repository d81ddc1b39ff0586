/* The changes an apply would make, without making them. */
#ifndef OVLBOX_DIFF_H
#define OVLBOX_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include "apply.h"
#include "error.h"
#include "layers.h"

struct ovl_diff_entry {
	char *path;	  /* relative to the workspace, bytes */
	char change;	  /* 'A' added, 'M' modified, 'D' deleted */
	const char *type; /* "file" "dir" "symlink" "fifo" "socket" "char" "block" */
	uint64_t size;	  /* regular files: the new size (A/M) or the removed size (D); else 0 */
};

struct ovl_diff {
	struct ovl_diff_entry *entries; /* sorted by path (bytewise) */
	size_t n;
};

/* Lists every changed path: new and replaced entries (and everything inside a directory that
 * comes in whole), removed entries (and everything inside a removed directory), and merged
 * directories (the root as ".") whose mode, owner or xattrs change, or whose mtime changes
 * while none of their direct entries is listed. */
/* ns: the namespace of upper's overlay xattrs, as ovl_apply_opts.xattr_ns. Returns 0, -1, or
 * OVL_XATTR_NS_AMBIGUOUS (see xattrns.h). */
int ovl_diff(const struct ovl_layers *l, enum ovl_xattr_ns ns, struct ovl_diff *out,
	     ovl_error_t *err);
void ovl_diff_free(struct ovl_diff *d);
void ovl_diff_count(const struct ovl_diff *d, struct ovl_change_counts *c);
/* ovl_diff + ovl_diff_count. */
int ovl_diff_counts(const struct ovl_layers *l, enum ovl_xattr_ns ns, struct ovl_change_counts *c,
		    ovl_error_t *err);

#endif
