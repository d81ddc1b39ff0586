/* Walking directory trees of any depth with a bounded number of fds and bounded state per level.
 *
 * A walk is a stack of directories, the root (the caller's fd) at level 0. Per level it keeps
 * the entry's name, its dev:ino and where reading it stopped (the last entry's getdents cookie),
 * and a small caller-defined record; only the deepest OVL_WALK_WINDOW levels (and the root) keep
 * an open fd and a read buffer. Climbing back to a level whose fd was closed reopens it as ".."
 * of the level below, checks that it is the same directory (dev:ino) and reads on from where it
 * stopped. So a chain of any depth costs a fixed number of fds and some 64 bytes a level, and
 * callers drive the walk in a loop, never recursing per level.
 *
 * Nothing here follows a symlink: levels are opened with O_NOFOLLOW|O_DIRECTORY, and ".." of a
 * directory is never a symlink. Errors return -1 with errno set; messages are the caller's. */
#ifndef OVLBOX_WALK_H
#define OVLBOX_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Levels below the root that keep their fd (and read buffer) at once. */
#define OVL_WALK_WINDOW 16

struct ovl_walk_level;

struct ovl_walk {
	struct ovl_walk_level *lv;
	size_t n, cap;	  /* lv[0 .. n-1]; lv[0] is the root */
	size_t lo;	  /* the shallowest level >= 1 that holds its fd (all deeper ones do) */
	int flags;	  /* open(2) flags for the levels below the root */
	bool rewind;	  /* a reopened level is read from its start (entries are being removed) */
	size_t data_size; /* bytes of the caller's record per level */
	unsigned char *data; /* those records, level by level */
};

/* Starts a walk at root_fd (borrowed: never closed; read from its start). Levels below are
 * opened with flags (O_RDONLY for reading them, O_PATH for a walk that only follows another;
 * O_DIRECTORY, O_NOFOLLOW and O_CLOEXEC are added, and O_NOATIME where permitted). rewind: see
 * above. data_size: bytes of the caller's record per level, zeroed when the level is entered.
 * -1 (errno set) holds nothing: ovl_walk_free is then a no-op, not a must. */
int ovl_walk_init(struct ovl_walk *w, int root_fd, int flags, bool rewind, size_t data_size);
void ovl_walk_free(struct ovl_walk *w);

/* The current level (0: the root) and its fd. */
static inline size_t ovl_walk_depth(const struct ovl_walk *w)
{
	return w->n - 1;
}
int ovl_walk_fd(const struct ovl_walk *w);

/* The caller's record of level (<= the current one). Valid until the next ovl_walk_push(). */
void *ovl_walk_data(struct ovl_walk *w, size_t level);

/* The next entry of the current directory, "." and ".." skipped: 1 (with *name, valid until the
 * next call on this level, and *d_type unless d_type is NULL: DT_UNKNOWN if the filesystem does
 * not say), 0 at its end, -1 on error. */
int ovl_walk_next(struct ovl_walk *w, const char **name, unsigned char *d_type);

/* Enters the directory name of the current level: it becomes the current level. -1 (errno set)
 * if it cannot be opened (ENOTDIR, ELOOP for a non-directory or a symlink). */
int ovl_walk_push(struct ovl_walk *w, const char *name);

/* Leaves the current level for its parent (reopened if its fd was closed: -1 with errno ESTALE
 * if ".." is no longer the directory entered, with the walk unchanged). The name of the level
 * left goes to *name (the caller frees it) unless name is NULL. Not at the root. */
int ovl_walk_pop(struct ovl_walk *w, char **name);

/* The path of the current level below the root, names joined by '/', with "/leaf" appended
 * unless leaf is NULL or "" (for messages; the caller frees it). "" at the root. */
char *ovl_walk_path(const struct ovl_walk *w, const char *leaf);

/* A path built as a walk descends: components appended and taken back. s is "" when empty. */
struct ovl_pathbuf {
	char *s;
	size_t len, cap;
};

/* Appends "/name" ("name" when empty); returns the length before, for ovl_path_pop(). */
size_t ovl_path_push(struct ovl_pathbuf *p, const char *name);
void ovl_path_pop(struct ovl_pathbuf *p, size_t old);

#endif
