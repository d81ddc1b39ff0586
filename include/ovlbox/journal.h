/* The apply journal: an ordered list of steps, each safe to repeat, written to the work dir and
 * made durable (the caller's syncfs) before the first change. Replaying it from the start after a
 * crash finishes the apply.
 *
 * Every step names an upper path whose presence says the step is not done yet (steps remove that
 * marker last), so a replay skips what was done and redoes what was cut short. */
#ifndef OVLBOX_JOURNAL_H
#define OVLBOX_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"
#include "workdir.h" /* OVL_JOURNAL_NAME */

/* A journal the reader accepts: lines up to OVL_JOURNAL_LINE_MAX bytes (a path of any depth the
 * kernel allows, escaped, fits), files up to OVL_JOURNAL_FILE_MAX bytes (its steps are held in
 * memory). Larger ones are refused as damaged, naming the limit. */
#define OVL_JOURNAL_LINE_MAX ((size_t)4 << 20)
#define OVL_JOURNAL_FILE_MAX ((size_t)1 << 30)

enum ovl_step_op {
	OVL_STEP_XATTR_STRIP = 'X', /* remove overlay xattr `name` from upper/path */
	OVL_STEP_CHMOD = 'C',	    /* set mode of upper/path (drops setuid/setgid) */
	OVL_STEP_UNLINK =
	    'U', /* drop a stray whiteout upper/path inside a dir that moves in whole */
	OVL_STEP_TIMES = 'T',	 /* restore times of upper dir path (after U steps changed them) */
	OVL_STEP_WHITEOUT = 'W', /* remove lower/path (tree), then the whiteout upper/path */
	OVL_STEP_REPLACE = 'R',	 /* remove a conflicting lower/path, rename upper/path over it */
	OVL_STEP_DIR = 'D', /* merged dir done: copy xattrs, owner, mode, times onto lower/path;
			       rmdir upper/path (not for the root) */
	OVL_STEP_END = 'E', /* rmdir the upper root */
	OVL_STEP_PROTECT =
	    'P', /* set inode flags (chattr +i/+a recorded by protattr) on lower/path */
};

struct ovl_step {
	char op;
	char *path;		      /* relative, bytes; "" is the root */
	char *name;		      /* X: xattr name */
	uint32_t mode, uid, gid;      /* C: mode; D: mode/uid/gid */
	struct timespec atime, mtime; /* T, D */
	uint32_t flags;		      /* P: FS_*_FL flags */
	int is_dir;		      /* R: the upper entry is a directory */
};

struct ovl_plan {
	struct ovl_step *steps;
	size_t n, cap;
	int userxattr;
};

void ovl_plan_add(struct ovl_plan *p, const struct ovl_step *s); /* takes ownership of strings */
void ovl_plan_free(struct ovl_plan *p);

/* Writes the plan as OVL_JOURNAL_NAME in work_fd (a temp file renamed into place). Not synced:
 * the caller syncs the filesystem once, for the journal and the upper's data together, before
 * the first step (a crash before that leaves no journal or a complete one, and nothing moved). */
int ovl_journal_write(int work_fd, const struct ovl_plan *p, ovl_error_t *err);
/* Reads and checks a complete journal, within the limits above. Returns 1 if read, 0 if there is
 * none. */
int ovl_journal_read(int work_fd, struct ovl_plan *p, ovl_error_t *err);
int ovl_journal_remove(int work_fd, ovl_error_t *err);

#endif
