/* ovlbox front-end: what its commands (run, apply, diff, discard) share. */
#ifndef OVLBOX_CLI_H
#define OVLBOX_CLI_H

#include <stdbool.h>

#include "ovlbox/error.h"
#include "ovlbox/apply.h"
#include "ovlbox/layers.h"
#include "ovlbox/ready.h"

/* Exit codes of ovlbox itself (run also passes the action's status through). */
enum {
	EXIT_USAGE = 2,		/* apply/diff/discard: bad command line */
	EXIT_TIMED_OUT = 124,	/* run: --timeout expired */
	EXIT_OVLBOX = 125,	/* ovlbox failed: run's set-up, lock or apply, or its bad command
				 * line; the operation of apply/diff/discard */
	EXIT_CANNOT_EXEC = 126, /* run: command not executable */
	EXIT_NOT_FOUND = 127,	/* run: command not found */
};

/* *out: the absolute form of a command-line path (relative to the cwd, no symlink resolution),
 * allocated; NULL for NULL. what names the path in the error (the cwd cannot be had). */
int cli_absolute(const char *what, const char *path, char **out, ovl_error_t *err);

/* Prints "ovlbox: <message>" once and frees the error. */
void report(ovl_error_t *err);

/* As non-root, enters a new user namespace where the caller is root (uid/gid 0 -> caller), so
 * apply can handle read-only dirs and user.overlay.* xattrs as in the sandbox. No-op as root,
 * and after the first call. */
int enter_rootless_userns(ovl_error_t *err);

/* r: what ovl_apply or ovl_diff returned. An upper whose xattr namespace cannot be told gets a
 * message that names the flags that tell it. Returns r. */
int cli_name_xattr_ns_flags(int r, ovl_error_t *err);

/* Applies; the caller holds the lock. On failure the message says what to do about it (that the
 * journal and upper are kept, --allow-devices, the xattr namespace flags). */
int cli_apply(struct ovl_layers *l, const struct ovl_apply_opts *opts,
	      struct ovl_change_counts *counts, ovl_error_t *err);

/* "ovlbox VERB [--upper U] [--work W] DIR" for l, each path a shell word (ovl_shell_quote), to
 * paste: --upper/--work only where they are not the defaults. Allocated. */
char *cli_layers_cmd(const struct ovl_layers *l, const char *verb);
/* Appends to a failed apply's message what to do about its reason (ovl_error_reason): after
 * ovl_apply, and after ovl_layers_ready, which may apply (a journal, a gone owner's on-exit). */
void cli_apply_advice(const struct ovl_layers *l, ovl_error_t *err);

/* One line for layers ovl_layers_ready() found owned: OVL_READY_IN_USE or OVL_READY_SWAPPED. */
int refuse_owned(const struct ovl_layers *l, int why, const struct ovl_mark *m, ovl_error_t *err);
/* Says (a warning line) that a gone owner's on-exit was carried out, if it was. */
void report_recovered(const struct ovl_layers *l, const struct ovl_ready_info *info);
/* Drops the registry entry of the owner info found (once its layers are applied or gone). */
void release_owner(const struct ovl_ready_info *info);

#endif
