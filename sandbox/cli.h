/* ovlbox front-end: commands and the helpers they share. */
#ifndef OVLBOX_CLI_H
#define OVLBOX_CLI_H

#include <stdbool.h>

#include "ovlbox/error.h"
#include "ovlbox/apply.h"
#include "ovlbox/layers.h"
#include "ovlbox/ready.h"

/* Exit codes of ovlbox itself (run also passes the action's status through). */
enum {
	EXIT_USAGE = 2,	   /* apply/diff/discard: bad command line */
	EXIT_FAILED = 125, /* apply/diff/discard: the operation failed (as run's own failures) */
	EXIT_OVLBOX = 125, /* run: ovlbox failed (set-up, lock, apply) or bad command line */
	EXIT_CANNOT_EXEC = 126, /* run: command not executable */
	EXIT_NOT_FOUND = 127,	/* run: command not found */
};

int cmd_run(int argc, char **argv);

/* Absolute form of a command-line path (relative to the cwd, no symlink resolution); NULL for
 * NULL. The caller frees it. */
char *cli_absolute(const char *path);

/* Prints "ovlbox: <message>" once and frees the error. */
void report(ovl_error_t *err);

/* As non-root, enters a new user namespace where the caller is root (uid/gid 0 -> caller), so
 * apply can handle read-only dirs and user.overlay.* xattrs as in the sandbox. No-op as root. */
int enter_rootless_userns(ovl_error_t *err);

/* Applies with the lock held; on failure says that the journal and upper are kept. */
int apply_locked(struct ovl_layers *l, bool keep_setuid, bool allow_devices,
		 struct ovl_change_counts *counts, ovl_error_t *err);

/* "ovlbox VERB [--upper U] [--work W] DIR" for l, each path a shell word (ovl_shell_quote), to
 * paste: --upper/--work only where they are not the defaults. Allocated. */
char *cli_layers_cmd(const struct ovl_layers *l, const char *verb);
/* Appends to a failed apply's message what to do about its reason (ovl_error_reason). */
void cli_apply_advice(const struct ovl_layers *l, ovl_error_t *err);

/* One line for layers ovl_layers_ready() found owned: OVL_READY_IN_USE or OVL_READY_SWAPPED. */
int refuse_owned(const struct ovl_layers *l, int why, const struct ovl_mark *m, ovl_error_t *err);
/* Says (a warning line) that a gone owner's on-exit was carried out, if it was. */
void report_recovered(const struct ovl_layers *l, const struct ovl_ready_info *info);
/* Drops the registry entry of the owner info found (once its layers are applied or gone). */
void release_owner(const struct ovl_ready_info *info);

#endif
