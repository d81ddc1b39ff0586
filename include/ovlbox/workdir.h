/* What a work dir holds, by name: the one place that lists them, for the modules that write them
 * and for the removal of the work dir at the end of an apply or a discard.
 *
 *   work/, index/     overlayfs' own scratch dirs (work/incompat/volatile after a volatile mount)
 *   ovlbox-journal    the apply journal (journal.h), while an apply runs or was cut short
 *   ovlbox-mode       the mode tag where the work dir takes no user xattrs (else user.ovlbox.mode)
 *   ovlbox-container  the owner mark where the work dir takes no user xattrs (else the xattr
 *                     user.ovlbox.container; owner.h)
 *
 * A file is written under its name + OVL_WORK_TMP_SUFFIX and renamed into place, so a crash can
 * leave that name too. */
#ifndef OVLBOX_WORKDIR_H
#define OVLBOX_WORKDIR_H

/* overlayfs' scratch dirs, and the one under work/ that marks a volatile mount */
#define OVL_WORK_SCRATCH  "work"
#define OVL_WORK_INDEX	  "index"
#define OVL_WORK_INCOMPAT "incompat"

#define OVL_JOURNAL_NAME "ovlbox-journal"

/* The xattr namespace the overlay that writes upper uses, as prepare records it. The value is
 * OVL_MODE_USERXATTR or OVL_MODE_TRUSTED. */
#define OVL_MODE_XATTR	   "user.ovlbox.mode"
#define OVL_MODE_FILE	   "ovlbox-mode"
#define OVL_MODE_USERXATTR "userxattr"
#define OVL_MODE_TRUSTED   "trusted"

/* The container that owns the layers: the text of a mark (mark.h). */
#define OVL_MARK_XATTR "user.ovlbox.container"
#define OVL_MARK_FILE  "ovlbox-container"

#define OVL_WORK_TMP_SUFFIX ".tmp"

#endif
