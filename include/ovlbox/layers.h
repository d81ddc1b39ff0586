/* The three directories of a copy-on-write workspace: their paths, opened once, and the checks
 * that they are apart.
 *
 *   lower  the workspace itself (absolute path); never written while mounted
 *   upper  where the action's writes land            (default <lower>.upper)
 *   work   overlayfs' work dir; also holds ovlbox's journal and mode (default <lower>.work)
 *
 * The handle, struct ovl_layers, is what the other layer modules take: owner.h (the lock, the
 * owner mark, the state), prepare.h (making, readying and removing upper and work) and
 * overlay.h (the overlay mount). workdir.h names what the work dir holds. */
#ifndef OVLBOX_LAYERS_H
#define OVLBOX_LAYERS_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "error.h"
#include "mark.h"

/* A layer set: named by paths (kept for messages and for the commands that finish its work),
 * used through directory fds opened once by ovl_layers_open(). Every step after that goes through
 * those fds, never through the names again, so that a path component swapped meanwhile (a
 * directory exchanged with a symlink) cannot lead a step elsewhere. */
struct ovl_layers {
	char *lower; /* canonical absolute paths */
	char *upper;
	char *work;
	char *anchor; /* ovl_layers_anchor(): upper and work are resolved beneath it, or NULL */
	int lower_fd; /* the workspace (O_RDONLY); -1 until opened */
	int upper_parent, work_parent; /* O_PATH dirs holding upper and work; -1 until opened */
	int upper_fd, work_fd;	       /* O_RDONLY (work: O_PATH if unreadable); -1 while missing */
};

/* The default upper and work: the workspace's path with these suffixes. */
#define OVL_UPPER_SUFFIX ".upper"
#define OVL_WORK_SUFFIX	 ".work"

/* Fills l; upper/work may be NULL for the defaults. All three must be absolute, free of ".."
 * and "." components, and none may lie inside another. Nothing on disk is touched. */
int ovl_layers_init(struct ovl_layers *l, const char *lower, const char *upper, const char *work,
		    ovl_error_t *err);
/* Closes the fds and frees the paths. */
void ovl_layers_free(struct ovl_layers *l);
/* Closes the fds only (a process that must hold none of the host's, keeping the paths). */
void ovl_layers_close(struct ovl_layers *l);

/* Upper and work must lie strictly beneath dir (absolute), as written: ovl_layers_open() then
 * reaches them from dir with no symlink and no other filesystem on the way. */
int ovl_layers_anchor(struct ovl_layers *l, const char *dir, ovl_error_t *err);

/* Opens the workspace, the dirs holding upper and work (beneath the anchor if set: openat2
 * RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV, an O_NOFOLLOW walk without openat2;
 * else by path, as the caller wrote it), and upper and work themselves where they exist (never
 * through a symlink). Then checks that the three are apart on disk (ovl_layers_check_apart). */
int ovl_layers_open(struct ovl_layers *l, ovl_error_t *err);

/* Whether upper / work is the default one (the workspace's path with its suffix). */
bool ovl_layers_upper_is_default(const struct ovl_layers *l);
bool ovl_layers_work_is_default(const struct ovl_layers *l);

/* The words that name l to a command, to paste into a shell: "UPPER_FLAG U" and "WORK_FLAG W"
 * where they are not the defaults, then the workspace, each path one shell word
 * (ovl_shell_quote); the front-end names the flags. Allocated. */
char *ovl_layers_shell_words(const struct ovl_layers *l, const char *upper_flag,
			     const char *work_flag);

/* The basename of upper / work (points into l->upper / l->work). */
const char *ovl_layers_upper_name(const struct ovl_layers *l);
const char *ovl_layers_work_name(const struct ovl_layers *l);

/* Opens upper and work again through their parent fds after something outside this process may
 * have made or removed them; the fds then are the dirs' as they are now. */
int ovl_layers_reopen(struct ovl_layers *l, ovl_error_t *err);

/* Opens name in parent as a layer directory, never through a symlink: O_RDONLY if readable,
 * else O_PATH where it cannot be read. -1 with errno ENOENT when it is missing (no error object
 * then); other failures name it as what (e.g. "upper dir") and path. */
int ovl_layer_open_at(int parent, const char *name, bool readable, const char *what,
		      const char *path, ovl_error_t *err);

/* Checks that the opened directories do not lie in one another on disk (whatever symlinks or
 * bind mounts the paths went through), as ovl_layers_init() checks the paths as written. A layer
 * that does not exist yet is placed by its parent. ovl_layers_open() calls it. */
int ovl_layers_check_apart(const struct ovl_layers *l, ovl_error_t *err);

/* The chain of directories from fd up to / by identity ("fd", "fd/..", ...): where a directory
 * really lies. Up to OVL_CHAIN_MAX entries; *n gets the count. */
#define OVL_CHAIN_MAX 128
int ovl_dir_chain(int fd, struct ovl_devino *chain, size_t *n, ovl_error_t *err);

/* A directory's identity: of a stat, or of the one open as fd ({0, 0}, no directory's, if fd < 0
 * or fstat fails). */
struct ovl_devino ovl_devino_of_stat(const struct stat *st);
struct ovl_devino ovl_devino_of_fd(int fd);
bool ovl_devino_equal(const struct ovl_devino *a, const struct ovl_devino *b);
/* Whether d is one of chain[0 .. n-1]. */
bool ovl_devino_in(const struct ovl_devino *chain, size_t n, const struct ovl_devino *d);

#endif
