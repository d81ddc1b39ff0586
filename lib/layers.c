/* Workspace layers: paths, lock, state, preparation and the overlay mount. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/journal.h"
#include "ovlbox/layers.h"
#include "ovlbox/log.h"

#define MODE_FILE   "ovlbox-mode"
#define MODE_XATTR  "user.ovlbox.mode"
#define OWNER_FILE  "ovlbox-container"
#define OWNER_XATTR "user.ovlbox.container"

/* Canonical absolute path: collapses repeated slashes and drops a trailing one; refuses relative
 * paths and "." / ".." components (they make overlap checks lie). */
static int canonical_abs(const char *what, const char *in, char **out, ovl_error_t *err)
{
	if (in == NULL || in[0] != '/')
		return ovl_error(err, 0, "%s %s: must be an absolute path", what,
				 in ? ovl_qp(in) : "(none)");
	char *s = xmalloc(strlen(in) + 1);
	size_t o = 0;
	for (const char *p = in; *p;) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		const char *e = strchrnul(p, '/');
		size_t n = (size_t)(e - p);
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			free(s);
			return ovl_error(err, 0, "%s %s: must not contain \".\" or \"..\"", what,
					 ovl_qp(in));
		}
		s[o++] = '/';
		memcpy(s + o, p, n);
		o += n;
		p = e;
	}
	if (o == 0) {
		free(s);
		return ovl_error(err, 0, "%s %s: must not be the root directory", what, ovl_qp(in));
	}
	s[o] = '\0';
	*out = s;
	return 0;
}

/* true if a == b or one contains the other. */
static bool paths_overlap(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;
	if (strncmp(a, b, n) != 0)
		return false;
	return la == lb || (la < lb ? b[la] == '/' : a[lb] == '/');
}

static char *with_suffix(const char *base, const char *suffix)
{
	return xasprintf("%s%s", base, suffix);
}

static void fds_unset(struct ovl_layers *l)
{
	l->lower_fd = l->upper_parent = l->work_parent = l->upper_fd = l->work_fd = -1;
}

int ovl_layers_init(struct ovl_layers *l, const char *lower, const char *upper, const char *work,
		    ovl_error_t *err)
{
	cleanup_free char *du = NULL, *dw = NULL;
	memset(l, 0, sizeof(*l));
	fds_unset(l);
	if (canonical_abs("workspace", lower, &l->lower, err) < 0)
		goto fail;
	du = upper ? NULL : with_suffix(l->lower, ".upper");
	dw = work ? NULL : with_suffix(l->lower, ".work");
	if (canonical_abs("upper dir", upper ? upper : du, &l->upper, err) < 0 ||
	    canonical_abs("work dir", work ? work : dw, &l->work, err) < 0)
		goto fail;
	const char *names[3] = {"workspace", "upper dir", "work dir"};
	const char *paths[3] = {l->lower, l->upper, l->work};
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (paths_overlap(paths[i], paths[j])) {
				ovl_error(err, 0,
					  "%s %s and %s %s overlap: they must be separate trees",
					  names[i], ovl_qp(paths[i]), names[j], ovl_qp(paths[j]));
				goto fail;
			}
	return 0;
fail:
	ovl_layers_free(l);
	return -1;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void close_fds(struct ovl_layers *l)
{
	close_fd(&l->lower_fd);
	close_fd(&l->upper_parent);
	close_fd(&l->work_parent);
	close_fd(&l->upper_fd);
	close_fd(&l->work_fd);
}

void ovl_layers_free(struct ovl_layers *l)
{
	close_fds(l);
	free(l->lower);
	free(l->upper);
	free(l->work);
	free(l->anchor);
	memset(l, 0, sizeof(*l));
	fds_unset(l);
}

const char *ovl_layers_upper_name(const struct ovl_layers *l)
{
	return strrchr(l->upper, '/') + 1;
}

const char *ovl_layers_work_name(const struct ovl_layers *l)
{
	return strrchr(l->work, '/') + 1;
}

/* path strictly beneath dir, as written */
static bool beneath(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

int ovl_layers_anchor(struct ovl_layers *l, const char *dir, ovl_error_t *err)
{
	cleanup_free char *a = NULL;
	if (canonical_abs("directory", dir, &a, err) < 0)
		return -1;
	if (!beneath(l->upper, a))
		return ovl_error(err, 0, "upper dir %s does not lie beneath %s", ovl_qp(l->upper),
				 ovl_qp(a));
	if (!beneath(l->work, a))
		return ovl_error(err, 0, "work dir %s does not lie beneath %s", ovl_qp(l->work),
				 ovl_qp(a));
	free(l->anchor);
	l->anchor = ovl_steal_ptr(&a);
	return 0;
}

/* rel (clean, relative; "" = dir itself) beneath dir_fd with no symlink and no mount crossed. */
static int open_beneath_same_fs(int dir_fd, const char *rel, ovl_error_t *err)
{
	struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV};
	int fd = (int)syscall(SYS_openat2, dir_fd, rel[0] ? rel : ".", &how, sizeof(how));
	if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
		return fd >= 0 ? fd : ovl_error(err, errno, "open");
	/* no openat2 (before Linux 5.6, or a seccomp filter): a walk without symlinks, then the
	 * same filesystem */
	fd = ovl_open_beneath(dir_fd, rel, O_PATH | O_DIRECTORY, err);
	if (fd < 0)
		return -1;
	struct stat a, b;
	if (fstat(dir_fd, &a) < 0 || fstat(fd, &b) < 0) {
		close(fd);
		return ovl_error(err, errno, "stat");
	}
	if (a.st_dev != b.st_dev) {
		close(fd);
		return ovl_error(err, EXDEV, "open");
	}
	return fd;
}

/* The dir holding path (upper or work): beneath the anchor; else the workspace's parent where
 * the path names the same one (the default siblings: one lookup for the three), or by path. */
static int open_parent(const char *what, const char *path, int anchor_fd, const char *anchor,
		       const char *lower, int lower_parent, ovl_error_t *err)
{
	size_t plen = (size_t)(strrchr(path, '/') - path);
	size_t lplen = (size_t)(strrchr(lower, '/') - lower);
	if (anchor_fd < 0 && plen == lplen && strncmp(path, lower, plen) == 0) {
		int fd = fcntl(lower_parent, F_DUPFD_CLOEXEC, 0);
		return fd >= 0 ? fd
			       : ovl_error(err, errno, "%s %s: its parent", what, ovl_qp(path));
	}
	cleanup_free char *parent = xstrndup(path, plen);
	if (anchor_fd < 0) {
		int fd = open(plen ? parent : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return ovl_error(err, errno, "%s %s: its parent", what, ovl_qp(path));
		return fd;
	}
	size_t alen = strlen(anchor);
	int fd = open_beneath_same_fs(anchor_fd, plen > alen ? parent + alen + 1 : "", err);
	if (fd >= 0)
		return fd;
	int e = ovl_error_errno(*err);
	if (e == ELOOP)
		return ovl_error(err, 0,
				 "%s %s: a symlink on the way beneath %s (symlinks are not "
				 "followed there)",
				 what, ovl_qp(path), ovl_qp(anchor));
	if (e == EXDEV)
		return ovl_error(err, 0, "%s %s: a mount on the way beneath %s", what, ovl_qp(path),
				 ovl_qp(anchor));
	return ovl_error(err, e, "%s %s: its parent", what, ovl_qp(path));
}

/* The workspace through its parent (opened into *parent): the default upper and work beside it
 * are then found in the very directory it was found in. */
static int open_workspace(const char *lower, int *parent, ovl_error_t *err)
{
	const char *slash = strrchr(lower, '/');
	cleanup_free char *dir = xstrndup(lower, (size_t)(slash - lower));
	*parent = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*parent < 0)
		return ovl_error(err, errno, "workspace %s", ovl_qp(lower));
	int fd = ovl_openat_noatime(*parent, slash + 1, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ovl_error(err, errno, "workspace %s", ovl_qp(lower));
	return fd;
}

/* name in parent as a directory, never through a symlink; -1 with errno ENOENT when missing
 * (no error object then). */
static int open_layer(int parent, const char *name, bool readable, const char *what,
		      const char *path, ovl_error_t *err)
{
	int fd = readable ? ovl_openat_noatime(parent, name,
					       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			  : ovl_open_dir_fd(parent, name, O_NOFOLLOW);
	if (fd >= 0 || errno == ENOENT)
		return fd;
	int e = errno;
	struct stat st;
	if ((e == ELOOP || e == ENOTDIR) && fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return ovl_error(err, 0, "%s %s is a symlink (not followed)", what, ovl_qp(path));
	return ovl_error(err, e, "%s %s", what, ovl_qp(path));
}

static int open_upper_work(struct ovl_layers *l, ovl_error_t *err)
{
	if (l->upper_fd < 0) {
		l->upper_fd = open_layer(l->upper_parent, ovl_layers_upper_name(l), true,
					 "upper dir", l->upper, err);
		if (l->upper_fd < 0 && errno != ENOENT)
			return -1;
	}
	if (l->work_fd < 0) {
		l->work_fd = open_layer(l->work_parent, ovl_layers_work_name(l), false, "work dir",
					l->work, err);
		if (l->work_fd < 0 && errno != ENOENT)
			return -1;
	}
	return 0;
}

int ovl_layers_open(struct ovl_layers *l, ovl_error_t *err)
{
	close_fds(l);
	cleanup_close int ws_parent = -1;
	l->lower_fd = open_workspace(l->lower, &ws_parent, err);
	if (l->lower_fd < 0)
		return -1;
	cleanup_close int anchor_fd = -1;
	if (l->anchor) {
		anchor_fd = open(l->anchor, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (anchor_fd < 0)
			return ovl_error(err, errno, "%s", ovl_qp(l->anchor));
	}
	l->upper_parent =
	    open_parent("upper dir", l->upper, anchor_fd, l->anchor, l->lower, ws_parent, err);
	if (l->upper_parent < 0)
		return -1;
	l->work_parent =
	    open_parent("work dir", l->work, anchor_fd, l->anchor, l->lower, ws_parent, err);
	if (l->work_parent < 0 || open_upper_work(l, err) < 0)
		return -1;
	return ovl_layers_check_apart(l, err);
}

int ovl_layers_reopen(struct ovl_layers *l, ovl_error_t *err)
{
	close_fd(&l->upper_fd);
	close_fd(&l->work_fd);
	return open_upper_work(l, err);
}

int ovl_layers_lock(const struct ovl_layers *l, ovl_error_t *err)
{
	cleanup_close int fd = openat(l->lower_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ovl_error(err, errno, "workspace %s", ovl_qp(l->lower));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return ovl_error_code(
			    err, EWOULDBLOCK,
			    "workspace %s is in use by another ovlbox (lock held)",
			    ovl_qp(l->lower));
		return ovl_error(err, errno, "lock workspace %s", ovl_qp(l->lower));
	}
	return ovl_steal_fd(&fd);
}

/* dfd: a directory; read through a descriptor of its own, so that dfd's position does not move.
 * An unreadable directory counts as not empty. */
static bool dir_is_empty(int dfd)
{
	cleanup_close int fd = ovl_openat_noatime(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char buf[1024]; /* room for ".", ".." and a longest name */
	if (fd < 0)
		return false;
	for (;;) {
		ssize_t n = getdents64(fd, buf, sizeof(buf));
		if (n <= 0)
			return n == 0;
		for (ssize_t off = 0; off < n;) {
			const struct dirent64 *de = (const struct dirent64 *)(buf + off);
			off += de->d_reclen;
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				return false;
		}
	}
}

/* A tag ovlbox keeps on its work dir: an xattr of the work dir, or (filesystems without user
 * xattrs, and ovlbox 0.1.0 for the mode) a symlink or file named file in it. buf gets the value
 * (its length returned), or "" if there is none. */
static size_t read_tag(int wfd, const char *xattr, const char *file, char *buf, size_t size)
{
	ssize_t n = ovl_fgetxattr(wfd, xattr, buf, size - 1);
	if (n <= 0)
		n = readlinkat(wfd, file, buf, size - 1);
	if (n <= 0) {
		cleanup_close int fd = openat(wfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		n = fd >= 0 ? read(fd, buf, size - 1) : -1;
	}
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

/* The mode ovlbox recorded in the work dir at prepare time ("userxattr" or "trusted"), or "". */
static void read_mode(int wfd, char buf[32])
{
	read_tag(wfd, MODE_XATTR, MODE_FILE, buf, 32);
}

/* ---- the three trees must be apart on disk, not only as strings ---- */

static bool same_devino(const struct ovl_devino *a, const struct ovl_devino *b)
{
	return a->dev == b->dev && a->ino == b->ino;
}

static bool in_chain(const struct ovl_devino *chain, size_t n, const struct ovl_devino *d)
{
	for (size_t i = 0; i < n; i++)
		if (same_devino(&chain[i], d))
			return true;
	return false;
}

static struct ovl_devino devino_of(const struct stat *st)
{
	return (struct ovl_devino){(uint64_t)st->st_dev, (uint64_t)st->st_ino};
}

/* The directories from fd up to / by identity, as "fd", "fd/..", "fd/../..": ".." at a mount's
 * root leads to where the mount sits, so the chain shows where a directory really lies. It stops
 * early at a directory of stop (the workspace's chain), above which two chains are the same. */
static int chain_up(int fd, struct ovl_devino *chain, size_t *n, const struct ovl_devino *stop,
		    size_t nstop)
{
	cleanup_close int cur = openat(fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (*n = 0; cur >= 0;) {
		struct stat st;
		if (fstat(cur, &st) < 0)
			return -1;
		struct ovl_devino d = devino_of(&st);
		if (*n > 0 && same_devino(&chain[*n - 1], &d))
			return 0; /* ".." of / is / */
		if (*n == OVL_CHAIN_MAX) {
			errno = ELOOP;
			return -1;
		}
		chain[(*n)++] = d;
		if (in_chain(stop, nstop, &d))
			return 0;
		int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		close(cur);
		cur = up;
	}
	return -1;
}

int ovl_dir_chain(int fd, struct ovl_devino *chain, size_t *n, ovl_error_t *err)
{
	if (chain_up(fd, chain, n, NULL, 0) < 0)
		return ovl_error(err, errno, "find where a directory lies");
	return 0;
}

/* ovl_layers_init() compares the paths as written; here the directories opened are compared,
 * so that a symlinked parent, a bind mount or an alias such as /a/link/ws for /a/ws cannot make a
 * layer lie inside the workspace (ovlbox would create it there, or, taking the workspace for an
 * upper dir, remove it) or inside the other layer. A missing layer is placed by its parent. The
 * layers' chains stop where they meet the workspace's: above that they are the same, so what
 * lies in what is decided below it (a layer that contains the workspace is in its chain). */
int ovl_layers_check_apart(const struct ovl_layers *l, ovl_error_t *err)
{
	const char *names[3] = {"workspace", "upper dir", "work dir"};
	const char *paths[3] = {l->lower, l->upper, l->work};
	int fds[3] = {l->lower_fd, l->upper_fd >= 0 ? l->upper_fd : l->upper_parent,
		      l->work_fd >= 0 ? l->work_fd : l->work_parent};
	bool exists[3] = {true, l->upper_fd >= 0, l->work_fd >= 0};
	struct ovl_devino chains[3][OVL_CHAIN_MAX];
	size_t n[3] = {0, 0, 0};
	for (int i = 0; i < 3; i++)
		if (chain_up(fds[i], chains[i], &n[i], chains[0], i == 0 ? 0 : n[0]) < 0)
			return ovl_error(err, errno, "%s %s: find where it lies", names[i],
					 ovl_qp(paths[i]));
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			if (i != j && exists[j] && in_chain(chains[i], n[i], &chains[j][0]))
				return ovl_error(err, 0,
						 "%s %s lies in %s %s (through a symlink or a "
						 "mount): they must be separate trees",
						 names[i], ovl_qp(paths[i]), names[j],
						 ovl_qp(paths[j]));
	return 0;
}

int ovl_layers_state(const struct ovl_layers *l, ovl_error_t *err)
{
	if (l->work_fd >= 0 &&
	    faccessat(l->work_fd, OVL_JOURNAL_NAME, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return OVL_STATE_JOURNAL;
	if (l->upper_fd < 0)
		return OVL_STATE_CLEAN;
	if (!dir_is_empty(l->upper_fd))
		return OVL_STATE_PENDING;
	/* An empty upper whose root metadata differs from the workspace's still holds a change
	 * (chmod or touch of the workspace root) -- but only if ovlbox prepared it. */
	char mode[32] = "";
	if (l->work_fd >= 0)
		read_mode(l->work_fd, mode);
	if (mode[0] == '\0')
		return OVL_STATE_CLEAN;
	struct stat us, ls;
	if (fstat(l->upper_fd, &us) < 0 || fstat(l->lower_fd, &ls) < 0)
		return ovl_error(err, errno, "stat %s", ovl_qp(l->lower));
	if (us.st_mode != ls.st_mode || us.st_uid != ls.st_uid || us.st_gid != ls.st_gid ||
	    us.st_mtim.tv_sec != ls.st_mtim.tv_sec || us.st_mtim.tv_nsec != ls.st_mtim.tv_nsec)
		return OVL_STATE_PENDING;
	return OVL_STATE_CLEAN;
}

int ovl_layers_userxattr(const struct ovl_layers *l)
{
	if (l->work_fd >= 0) {
		char mode[32];
		read_mode(l->work_fd, mode);
		if (mode[0])
			return strncmp(mode, "userxattr", 9) == 0;
	}
	return -1; /* an upper ovlbox did not prepare: see ovl_xattr_ns_choose() */
}

/* Overlay-private attributes on the upper root would be interpreted by overlayfs. */
static bool not_overlay_xattr(const char *name, void *data)
{
	(void)data;
	return strncmp(name, "trusted.overlay.", 16) != 0 &&
	       strncmp(name, "user.overlay.", 13) != 0;
}

/* Tags are xattrs of the work dir: no inode to create and free again per run, which on an ext4
 * without a journal, after many removals, costs up to a millisecond each. Without user xattrs
 * (ENOTSUP), the target of a symlink (made whole, never followed). */
static int write_tag(int wfd, const char *work, const char *xattr, const char *file,
		     const char *value, ovl_error_t *err)
{
	if (ovl_fsetxattr(wfd, xattr, value, strlen(value), 0) == 0)
		return 0;
	if (errno != ENOTSUP && errno != EOPNOTSUPP)
		return ovl_error(err, errno, "work dir %s: setxattr %s", ovl_qp(work), xattr);
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	if ((unlinkat(wfd, tmp, 0) < 0 && errno != ENOENT) || symlinkat(value, wfd, tmp) < 0 ||
	    renameat(wfd, tmp, wfd, file) < 0)
		return ovl_error(err, errno, "write %s/%s", ovl_qp(work), file);
	return 0;
}

static int write_mode_at(int wfd, const char *work, bool userxattr, ovl_error_t *err)
{
	/* No fsync: losing the mode in a crash before any apply only loses the hint; the
	 * journal records the mode for itself. */
	return write_tag(wfd, work, MODE_XATTR, MODE_FILE, userxattr ? "userxattr" : "trusted",
			 err);
}

int ovl_layers_mark(const struct ovl_layers *l, struct ovl_mark *m, ovl_error_t *err)
{
	memset(m, 0, sizeof(*m));
	if (l->work_fd < 0)
		return 0;
	char buf[OVL_MARK_MAX + 1];
	size_t n = read_tag(l->work_fd, OWNER_XATTR, OWNER_FILE, buf, sizeof(buf));
	if (n == 0)
		return 0;
	if (ovl_mark_parse(buf, n, m, err) < 0)
		return ovl_error_wrap(err, "work dir %s", ovl_qp(l->work));
	return 1;
}

int ovl_layers_set_mark(const struct ovl_layers *l, const struct ovl_mark *m, ovl_error_t *err)
{
	char buf[OVL_MARK_MAX];
	ovl_mark_format(m, buf);
	return write_tag(l->work_fd, l->work, OWNER_XATTR, OWNER_FILE, buf, err);
}

int ovl_layers_clear_mark(const struct ovl_layers *l, ovl_error_t *err)
{
	if (l->work_fd < 0)
		return 0;
	if (ovl_xattr_remove(l->work_fd, OWNER_XATTR, err) < 0 &&
	    ovl_error_errno(*err) != ENOTSUP && ovl_error_errno(*err) != EOPNOTSUPP)
		return ovl_error_wrap(err, "work dir %s", ovl_qp(l->work));
	ovl_error_free(err);
	if (unlinkat(l->work_fd, OWNER_FILE, 0) < 0 && errno != ENOENT)
		return ovl_error(err, errno, "remove %s/%s", ovl_qp(l->work), OWNER_FILE);
	return 0;
}

static struct ovl_devino fd_devino(int fd)
{
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return (struct ovl_devino){0, 0};
	return devino_of(&st);
}

void ovl_layers_mark_identity(const struct ovl_layers *l, struct ovl_mark *m)
{
	m->workspace = fd_devino(l->lower_fd);
	m->upper = fd_devino(l->upper_fd);
	m->work = fd_devino(l->work_fd);
}

bool ovl_layers_match_mark(const struct ovl_layers *l, const struct ovl_mark *m)
{
	if (m->legacy)
		return true; /* nothing recorded to compare */
	struct ovl_mark now;
	ovl_layers_mark_identity(l, &now);
	return same_devino(&now.workspace, &m->workspace) && same_devino(&now.upper, &m->upper) &&
	       same_devino(&now.work, &m->work);
}

int ovl_layers_remove_scratch_at(int wfd, ovl_error_t *err)
{
	if (ovl_remove_tree_at(wfd, "work", err) < 0 || ovl_remove_tree_at(wfd, "index", err) < 0)
		return -1;
	return 0;
}

int ovl_layers_clear_volatile_marker_at(int wfd, ovl_error_t *err)
{
	cleanup_close int scratch =
	    openat(wfd, "work", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (scratch < 0)
		return errno == ENOENT ? 0 : ovl_error(err, errno, "open work dir's work");
	if (ovl_remove_tree_at(scratch, "incompat", err) < 0)
		return ovl_error_wrap(err, "work dir's work");
	return 0;
}

/* lst: the lower root's stat. */
static int copy_root_meta(int lower_fd, const struct stat *lst, int upper_fd, ovl_error_t *err)
{
	if (ovl_copy_xattrs(lower_fd, upper_fd, not_overlay_xattr, NULL, err) < 0 ||
	    ovl_set_owner_mode_times(upper_fd, lst, err) < 0)
		return -1;
	return 0;
}

/* A work dir that is there already must be one ovlbox made (its mode recorded) or an empty one:
 * prepare clears overlayfs' scratch dirs in it, and apply and discard remove it whole, so a
 * directory of someone else's named as the work dir would lose its contents. */
static int check_work_is_ours(const struct ovl_layers *l, ovl_error_t *err)
{
	if (l->work_fd < 0)
		return 0;
	char mode[32];
	read_mode(l->work_fd, mode);
	if (mode[0] != '\0' || dir_is_empty(l->work_fd))
		return 0;
	return ovl_error(err, 0,
			 "work dir %s holds entries but was not made by ovlbox (no %s): name a "
			 "missing or empty directory",
			 ovl_qp(l->work), MODE_XATTR);
}

/* Makes name in parent (mode) if *fd < 0 and opens it into *fd; 1 if made, 0 if there. */
static int make_layer(int parent, const char *name, mode_t mode, int *fd, bool readable,
		      const char *what, const char *path, ovl_error_t *err)
{
	if (*fd >= 0)
		return 0;
	if (mkdirat(parent, name, mode) < 0)
		return ovl_error(err, errno, "create %s %s", what, ovl_qp(path));
	*fd = open_layer(parent, name, readable, what, path, err);
	if (*fd < 0)
		return errno == ENOENT ? ovl_error(err, errno, "%s %s", what, ovl_qp(path)) : -1;
	return 1;
}

int ovl_layers_prepare(struct ovl_layers *l, bool userxattr, unsigned *created, ovl_error_t *err)
{
	unsigned made = 0;
	if (created)
		*created = 0;
	if (check_work_is_ours(l, err) < 0)
		return -1;
	int r = make_layer(l->upper_parent, ovl_layers_upper_name(l), 0755, &l->upper_fd, true,
			   "upper dir", l->upper, err);
	if (r < 0)
		return -1;
	made |= r ? OVL_CREATED_UPPER : 0;
	if (created)
		*created = made;
	r = make_layer(l->work_parent, ovl_layers_work_name(l), 0700, &l->work_fd, false,
		       "work dir", l->work, err);
	if (r < 0)
		return -1;
	made |= r ? OVL_CREATED_WORK : 0;
	if (created)
		*created = made;
	struct stat lst, ust, wst;
	if (fstat(l->lower_fd, &lst) < 0 || fstat(l->upper_fd, &ust) < 0 ||
	    fstat(l->work_fd, &wst) < 0)
		return ovl_error(err, errno, "stat layers of %s", ovl_qp(l->lower));
	if (ust.st_dev != lst.st_dev || wst.st_dev != lst.st_dev)
		return ovl_error(
		    err, EXDEV,
		    "workspace %s, upper dir %s and work dir %s must be on one filesystem",
		    ovl_qp(l->lower), ovl_qp(l->upper), ovl_qp(l->work));
	/* made in a parent reached by path: where do they lie now that they exist */
	if (made && ovl_layers_check_apart(l, err) < 0)
		return -1;
	if (write_mode_at(l->work_fd, l->work, userxattr, err) < 0)
		return -1;
	/* overlayfs' own scratch dirs, left by an earlier mount (a `volatile` mount leaves
	 * work/incompat/volatile, which makes the next mount fail); in the clean state nothing
	 * in them matters. */
	if (!(made & OVL_CREATED_WORK) && ovl_layers_remove_scratch_at(l->work_fd, err) < 0)
		return ovl_error_wrap(err, "clean work dir %s", ovl_qp(l->work));
	if (copy_root_meta(l->lower_fd, &lst, l->upper_fd, err) < 0)
		return ovl_error_wrap(err, "copy metadata of %s onto %s", ovl_qp(l->lower),
				      ovl_qp(l->upper));
	return 0;
}

int ovl_layers_copy_root_meta(int lower_fd, int upper_fd, ovl_error_t *err)
{
	struct stat lst;
	if (fstat(lower_fd, &lst) < 0)
		return ovl_error(err, errno, "stat workspace root");
	return copy_root_meta(lower_fd, &lst, upper_fd, err);
}

int ovl_layers_make_work(struct ovl_layers *l, ovl_error_t *err)
{
	int r = make_layer(l->work_parent, ovl_layers_work_name(l), 0700, &l->work_fd, false,
			   "work dir", l->work, err);
	return r < 0 ? -1 : 0;
}

int ovl_layers_record_mode(struct ovl_layers *l, bool userxattr, ovl_error_t *err)
{
	if (ovl_layers_reopen(l, err) < 0 || ovl_layers_make_work(l, err) < 0)
		return -1;
	return write_mode_at(l->work_fd, l->work, userxattr, err);
}

struct ovl_layer_fds ovl_layers_fds(const struct ovl_layers *l)
{
	return (struct ovl_layer_fds){l->lower_fd, l->upper_fd, l->work_fd};
}

int ovl_layers_open_paths(const struct ovl_layers *l, struct ovl_layer_fds *fds, ovl_error_t *err)
{
	fds->lower = open(l->lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
	fds->upper = open(l->upper, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	fds->work = open(l->work, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fds->lower < 0 || fds->upper < 0 || fds->work < 0) {
		int e = errno;
		const char *p = fds->lower < 0 ? l->lower : fds->upper < 0 ? l->upper : l->work;
		ovl_layer_fds_close(fds);
		return ovl_error(err, e, "open %s", ovl_qp(p));
	}
	return 0;
}

/* fd (opened by path) must be the directory want is (or, want < 0, that parent/name is). */
static int same_dir(int fd, int want, int parent, const char *name, const char *what,
		    const char *path, ovl_error_t *err)
{
	struct stat st;
	struct ovl_devino got = fd_devino(fd), expect = fd_devino(want);
	if (want < 0 && fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		expect = devino_of(&st);
	if (got.ino == 0 || !same_devino(&got, &expect))
		return ovl_error(err, 0, "%s %s is not the directory opened before", what,
				 ovl_qp(path));
	return 0;
}

int ovl_layers_same_fds(const struct ovl_layers *l, const struct ovl_layer_fds *fds,
			ovl_error_t *err)
{
	if (same_dir(fds->lower, l->lower_fd, -1, NULL, "workspace", l->lower, err) < 0 ||
	    same_dir(fds->upper, l->upper_fd, l->upper_parent, ovl_layers_upper_name(l),
		     "upper dir", l->upper, err) < 0 ||
	    same_dir(fds->work, l->work_fd, l->work_parent, ovl_layers_work_name(l), "work dir",
		     l->work, err) < 0)
		return -1;
	return 0;
}

void ovl_layers_close(struct ovl_layers *l)
{
	close_fds(l);
}

void ovl_layer_fds_close(struct ovl_layer_fds *fds)
{
	close_fd(&fds->lower);
	close_fd(&fds->upper);
	close_fd(&fds->work);
}

struct mount_opt {
	const char *key, *value;
	bool optional;	    /* harmless to drop when the kernel does not know it */
	int fd;		    /* a layer: its directory (value is then its /proc/self/fd path) */
	const char *fd_key; /* the layer's key for FSCONFIG_SET_FD */
};

static int build_opts(const struct ovl_layer_fds *fds, bool userxattr, char paths[3][32],
		      struct mount_opt *opts)
{
	snprintf(paths[0], 32, "/proc/self/fd/%d", fds->lower);
	snprintf(paths[1], 32, "/proc/self/fd/%d", fds->upper);
	snprintf(paths[2], 32, "/proc/self/fd/%d", fds->work);
	int n = 0;
	opts[n++] = (struct mount_opt){"lowerdir", paths[0], false, fds->lower, "lowerdir+"};
	opts[n++] = (struct mount_opt){"upperdir", paths[1], false, fds->upper, "upperdir"};
	opts[n++] = (struct mount_opt){"workdir", paths[2], false, fds->work, "workdir"};
	opts[n++] = (struct mount_opt){"redirect_dir", "nofollow", false, -1, NULL};
	opts[n++] = (struct mount_opt){"index", "off", false, -1, NULL};
	opts[n++] = (struct mount_opt){"metacopy", "off", false, -1, NULL};
	opts[n++] = (struct mount_opt){"xino", "off", true, -1, NULL};
	opts[n++] = (struct mount_opt){"uuid", "null", true, -1, NULL};
	/* No sync of the whole upper filesystem at unmount (it made every container exit wait
	 * for unrelated writeback): apply syncs the upper itself before its journal, which is
	 * the point where durability matters. An upper left by a crash during the action is
	 * whatever reached the disk; `ovlbox apply` or `discard` decides. */
	opts[n++] = (struct mount_opt){"volatile", NULL, true, -1, NULL};
	if (userxattr)
		opts[n++] = (struct mount_opt){"userxattr", NULL, false, -1, NULL};
	return n;
}

/* Sets one option. Layers go by fd where the kernel takes them so (overlayfs since Linux 6.13,
 * O_PATH fds since 6.15): no lookup of a /proc/self/fd path each, ~15 us apiece here. *by_fd
 * starts true and turns false at the first layer the kernel does not take by fd (EINVAL: an
 * unknown key; EBADF: an O_PATH fd before 6.15); the rest then go by path too. */
static int set_opt(int fsfd, const struct mount_opt *o, bool *by_fd)
{
	if (o->fd >= 0 && *by_fd) {
		if (fsconfig(fsfd, FSCONFIG_SET_FD, o->fd_key, NULL, o->fd) == 0)
			return 0;
		if (errno != EINVAL && errno != EBADF)
			return -1;
		ovl_info("overlayfs takes no layer by fd here (%s: %s): passing the layers as "
			 "/proc/self/fd paths",
			 o->fd_key, strerror(errno));
		*by_fd = false;
	}
	if (o->value)
		return fsconfig(fsfd, FSCONFIG_SET_STRING, o->key, o->value, 0);
	return fsconfig(fsfd, FSCONFIG_SET_FLAG, o->key, NULL, 0);
}

/* New mount API: each option is set on its own, so a refusal names the exact option. */
static int overlay_fsmount(const struct mount_opt *opts, int n, unsigned int attrs,
			   ovl_error_t *err)
{
	cleanup_close int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return -2; /* no new mount API: errno says why; the caller decides */
	bool by_fd = true;
	for (int i = 0; i < n; i++) {
		int r = set_opt(fsfd, &opts[i], &by_fd);
		if (r == 0)
			continue;
		if (opts[i].optional && errno == EINVAL) {
			ovl_info("overlay option %s%s%s not supported by this kernel; mounting "
				 "without it",
				 opts[i].key, opts[i].value ? "=" : "",
				 opts[i].value ? opts[i].value : "");
			continue;
		}
		return ovl_error(err, errno, "overlay mount: the kernel refused option %s%s%s",
				 opts[i].key, opts[i].value ? "=" : "",
				 opts[i].value ? opts[i].value : "");
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return ovl_error(err, errno, "overlay mount: create superblock");
	int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
	if (mfd < 0)
		return ovl_error(err, errno, "overlay mount: fsmount");
	return mfd;
}

/* mount(2): one data string; on EINVAL retry without the optional options, one at a time. */
static int mount_legacy(struct mount_opt *opts, int n, int target_fd, ovl_error_t *err)
{
	char target[32];
	snprintf(target, sizeof(target), "/proc/self/fd/%d", target_fd);
	bool skip[16] = {false};
	for (int attempt = 0;; attempt++) {
		char data[512] = "";
		for (int i = 0; i < n; i++) {
			if (skip[i])
				continue;
			size_t o = strlen(data);
			snprintf(data + o, sizeof(data) - o, "%s%s%s%s", o ? "," : "", opts[i].key,
				 opts[i].value ? "=" : "", opts[i].value ? opts[i].value : "");
		}
		if (mount("overlay", target, "overlay", 0, data) == 0)
			return 0;
		int e = errno;
		int drop = -1;
		for (int i = n - 1; i >= 0 && e == EINVAL; i--)
			if (opts[i].optional && !skip[i]) {
				drop = i;
				break;
			}
		if (drop < 0)
			return ovl_error(err, e, "overlay mount (%s)", data);
		skip[drop] = true;
	}
}

int ovl_layers_mount(const struct ovl_layer_fds *fds, int target_fd, bool userxattr,
		     ovl_error_t *err)
{
	char paths[3][32];
	struct mount_opt opts[16];
	int n = build_opts(fds, userxattr, paths, opts);
	cleanup_close int mfd = overlay_fsmount(opts, n, 0, err);
	if (mfd == -2) {
		mfd = -1;
		ovl_info("no new mount API here (fsopen: %s): mounting with mount(2)",
			 strerror(errno));
		return mount_legacy(opts, n, target_fd, err);
	}
	if (mfd < 0)
		return -1;
	return ovl_layers_attach(mfd, target_fd, err);
}

int ovl_layers_attach(int mfd, int target_fd, ovl_error_t *err)
{
	if (move_mount(mfd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
	    0)
		return ovl_error(err, errno, "overlay mount: attach to workspace");
	return 0;
}

int ovl_mount_set_readonly(int target_fd, ovl_error_t *err)
{
	struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
	if (mount_setattr(target_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) == 0)
		return 0;
	if (errno != ENOSYS && errno != EPERM)
		return ovl_error(err, errno, "make the workspace mount read-only (mount_setattr)");
	/* a bind remount must repeat the flags the mount has: a locked one may not be cleared */
	static const struct {
		unsigned long st, ms;
	} keep[] = {{ST_NOSUID, MS_NOSUID},	    {ST_NODEV, MS_NODEV},
		    {ST_NOEXEC, MS_NOEXEC},	    {ST_NOATIME, MS_NOATIME},
		    {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME}};
	struct statvfs sv;
	if (fstatvfs(target_fd, &sv) < 0)
		return ovl_error(err, errno, "make the workspace mount read-only: statvfs");
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (sv.f_flag & keep[i].st)
			flags |= keep[i].ms;
	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", target_fd);
	if (mount(NULL, path, NULL, flags, NULL) < 0)
		return ovl_error(err, errno, "make the workspace mount read-only (remount)");
	return 0;
}

int ovl_layers_fsmount(const struct ovl_layer_fds *fds, bool userxattr, unsigned int attrs,
		       ovl_error_t *err)
{
	char paths[3][32];
	struct mount_opt opts[16];
	int n = build_opts(fds, userxattr, paths, opts);
	int mfd = overlay_fsmount(opts, n, attrs, err);
	if (mfd == -2)
		ovl_error(err, errno, "overlay mount: fsopen (the new mount API)");
	return mfd;
}

/* Removes the layer open as *fd (its contents through the fd), then its name in parent if that
 * still is the same directory: a name swapped meanwhile is left alone. */
static int remove_layer(int parent, const char *name, int *fd, const char *what, const char *path,
			ovl_error_t *err)
{
	if (*fd < 0)
		return 0;
	cleanup_close int rfd = openat(*fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_dir DIR *d = rfd >= 0 ? ovl_opendir_dup(rfd) : NULL;
	if (d == NULL)
		return ovl_error(err, errno, "remove %s %s", what, ovl_qp(path));
	struct dirent *de;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (ovl_remove_tree_at(rfd, de->d_name, err) < 0)
			return ovl_error_wrap(err, "remove %s %s", what, ovl_qp(path));
	}
	if (errno != 0)
		return ovl_error(err, errno, "remove %s %s: read it", what, ovl_qp(path));
	struct stat st;
	struct ovl_devino want = fd_devino(*fd);
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
		struct ovl_devino got = devino_of(&st);
		if (same_devino(&got, &want) && unlinkat(parent, name, AT_REMOVEDIR) < 0 &&
		    errno != ENOENT)
			return ovl_error(err, errno, "remove %s %s", what, ovl_qp(path));
	}
	close_fd(fd);
	return 0;
}

int ovl_layers_remove_created(struct ovl_layers *l, unsigned created, ovl_error_t *err)
{
	if ((created & OVL_CREATED_UPPER) &&
	    remove_layer(l->upper_parent, ovl_layers_upper_name(l), &l->upper_fd, "upper dir",
			 l->upper, err) < 0)
		return -1;
	if ((created & OVL_CREATED_WORK) && remove_layer(l->work_parent, ovl_layers_work_name(l),
							 &l->work_fd, "work dir", l->work, err) < 0)
		return -1;
	return 0;
}

int ovl_layers_discard(struct ovl_layers *l, ovl_error_t *err)
{
	/* work last: it holds the mode file that tells how to read upper */
	return ovl_layers_remove_created(l, OVL_CREATED_UPPER | OVL_CREATED_WORK, err);
}
