/* Workspace layers: paths, lock, state, preparation and the overlay mount. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/journal.h"
#include "ovlbox/layers.h"
#include "ovlbox/log.h"
#include "ovlbox/ns.h"

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
	char *s = malloc(strlen(in) + 1);
	if (s == NULL)
		abort();
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
	char *s = NULL;
	if (asprintf(&s, "%s%s", base, suffix) < 0)
		abort();
	return s;
}

int ovl_layers_init(struct ovl_layers *l, const char *lower, const char *upper, const char *work,
		    ovl_error_t *err)
{
	cleanup_free char *du = NULL, *dw = NULL;
	memset(l, 0, sizeof(*l));
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

void ovl_layers_free(struct ovl_layers *l)
{
	free(l->lower);
	free(l->upper);
	free(l->work);
	memset(l, 0, sizeof(*l));
}

int ovl_layers_lock(const struct ovl_layers *l, ovl_error_t *err)
{
	cleanup_close int fd = open(l->lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ovl_error(err, errno, "workspace %s", ovl_qp(l->lower));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return ovl_error(err, 0,
					 "workspace %s is in use by another ovlbox (lock held)",
					 ovl_qp(l->lower));
		return ovl_error(err, errno, "lock workspace %s", ovl_qp(l->lower));
	}
	return ovl_steal_fd(&fd);
}

/* dfd freshly opened (read from its start). An unreadable directory counts as not empty. */
static bool dir_is_empty(int dfd)
{
	char buf[1024]; /* room for ".", ".." and a longest name */
	for (;;) {
		ssize_t n = getdents64(dfd, buf, sizeof(buf));
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
 * xattrs, and ovlbox 0.1.0 for the mode) a symlink or file named file in it. buf gets the value,
 * or "" if there is none. */
static void read_tag(int wfd, const char *xattr, const char *file, char *buf, size_t size)
{
	ssize_t n = ovl_fgetxattr(wfd, xattr, buf, size - 1);
	if (n <= 0)
		n = readlinkat(wfd, file, buf, size - 1);
	if (n <= 0) {
		cleanup_close int fd = openat(wfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		n = fd >= 0 ? read(fd, buf, size - 1) : -1;
	}
	buf[n > 0 ? n : 0] = '\0';
}

/* The mode ovlbox recorded in the work dir at prepare time ("userxattr" or "trusted"), or "". */
static void read_mode(int wfd, char buf[32])
{
	read_tag(wfd, MODE_XATTR, MODE_FILE, buf, 32);
}

/* ---- the three trees must be apart on disk, not only as strings ---- */

struct devino {
	dev_t dev;
	ino_t ino;
};

#define MAX_DEPTH 128

static bool in_chain(const struct devino *chain, size_t n, const struct devino *d)
{
	for (size_t i = 0; i < n; i++)
		if (chain[i].dev == d->dev && chain[i].ino == d->ino)
			return true;
	return false;
}

/* The directories from dir up to / (dir's own first), by identity, as "dir", "dir/..",
 * "dir/../..": ".." at a mount's root leads to where the mount sits, so the chain shows where a
 * path really lies, whatever symlinks or bind mounts it went through. It stops early at a
 * directory of stop (the workspace's chain), above which the two chains are the same. */
static int chain_up(const char *dir, struct devino *chain, size_t *n, const struct devino *stop,
		    size_t nstop)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);
	if (len >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, dir, len + 1);
	for (*n = 0;;) {
		struct stat st;
		if (stat(path, &st) < 0)
			return -1;
		struct devino d = {st.st_dev, st.st_ino};
		if (*n > 0 && chain[*n - 1].dev == d.dev && chain[*n - 1].ino == d.ino)
			return 0; /* ".." of / is / */
		if (*n == MAX_DEPTH || len + 3 >= sizeof(path)) {
			errno = ELOOP;
			return -1;
		}
		chain[(*n)++] = d;
		if (in_chain(stop, nstop, &d))
			return 0;
		memcpy(path + len, "/..", 4);
		len += 3;
	}
}

/* One layer's place: the chain of the directory if it exists, else of its parent (where it
 * would be made); exists tells which. 0 when neither is there (nothing to compare; making it
 * will fail), 1 with the chain, -1 on error. */
static int layer_chain(const char *what, const char *path, struct devino *chain, size_t *n,
		       bool *exists, const struct devino *stop, size_t nstop, ovl_error_t *err)
{
	*n = 0;
	*exists = chain_up(path, chain, n, stop, nstop) == 0;
	if (*exists)
		return 1;
	if (errno == ENOENT && *n == 0) {
		cleanup_free char *parent = strdup(path);
		if (parent == NULL)
			abort();
		char *slash = strrchr(parent, '/');
		*slash = '\0';
		if (chain_up(slash == parent ? "/" : parent, chain, n, stop, nstop) == 0)
			return 1;
		if (errno == ENOENT && *n == 0)
			return 0;
	}
	return ovl_error(err, errno, "%s %s: find where it lies", what, ovl_qp(path));
}

/* ovl_layers_init() compares the paths as written; here the directories they lead to are
 * compared, so that a symlinked parent, a bind mount or an alias such as /a/link/ws for /a/ws
 * cannot make a layer lie inside the workspace (ovlbox would create it there, or, taking the
 * workspace for an upper dir, remove it) or inside the other layer. The layers' chains stop
 * where they meet the workspace's: above that they are the same, so what lies in what is
 * decided below it (a layer that contains the workspace is in the workspace's chain). */
int ovl_layers_check_apart(const struct ovl_layers *l, ovl_error_t *err)
{
	const char *names[3] = {"workspace", "upper dir", "work dir"};
	const char *paths[3] = {l->lower, l->upper, l->work};
	struct devino chains[3][MAX_DEPTH];
	size_t n[3] = {0, 0, 0};
	bool exists[3];
	for (int i = 0; i < 3; i++) {
		int r = layer_chain(names[i], paths[i], chains[i], &n[i], &exists[i], chains[0],
				    i == 0 ? 0 : n[0], err);
		if (r < 0)
			return -1;
		if (i == 0 && !exists[0])
			return 0; /* no workspace: nothing to protect (the caller fails on it) */
	}
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

int ovl_layers_check_beneath(const struct ovl_layers *l, const char *dir, ovl_error_t *err)
{
	struct stat st;
	if (stat(dir, &st) < 0)
		return ovl_error(err, errno, "%s", ovl_qp(dir));
	struct devino d = {st.st_dev, st.st_ino};
	const char *names[2] = {"upper dir", "work dir"};
	const char *paths[2] = {l->upper, l->work};
	for (int i = 0; i < 2; i++) {
		struct devino chain[MAX_DEPTH];
		size_t n = 0;
		bool exists;
		int r = layer_chain(names[i], paths[i], chain, &n, &exists, NULL, 0, err);
		if (r < 0)
			return -1;
		if (r == 0)
			return ovl_error(err, ENOENT, "%s %s: its parent", names[i],
					 ovl_qp(paths[i]));
		/* strictly beneath: the dir itself would be removed after an apply */
		if (!in_chain(chain + (exists ? 1 : 0), n - (exists ? 1 : 0), &d))
			return ovl_error(err, 0, "%s %s does not lie beneath %s", names[i],
					 ovl_qp(paths[i]), ovl_qp(dir));
	}
	return 0;
}

int ovl_layers_state(const struct ovl_layers *l, ovl_error_t *err)
{
	if (ovl_layers_check_apart(l, err) < 0)
		return -1;
	cleanup_close int wfd = ovl_open_dir_fd(AT_FDCWD, l->work, 0);
	if (wfd < 0 && errno != ENOENT)
		return ovl_error(err, errno, "work dir %s", ovl_qp(l->work));
	if (wfd >= 0 && faccessat(wfd, OVL_JOURNAL_NAME, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return OVL_STATE_JOURNAL;
	cleanup_close int ufd =
	    ovl_openat_noatime(AT_FDCWD, l->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ufd < 0) {
		if (errno == ENOENT)
			return OVL_STATE_CLEAN;
		return ovl_error(err, errno, "upper dir %s", ovl_qp(l->upper));
	}
	if (!dir_is_empty(ufd))
		return OVL_STATE_PENDING;
	/* An empty upper whose root metadata differs from the workspace's still holds a change
	 * (chmod or touch of the workspace root) -- but only if ovlbox prepared it. */
	char mode[32] = "";
	if (wfd >= 0)
		read_mode(wfd, mode);
	if (mode[0] == '\0')
		return OVL_STATE_CLEAN;
	struct stat us, ls;
	if (fstat(ufd, &us) < 0 || stat(l->lower, &ls) < 0)
		return ovl_error(err, errno, "stat %s", ovl_qp(l->lower));
	if (us.st_mode != ls.st_mode || us.st_uid != ls.st_uid || us.st_gid != ls.st_gid ||
	    us.st_mtim.tv_sec != ls.st_mtim.tv_sec || us.st_mtim.tv_nsec != ls.st_mtim.tv_nsec)
		return OVL_STATE_PENDING;
	return OVL_STATE_CLEAN;
}

bool ovl_layers_userxattr(const struct ovl_layers *l)
{
	cleanup_close int wfd = ovl_open_dir_fd(AT_FDCWD, l->work, 0);
	if (wfd >= 0) {
		char mode[32];
		read_mode(wfd, mode);
		if (mode[0])
			return strncmp(mode, "userxattr", 9) == 0;
	}
	/* No mode file (an upper ovlbox did not prepare): the overlay that wrote it was
	 * mounted like one we would mount here, with userxattr inside a user namespace. */
	bool in_userns = geteuid() != 0;
	ovl_error_t e = NULL;
	if (ovl_ns_in_child_userns(&in_userns, &e) < 0)
		ovl_error_free(&e);
	return in_userns;
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

static int write_mode_file(const char *work, bool userxattr, ovl_error_t *err)
{
	cleanup_close int wfd = ovl_open_dir_fd(AT_FDCWD, work, 0);
	if (wfd < 0)
		return ovl_error(err, errno, "work dir %s", ovl_qp(work));
	return write_mode_at(wfd, work, userxattr, err);
}

int ovl_layers_owner(const struct ovl_layers *l, char *buf, size_t size, ovl_error_t *err)
{
	buf[0] = '\0';
	cleanup_close int wfd = ovl_open_dir_fd(AT_FDCWD, l->work, O_NOFOLLOW);
	if (wfd < 0)
		return errno == ENOENT ? 0 : ovl_error(err, errno, "work dir %s", ovl_qp(l->work));
	read_tag(wfd, OWNER_XATTR, OWNER_FILE, buf, size);
	return 0;
}

int ovl_layers_set_owner(const struct ovl_layers *l, const char *owner, ovl_error_t *err)
{
	cleanup_close int wfd = ovl_open_dir_fd(AT_FDCWD, l->work, O_NOFOLLOW);
	if (wfd < 0)
		return ovl_error(err, errno, "work dir %s", ovl_qp(l->work));
	return write_tag(wfd, l->work, OWNER_XATTR, OWNER_FILE, owner, err);
}

int ovl_layers_clear_owner(const struct ovl_layers *l, ovl_error_t *err)
{
	cleanup_close int wfd = ovl_open_dir_fd(AT_FDCWD, l->work, O_NOFOLLOW);
	if (wfd < 0)
		return errno == ENOENT ? 0 : ovl_error(err, errno, "work dir %s", ovl_qp(l->work));
	if (ovl_xattr_remove(wfd, OWNER_XATTR, err) < 0 && ovl_error_errno(*err) != ENOTSUP &&
	    ovl_error_errno(*err) != EOPNOTSUPP)
		return ovl_error_wrap(err, "work dir %s", ovl_qp(l->work));
	ovl_error_free(err);
	if (unlinkat(wfd, OWNER_FILE, 0) < 0 && errno != ENOENT)
		return ovl_error(err, errno, "remove %s/%s", ovl_qp(l->work), OWNER_FILE);
	return 0;
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
	cleanup_close int wfd = ovl_open_dir_fd(AT_FDCWD, l->work, O_NOFOLLOW);
	if (wfd < 0)
		return errno == ENOENT ? 0 : ovl_error(err, errno, "work dir %s", ovl_qp(l->work));
	char mode[32];
	read_mode(wfd, mode);
	if (mode[0] != '\0' || dir_is_empty(wfd))
		return 0;
	return ovl_error(err, 0,
			 "work dir %s holds entries but was not made by ovlbox (no %s): name a "
			 "missing or empty directory",
			 ovl_qp(l->work), MODE_XATTR);
}

int ovl_layers_prepare(const struct ovl_layers *l, bool userxattr, unsigned *created,
		       struct ovl_layer_fds *fds, ovl_error_t *err)
{
	if (check_work_is_ours(l, err) < 0)
		return -1;
	unsigned made = 0;
	if (created)
		*created = 0;
	int r = ovl_mkdir_if_missing(l->upper, 0755, err);
	if (r < 0)
		return -1;
	made |= r ? OVL_CREATED_UPPER : 0;
	if (created)
		*created = made;
	r = ovl_mkdir_if_missing(l->work, 0700, err);
	if (r < 0)
		return -1;
	made |= r ? OVL_CREATED_WORK : 0;
	if (created)
		*created = made;
	cleanup_close int lfd = open(l->lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int ufd = open(l->upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	cleanup_close int wfd = ovl_open_dir_fd(AT_FDCWD, l->work, O_NOFOLLOW);
	if (lfd < 0 || ufd < 0 || wfd < 0)
		return ovl_error(err, errno, "open %s",
				 ovl_qp(lfd < 0	  ? l->lower
					: ufd < 0 ? l->upper
						  : l->work));
	struct stat lst, ust, wst;
	if (fstat(lfd, &lst) < 0 || fstat(ufd, &ust) < 0 || fstat(wfd, &wst) < 0)
		return ovl_error(err, errno, "stat layers of %s", ovl_qp(l->lower));
	if (ust.st_dev != lst.st_dev || wst.st_dev != lst.st_dev)
		return ovl_error(
		    err, EXDEV,
		    "workspace %s, upper dir %s and work dir %s must be on one filesystem",
		    ovl_qp(l->lower), ovl_qp(l->upper), ovl_qp(l->work));
	if (write_mode_at(wfd, l->work, userxattr, err) < 0)
		return -1;
	/* overlayfs' own scratch dirs, left by an earlier mount (a `volatile` mount leaves
	 * work/incompat/volatile, which makes the next mount fail); in the clean state nothing
	 * in them matters. */
	if (!(made & OVL_CREATED_WORK) && ovl_layers_remove_scratch_at(wfd, err) < 0)
		return ovl_error_wrap(err, "clean work dir %s", ovl_qp(l->work));
	if (copy_root_meta(lfd, &lst, ufd, err) < 0)
		return ovl_error_wrap(err, "copy metadata of %s onto %s", ovl_qp(l->lower),
				      ovl_qp(l->upper));
	if (fds)
		*fds = (struct ovl_layer_fds){.lower = ovl_steal_fd(&lfd),
					      .upper = ovl_steal_fd(&ufd),
					      .work = ovl_steal_fd(&wfd)};
	return 0;
}

int ovl_layers_copy_root_meta(int lower_fd, int upper_fd, ovl_error_t *err)
{
	struct stat lst;
	if (fstat(lower_fd, &lst) < 0)
		return ovl_error(err, errno, "stat workspace root");
	return copy_root_meta(lower_fd, &lst, upper_fd, err);
}

int ovl_layers_record_mode(const struct ovl_layers *l, bool userxattr, ovl_error_t *err)
{
	if (ovl_mkdir_if_missing(l->work, 0700, err) < 0)
		return -1;
	return write_mode_file(l->work, userxattr, err);
}

int ovl_layers_open(const struct ovl_layers *l, struct ovl_layer_fds *fds, ovl_error_t *err)
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

void ovl_layer_fds_close(struct ovl_layer_fds *fds)
{
	int *all[3] = {&fds->lower, &fds->upper, &fds->work};
	for (int i = 0; i < 3; i++) {
		if (*all[i] >= 0)
			close(*all[i]);
		*all[i] = -1;
	}
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

static int remove_path(const char *path, ovl_error_t *err)
{
	cleanup_free char *copy = strdup(path);
	if (copy == NULL)
		abort();
	char *slash = strrchr(copy, '/');
	*slash = '\0';
	cleanup_close int pfd = open(slash == copy ? "/" : copy, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return errno == ENOENT ? 0 : ovl_error(err, errno, "open %s", ovl_qp(copy));
	if (ovl_remove_tree_at(pfd, slash + 1, err) < 0)
		return ovl_error_wrap(err, "remove %s", ovl_qp(path));
	return 0;
}

int ovl_layers_discard(const struct ovl_layers *l, ovl_error_t *err)
{
	/* work last: it holds the mode file that tells how to read upper. */
	if (remove_path(l->upper, err) < 0 || remove_path(l->work, err) < 0)
		return -1;
	return 0;
}

struct owner_walk {
	char *path; /* the entry being looked at, for the message */
	size_t cap;
	uid_t uid;
	gid_t gid;
};

static int check_owners_at(int dfd, struct owner_walk *w, size_t len, ovl_error_t *err)
{
	cleanup_dir DIR *d = ovl_opendir_dup(dfd);
	if (d == NULL)
		return ovl_error(err, errno, "open workspace dir %s", ovl_qp(w->path));
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		size_t n = strlen(de->d_name), sub = len + n + (len ? 1 : 0);
		if (sub + 1 > w->cap) {
			w->cap = (sub + 1) * 2;
			if ((w->path = realloc(w->path, w->cap)) == NULL)
				abort();
		}
		snprintf(w->path + len, w->cap - len, "%s%s", len ? "/" : "", de->d_name);
		struct stat st;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return ovl_error(err, errno, "stat workspace entry %s", ovl_qp(w->path));
		if (st.st_uid != w->uid || st.st_gid != w->gid)
			return ovl_error(
			    err, 0,
			    "workspace entry %s is owned by %u:%u; a non-root run maps only "
			    "%u:%u into its user namespace, so the action could not change "
			    "it (chown the workspace, or run as root)",
			    ovl_qp(w->path), (unsigned)st.st_uid, (unsigned)st.st_gid,
			    (unsigned)w->uid, (unsigned)w->gid);
		if (S_ISDIR(st.st_mode)) {
			cleanup_close int c = openat(
			    dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (c < 0)
				return ovl_error(err, errno, "open workspace dir %s",
						 ovl_qp(w->path));
			if (check_owners_at(c, w, sub, err) < 0)
				return -1;
		}
		w->path[len] = '\0';
	}
	return 0;
}

int ovl_layers_check_owners(const struct ovl_layers *l, uid_t uid, gid_t gid, ovl_error_t *err)
{
	cleanup_close int fd = open(l->lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ovl_error(err, errno, "workspace %s", ovl_qp(l->lower));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ovl_error(err, errno, "workspace %s", ovl_qp(l->lower));
	if (st.st_uid != uid || st.st_gid != gid)
		return ovl_error(
		    err, 0,
		    "workspace %s is owned by %u:%u; a non-root run maps only %u:%u into "
		    "its user namespace (chown the workspace, or run as root)",
		    ovl_qp(l->lower), (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)uid,
		    (unsigned)gid);
	struct owner_walk w = {.path = calloc(1, 256), .cap = 256, .uid = uid, .gid = gid};
	if (w.path == NULL)
		abort();
	int r = check_owners_at(fd, &w, 0, err);
	free(w.path);
	return r;
}
