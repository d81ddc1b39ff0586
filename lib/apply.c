/* Executing an apply plan. The same code runs a fresh plan and a journal left by a crash: every
 * step first checks that its upper marker still exists, and removes that marker last. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/apply.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/diff.h"
#include "ovlbox/fs.h"
#include "ovlbox/journal.h"
#include "ovlbox/layers.h"
#include "ovlbox/log.h"
#include "ovlbox/plan.h"
#include "ovlbox/prepare.h"
#include "ovlbox/walk.h"
#include "ovlbox/workdir.h"

/* The directory of one layer that the last step worked in, reached from the layer's root. Steps
 * come grouped by directory, and a deep tree's post-order steps (a merged chain's DIR steps)
 * climb one level at a time: so the cursor keeps the way from the root as a walk (walk.h:
 * a bounded number of fds, each level's dev:ino checked on the way up) and goes from one
 * directory to the next through their common ancestor, one component at a time, instead of
 * resolving each (possibly PATH_MAX-long) path from the root again. */
struct cursor {
	int root;
	bool open;
	struct ovl_walk w; /* per level: the path's length before its name */
	struct ovl_pathbuf path;
};

struct exec {
	int lower_fd, upper_fd;
	const struct ovl_layers *layers;
	int userxattr;
	struct cursor lower, upper;
};

static void cursor_close(struct cursor *c)
{
	if (c->open) {
		ovl_walk_free(&c->w);
		free(c->path.s);
		c->path = (struct ovl_pathbuf){0};
		c->open = false;
	}
}

/* Length of the longest leading run of whole components that a and b (alen, blen) share. */
static size_t common_dirs(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i = 0;
	while (i < alen && i < blen && a[i] == b[i])
		i++;
	if ((i == alen || a[i] == '/') && (i == blen || b[i] == '/'))
		return i;
	while (i > 0 && a[i - 1] != '/')
		i--;
	return i > 0 ? i - 1 : 0;
}

/* errno for a directory dirfd/name that could not be opened: ELOOP where it is a symlink (as
 * a path resolution refusing symlinks says), else e. */
static int open_errno(int dirfd, const char *name, int e)
{
	struct stat st;
	if (e == ENOTDIR && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return ELOOP;
	return e;
}

/* Enters the components of rel (relative to the cursor's directory) one by one. */
static int cursor_descend(struct cursor *c, const char *rel, ovl_error_t *err)
{
	while (*rel) {
		const char *slash = strchr(rel, '/');
		size_t n = slash ? (size_t)(slash - rel) : strlen(rel);
		char name[NAME_MAX + 1];
		if (n == 0 || n > NAME_MAX)
			return ovl_error(err, n ? ENAMETOOLONG : EINVAL, "path %s", ovl_qp(rel));
		memcpy(name, rel, n);
		name[n] = '\0';
		size_t old = ovl_path_push(&c->path, name);
		if (ovl_walk_push(&c->w, name) < 0) {
			ovl_error(err, open_errno(ovl_walk_fd(&c->w), name, errno), "open %s",
				  ovl_qp(c->path.s));
			ovl_path_pop(&c->path, old);
			return -1;
		}
		*(size_t *)ovl_walk_data(&c->w, ovl_walk_depth(&c->w)) = old;
		rel += n + (slash ? 1 : 0);
	}
	return 0;
}

/* The fd of directory dir (relative to the cursor's root, "" for the root itself). */
static int cursor_to(struct cursor *c, const char *dir, size_t len, ovl_error_t *err)
{
	if (!c->open) {
		if (ovl_walk_init(&c->w, c->root, O_PATH, false, sizeof(size_t)) < 0)
			return ovl_error(err, errno, "stat layer root");
		ovl_path_push(&c->path, "");
		c->open = true;
	}
	size_t keep = common_dirs(c->path.s, c->path.len, dir, len);
	while (c->path.len > keep) {
		size_t old = *(size_t *)ovl_walk_data(&c->w, ovl_walk_depth(&c->w));
		if (ovl_walk_pop(&c->w, NULL) < 0) {
			int e = errno;
			cursor_close(c);
			return ovl_error(err, e, "back up from %s", ovl_qp(c->path.s));
		}
		ovl_path_pop(&c->path, old);
	}
	cleanup_free char *rest = xstrndup(dir + keep + (keep < len && dir[keep] == '/'),
					   len - keep - (keep < len && dir[keep] == '/'));
	if (cursor_descend(c, rest, err) < 0)
		return -1;
	return ovl_walk_fd(&c->w);
}

/* The directory holding path's last component; *base points into path. */
static int parent_fd(struct cursor *c, const char *path, const char **base, ovl_error_t *err)
{
	const char *slash = strrchr(path, '/');
	*base = slash ? slash + 1 : path;
	return cursor_to(c, path, slash ? (size_t)(slash - path) : 0, err);
}

/* lstat of upper/path: 1 exists, 0 gone (the step is done), -1 error. A missing parent also
 * means done: its whole directory has moved already. */
static int upper_entry(struct exec *x, const char *path, int *pfd, const char **base,
		       struct stat *st, ovl_error_t *err)
{
	ovl_error_t e = NULL;
	*pfd = parent_fd(&x->upper, path, base, &e);
	if (*pfd < 0) {
		int en = ovl_error_errno(e);
		if (en == ENOENT) {
			ovl_error_free(&e);
			return 0;
		}
		*err = e;
		return -1;
	}
	if (ovl_lstat_at(*pfd, *base, st, NULL) < 0) {
		if (errno == ENOENT)
			return 0;
		return ovl_error(err, errno, "stat upper %s", ovl_qp(path));
	}
	return 1;
}

/* An upper entry a step acts on: the dir that holds it, its name, its stat. */
struct upper_ref {
	int pfd;
	const char *base;
	struct stat st;
};

static int lower_parent(struct exec *x, const char *path, const char **base, ovl_error_t *err)
{
	int fd = parent_fd(&x->lower, path, base, err);
	if (fd < 0)
		return ovl_error_wrap(err, "workspace");
	return fd;
}

static int step_xattr_strip(const struct ovl_step *s, const struct upper_ref *u, ovl_error_t *err)
{
	int pfd = u->pfd;
	const char *base = u->base;
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", pfd, base);
	if (lremovexattr(p, s->name) < 0 && errno != ENODATA)
		return ovl_error(err, errno, "remove xattr %s from upper %s", s->name,
				 ovl_qp(s->path));
	return 0;
}

static int step_chmod(const struct ovl_step *s, const struct upper_ref *u, ovl_error_t *err)
{
	int pfd = u->pfd;
	const char *base = u->base;
	if (S_ISLNK(u->st.st_mode))
		return 0;
	if (fchmodat(pfd, base, s->mode, 0) < 0)
		return ovl_error(err, errno, "chmod upper %s", ovl_qp(s->path));
	return 0;
}

static int step_unlink_whiteout(const struct ovl_step *s, const struct upper_ref *u,
				ovl_error_t *err)
{
	int pfd = u->pfd;
	const char *base = u->base;
	bool whiteout = (S_ISCHR(u->st.st_mode) && u->st.st_rdev == makedev(0, 0)) ||
			(S_ISREG(u->st.st_mode) && u->st.st_size == 0);
	if (!whiteout)
		return ovl_error(err, 0, "upper %s: expected a whiteout, found something else",
				 ovl_qp(s->path));
	if (unlinkat(pfd, base, 0) < 0)
		return ovl_error(err, errno, "remove whiteout %s", ovl_qp(s->path));
	return 0;
}

static int step_times(const struct ovl_step *s, const struct upper_ref *u, ovl_error_t *err)
{
	int pfd = u->pfd;
	const char *base = u->base;
	struct timespec ts[2] = {s->atime, s->mtime};
	if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return ovl_error(err, errno, "set times of upper %s", ovl_qp(s->path));
	return 0;
}

static int step_whiteout(struct exec *x, const struct ovl_step *s, const struct upper_ref *u,
			 ovl_error_t *err)
{
	const char *lbase;
	int pfd = u->pfd;
	const char *base = u->base;
	int lfd = lower_parent(x, s->path, &lbase, err);
	if (lfd < 0 || ovl_remove_tree_at(lfd, lbase, err) < 0)
		return ovl_error_wrap(err, "remove %s", ovl_qp(s->path));
	if (unlinkat(pfd, base, 0) < 0)
		return ovl_error(err, errno, "remove whiteout %s", ovl_qp(s->path));
	return 0;
}

static int step_replace(struct exec *x, const struct ovl_step *s, const struct upper_ref *u,
			ovl_error_t *err)
{
	const char *lbase;
	struct stat lst;
	int pfd = u->pfd;
	const char *base = u->base;
	int lfd = lower_parent(x, s->path, &lbase, err);
	if (lfd < 0)
		return -1;
	/* rename() cannot swap a dir and a non-dir, nor replace a non-empty dir. */
	if (ovl_lstat_at(lfd, lbase, &lst, NULL) == 0 &&
	    (S_ISDIR(lst.st_mode) || S_ISDIR(u->st.st_mode)) &&
	    ovl_remove_tree_at(lfd, lbase, err) < 0)
		return ovl_error_wrap(err, "replace %s", ovl_qp(s->path));
	/* The cursors are at the parents: what moves is below them, never on their way. */
	if (renameat(pfd, base, lfd, lbase) < 0)
		return ovl_error(err, errno, "move %s into the workspace", ovl_qp(s->path));
	return 0;
}

static bool keep_user_xattr(const char *name, void *data)
{
	const int *userxattr = data;
	return ovl_overlay_key(name, *userxattr) == NULL;
}

static bool same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* True if the workspace dir fd already has want's owner, mode and times, as the root has
 * after a run that did not touch it: an apply with nothing to change then writes nothing
 * (setting the same values still changes the dir's ctime). ovlbox reads the layers with
 * O_NOATIME, so its own reading does not make the atimes differ. */
static bool has_owner_mode_times(int fd, const struct stat *want)
{
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_uid == want->st_uid && st.st_gid == want->st_gid &&
	       (st.st_mode & 07777) == (want->st_mode & 07777) &&
	       same_time(st.st_atim, want->st_atim) && same_time(st.st_mtim, want->st_mtim);
}

/* An fd of workspace dir path ("" the root), through the lower cursor. */
static int workspace_dir(struct exec *x, const char *path, ovl_error_t *err)
{
	if (path[0] == '\0')
		return ovl_open_beneath(x->lower_fd, "", O_PATH | O_DIRECTORY, err);
	const char *base;
	int pfd = parent_fd(&x->lower, path, &base, err);
	if (pfd < 0)
		return -1;
	int fd = openat(pfd, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ovl_error(err, open_errno(pfd, base, errno), "open %s", ovl_qp(path));
	return fd;
}

/* u is NULL for the root, which has no marker (the upper root stays until the end). */
static int step_dir(struct exec *x, const struct ovl_step *s, const struct upper_ref *u,
		    ovl_error_t *err)
{
	bool root = u == NULL;
	int pfd = root ? x->upper_fd : u->pfd;
	const char *base = root ? "." : u->base;
	cleanup_close int ufd = openat(pfd, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ufd < 0) {
		if (root && errno == ENOENT)
			return 0;
		return ovl_error(err, errno, "open upper dir %s", ovl_qp(s->path));
	}
	cleanup_close int lfd = workspace_dir(x, s->path, err);
	if (lfd < 0)
		return ovl_error_wrap(err, "workspace dir");
	struct stat want = {.st_mode = S_IFDIR | s->mode,
			    .st_uid = s->uid,
			    .st_gid = s->gid,
			    .st_atim = s->atime,
			    .st_mtim = s->mtime};
	if (ovl_copy_xattrs(ufd, lfd, keep_user_xattr, &x->userxattr, err) < 0 ||
	    (!has_owner_mode_times(lfd, &want) && ovl_set_owner_mode_times(lfd, &want, err) < 0))
		return ovl_error_wrap(err, "workspace dir %s", ovl_qp(s->path));
	if (!root && unlinkat(pfd, base, AT_REMOVEDIR) < 0)
		return ovl_error(err, errno, "remove upper dir %s", ovl_qp(s->path));
	return 0;
}

/* Removes parent/name if it still is the directory open as fd (a name swapped meanwhile is
 * left alone). */
static int rmdir_if_same(int parent, const char *name, int fd, const char *what, const char *path,
			 ovl_error_t *err)
{
	struct stat want, got;
	if (fstat(fd, &want) < 0)
		return ovl_error(err, errno, "stat %s %s", what, ovl_qp(path));
	if (fstatat(parent, name, &got, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : ovl_error(err, errno, "%s %s", what, ovl_qp(path));
	if (got.st_dev != want.st_dev || got.st_ino != want.st_ino)
		return 0;
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT && errno != ENOTEMPTY)
		return ovl_error(err, errno, "remove %s %s", what, ovl_qp(path));
	return 0;
}

static int step_end(struct exec *x, ovl_error_t *err)
{
	const struct ovl_layers *l = x->layers;
	return rmdir_if_same(l->upper_parent, ovl_layers_upper_name(l), x->upper_fd, "upper dir",
			     l->upper, err);
}

static int step_protect(struct exec *x, const struct ovl_step *s, ovl_error_t *err)
{
	cleanup_close int fd =
	    ovl_open_beneath(x->lower_fd, s->path, O_RDONLY | O_NONBLOCK | O_NOCTTY, err);
	if (fd < 0)
		return ovl_error_wrap(err, "chattr in workspace");
	int flags = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		return ovl_error(err, errno, "get inode flags of %s", ovl_qp(s->path));
	if ((flags & (int)s->flags) == (int)s->flags)
		return 0;
	flags |= (int)s->flags;
	if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
		return ovl_error(err, errno, "set inode flags of %s", ovl_qp(s->path));
	return 0;
}

static int run_step(struct exec *x, const struct ovl_step *s, ovl_error_t *err)
{
	/* Every step but the last ones is marked by its upper entry: gone means done. */
	struct upper_ref u;
	bool marked = s->op != OVL_STEP_END && s->op != OVL_STEP_PROTECT &&
		      !(s->op == OVL_STEP_DIR && s->path[0] == '\0');
	if (marked) {
		int r = upper_entry(x, s->path, &u.pfd, &u.base, &u.st, err);
		if (r <= 0)
			return r;
	}
	switch (s->op) {
	case OVL_STEP_XATTR_STRIP:
		return step_xattr_strip(s, &u, err);
	case OVL_STEP_CHMOD:
		return step_chmod(s, &u, err);
	case OVL_STEP_UNLINK:
		return step_unlink_whiteout(s, &u, err);
	case OVL_STEP_TIMES:
		return step_times(s, &u, err);
	case OVL_STEP_WHITEOUT:
		return step_whiteout(x, s, &u, err);
	case OVL_STEP_REPLACE:
		return step_replace(x, s, &u, err);
	case OVL_STEP_DIR:
		return step_dir(x, s, marked ? &u : NULL, err);
	case OVL_STEP_END:
		return step_end(x, err);
	case OVL_STEP_PROTECT:
		return step_protect(x, s, err);
	}
	return ovl_error(err, 0, "journal: unknown step '%c'", s->op);
}

static int run_plan(struct exec *x, const struct ovl_plan *p, ovl_error_t *err)
{
	for (size_t i = 0; i < p->n; i++)
		if (run_step(x, &p->steps[i], err) < 0)
			return -1;
	return 0;
}

/* After the last step: overlay's own work subdirs, the mode file, then the journal, then the
 * work dir itself. */
static int remove_work(const struct ovl_layers *l, int work_fd, bool journaled, ovl_error_t *err)
{
	const char *work = l->work;
	const char *names[] = {OVL_WORK_SCRATCH,
			       OVL_WORK_INDEX,
			       OVL_MODE_FILE,
			       OVL_MODE_FILE OVL_WORK_TMP_SUFFIX,
			       OVL_MARK_FILE,
			       OVL_MARK_FILE OVL_WORK_TMP_SUFFIX,
			       OVL_JOURNAL_NAME OVL_WORK_TMP_SUFFIX};
	for (size_t i = 0; i < N_ELEMENTS(names); i++)
		if (ovl_remove_tree_at(work_fd, names[i], err) < 0)
			return ovl_error_wrap(err, "clean work dir %s", ovl_qp(work));
	if (journaled && ovl_journal_remove(work_fd, err) < 0)
		return -1;
	return rmdir_if_same(l->work_parent, ovl_layers_work_name(l), work_fd, "work dir", work,
			     err);
}

/* syncfs of the upper's filesystem, and of the work dir's when it is another one. */
static int sync_layers(int upper_fd, int work_fd, ovl_error_t *err)
{
	struct stat us, ws;
	if (fstat(upper_fd, &us) < 0 || fstat(work_fd, &ws) < 0)
		return ovl_error(err, errno, "stat layers");
	if (syncfs(upper_fd) < 0 || (us.st_dev != ws.st_dev && syncfs(work_fd) < 0))
		return ovl_error(err, errno, "sync");
	return 0;
}

/* Plans a new apply of l's upper and, unless the plan is empty, journals it and syncs the
 * journal with the action's data: 0, -1, or OVL_XATTR_NS_AMBIGUOUS. *journaled: whether a
 * journal was written. */
static int plan_new(struct ovl_layers *l, const struct ovl_apply_opts *opts,
		    struct ovl_change_counts *counts, struct ovl_plan *plan, bool *journaled,
		    ovl_error_t *err)
{
	int userxattr = ovl_xattr_ns_choose(l, l->upper_fd, opts->xattr_ns, err);
	if (userxattr < 0) {
		ovl_error_wrap(err, "apply %s", ovl_qp(l->lower));
		return userxattr;
	}
	if (l->work_fd < 0 && ovl_layers_make_work(l, err) < 0)
		return -1;
	enum ovl_xattr_ns ns = userxattr ? OVL_XATTR_NS_USER : OVL_XATTR_NS_TRUSTED;
	if (counts && ovl_diff_counts(l, ns, counts, err) < 0)
		return -1;
	if (ovl_plan_build(l->lower_fd, l->upper_fd, userxattr, opts, plan, err) < 0)
		return ovl_error_wrap(err, "apply %s", ovl_qp(l->lower));
	/* An empty upper plans only the root's metadata and the end: both are safe to repeat
	 * without a journal (upper stays until the end), so skip the fsyncs. */
	*journaled = plan->n > 2;
	if (!*journaled)
		return 0;
	if (ovl_journal_write(l->work_fd, plan, err) < 0)
		return ovl_error_wrap(err, "work dir %s", ovl_qp(l->work));
	/* One sync for the journal and the action's data (the overlay is mounted volatile:
	 * nothing synced it), before anything moves into the workspace. */
	if (sync_layers(l->upper_fd, l->work_fd, err) < 0)
		return ovl_error_wrap(err, "upper dir %s", ovl_qp(l->upper));
	return 0;
}

/* Carries out plan's steps on l (the upper root gone: only the chattr steps after END). */
static int run_steps(struct ovl_layers *l, const struct ovl_plan *plan, ovl_error_t *err)
{
	struct exec x = {.lower_fd = l->lower_fd,
			 .upper_fd = l->upper_fd,
			 .layers = l,
			 .userxattr = plan->userxattr,
			 .lower = {.root = l->lower_fd},
			 .upper = {.root = l->upper_fd}};
	int r = l->upper_fd >= 0 ? run_plan(&x, plan, err) : 0;
	for (size_t i = 0; l->upper_fd < 0 && i < plan->n && r == 0; i++)
		if (plan->steps[i].op == OVL_STEP_PROTECT)
			r = step_protect(&x, &plan->steps[i], err);
	cursor_close(&x.lower);
	cursor_close(&x.upper);
	return r;
}

int ovl_apply(struct ovl_layers *l, const struct ovl_apply_opts *opts,
	      struct ovl_change_counts *counts, ovl_error_t *err)
{
	if (counts)
		memset(counts, 0, sizeof(*counts));
	/* the layers' own fds (ovl_layers_open, which checked them apart), not the names again */
	if (l->lower_fd < 0)
		return ovl_error(err, EBADF, "apply %s: layers not opened", ovl_qp(l->lower));
	struct ovl_plan plan = {0};
	bool journaled = true;
	int have = l->work_fd >= 0 ? ovl_journal_read(l->work_fd, &plan, err) : 0;
	if (have < 0)
		return ovl_error_wrap(err, "work dir %s", ovl_qp(l->work));
	if (have)
		ovl_info("finishing an interrupted apply of %s", ovl_qp(l->lower));
	if (!have && l->upper_fd < 0) {
		/* Nothing to apply; a leftover work dir is just removed. */
		return l->work_fd >= 0 ? remove_work(l, l->work_fd, false, err) : 0;
	}
	if (!have) {
		int r = plan_new(l, opts, counts, &plan, &journaled, err);
		if (r < 0) {
			ovl_plan_free(&plan);
			return r;
		}
	}
	int r = run_steps(l, &plan, err);
	ovl_plan_free(&plan);
	if (r < 0) {
		ovl_error_wrap(err, "apply %s (the journal is kept)", ovl_qp(l->lower));
		return ovl_error_set_reason(err, OVL_REASON_JOURNAL_KEPT);
	}
	if (journaled && syncfs(l->lower_fd) < 0)
		return ovl_error(err, errno, "sync workspace %s", ovl_qp(l->lower));
	return remove_work(l, l->work_fd, journaled, err);
}
