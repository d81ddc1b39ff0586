/* Workspace layers: the handle, its paths as written, opening them once, and whether the three
 * directories lie apart on disk. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/layers.h"

/* For messages, in the order of the handle's lower, upper, work. */
static const char *const layer_what[3] = {"workspace", "upper dir", "work dir"};

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
	du = upper ? NULL : with_suffix(l->lower, OVL_UPPER_SUFFIX);
	dw = work ? NULL : with_suffix(l->lower, OVL_WORK_SUFFIX);
	if (canonical_abs("upper dir", upper ? upper : du, &l->upper, err) < 0 ||
	    canonical_abs("work dir", work ? work : dw, &l->work, err) < 0)
		goto fail;
	const char *paths[3] = {l->lower, l->upper, l->work};
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (paths_overlap(paths[i], paths[j])) {
				ovl_error(err, 0,
					  "%s %s and %s %s overlap: they must be separate trees",
					  layer_what[i], ovl_qp(paths[i]), layer_what[j],
					  ovl_qp(paths[j]));
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

void ovl_layers_close(struct ovl_layers *l)
{
	close_fds(l);
}

static bool is_lower_with(const struct ovl_layers *l, const char *path, const char *suffix)
{
	size_t n = strlen(l->lower);
	return strncmp(path, l->lower, n) == 0 && strcmp(path + n, suffix) == 0;
}

bool ovl_layers_upper_is_default(const struct ovl_layers *l)
{
	return is_lower_with(l, l->upper, OVL_UPPER_SUFFIX);
}

bool ovl_layers_work_is_default(const struct ovl_layers *l)
{
	return is_lower_with(l, l->work, OVL_WORK_SUFFIX);
}

/* "FLAG PATH " with PATH a shell word, or "" for the default layer. */
static char *layer_words(const char *flag, const char *path, bool is_default)
{
	if (is_default)
		return xstrdup("");
	cleanup_free char *q = ovl_shell_quote(path);
	return xasprintf("%s %s ", flag, q);
}

char *ovl_layers_shell_words(const struct ovl_layers *l, const char *upper_flag,
			     const char *work_flag)
{
	cleanup_free char *upper =
	    layer_words(upper_flag, l->upper, ovl_layers_upper_is_default(l));
	cleanup_free char *work = layer_words(work_flag, l->work, ovl_layers_work_is_default(l));
	cleanup_free char *lower = ovl_shell_quote(l->lower);
	return xasprintf("%s%s%s", upper, work, lower);
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

int ovl_layer_open_at(int parent, const char *name, bool readable, const char *what,
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
		l->upper_fd = ovl_layer_open_at(l->upper_parent, ovl_layers_upper_name(l), true,
						"upper dir", l->upper, err);
		if (l->upper_fd < 0 && errno != ENOENT)
			return -1;
	}
	if (l->work_fd < 0) {
		l->work_fd = ovl_layer_open_at(l->work_parent, ovl_layers_work_name(l), false,
					       "work dir", l->work, err);
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

/* ---- the three trees must be apart on disk, not only as strings ---- */

struct ovl_devino ovl_devino_of_stat(const struct stat *st)
{
	return (struct ovl_devino){(uint64_t)st->st_dev, (uint64_t)st->st_ino};
}

struct ovl_devino ovl_devino_of_fd(int fd)
{
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return (struct ovl_devino){0, 0};
	return ovl_devino_of_stat(&st);
}

bool ovl_devino_equal(const struct ovl_devino *a, const struct ovl_devino *b)
{
	return a->dev == b->dev && a->ino == b->ino;
}

bool ovl_devino_in(const struct ovl_devino *chain, size_t n, const struct ovl_devino *d)
{
	for (size_t i = 0; i < n; i++)
		if (ovl_devino_equal(&chain[i], d))
			return true;
	return false;
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
		struct ovl_devino d = ovl_devino_of_stat(&st);
		if (*n > 0 && ovl_devino_equal(&chain[*n - 1], &d))
			return 0; /* ".." of / is / */
		if (*n == OVL_CHAIN_MAX) {
			errno = ELOOP;
			return -1;
		}
		chain[(*n)++] = d;
		if (ovl_devino_in(stop, nstop, &d))
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
	const char *paths[3] = {l->lower, l->upper, l->work};
	int fds[3] = {l->lower_fd, l->upper_fd >= 0 ? l->upper_fd : l->upper_parent,
		      l->work_fd >= 0 ? l->work_fd : l->work_parent};
	bool exists[3] = {true, l->upper_fd >= 0, l->work_fd >= 0};
	struct ovl_devino chains[3][OVL_CHAIN_MAX];
	size_t n[3] = {0, 0, 0};
	for (int i = 0; i < 3; i++)
		if (chain_up(fds[i], chains[i], &n[i], chains[0], i == 0 ? 0 : n[0]) < 0)
			return ovl_error(err, errno, "%s %s: find where it lies", layer_what[i],
					 ovl_qp(paths[i]));
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			if (i != j && exists[j] && ovl_devino_in(chains[i], n[i], &chains[j][0]))
				return ovl_error(err, 0,
						 "%s %s lies in %s %s (through a symlink or a "
						 "mount): they must be separate trees",
						 layer_what[i], ovl_qp(paths[i]), layer_what[j],
						 ovl_qp(paths[j]));
	return 0;
}
