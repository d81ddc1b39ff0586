/* The changes an apply would make, computed read-only from upper and lower. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/diff.h"
#include "ovlbox/fs.h"
#include "ovlbox/plan.h"
#include "ovlbox/walk.h"

struct dctx {
	struct ovl_diff *out;
	size_t cap;
	int userxattr;
};

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "symlink";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	case S_IFCHR:
		return "char";
	case S_IFBLK:
		return "block";
	}
	return "unknown";
}

static void emit(struct dctx *c, const char *path, char change, mode_t mode, off_t size)
{
	if (c->out->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->out->entries = xrealloc(c->out->entries, c->cap * sizeof(*c->out->entries));
	}
	struct ovl_diff_entry *e = &c->out->entries[c->out->n++];
	e->path = xstrdup(path);
	e->change = change;
	e->type = type_name(mode);
	e->size = S_ISREG(mode) ? (uint64_t)size : 0;
}

static bool is_whiteout(int dirfd, const char *name, const struct stat *st, int userxattr)
{
	if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0))
		return true;
	if (!S_ISREG(st->st_mode) || st->st_size != 0)
		return false;
	struct stat dummy = *st;
	enum ovl_entry_kind k;
	ovl_error_t e = NULL;
	if (ovl_classify(dirfd, name, &dummy, -1, userxattr, &k, &e) < 0) {
		ovl_error_free(&e);
		return false;
	}
	return k == OVL_ENTRY_WHITEOUT;
}

static bool xattrs_differ(int a, int b, int userxattr)
{
	cleanup_free char *na = NULL, *nb = NULL;
	size_t sa = 0, sb = 0;
	ovl_error_t e = NULL;
	if (ovl_xattr_list(a, &na, &sa, &e) < 0 || ovl_xattr_list(b, &nb, &sb, &e) < 0) {
		ovl_error_free(&e);
		return true;
	}
	size_t count_a = 0, count_b = 0;
	for (const char *n = nb; n && n < nb + sb; n += strlen(n) + 1)
		if (ovl_overlay_key(n, userxattr) == NULL)
			count_b++;
	for (const char *n = na; n && n < na + sa; n += strlen(n) + 1) {
		if (ovl_overlay_key(n, userxattr) != NULL)
			continue;
		count_a++;
		cleanup_free char *va = NULL, *vb = NULL;
		size_t la = 0, lb = 0;
		int ra = ovl_xattr_get(a, n, &va, &la, &e);
		int rb = ovl_xattr_get(b, n, &vb, &lb, &e);
		ovl_error_free(&e);
		if (ra != rb || la != lb || (la && memcmp(va, vb, la) != 0))
			return true;
	}
	return count_a != count_b;
}

/* How a directory level of the diff is taken; which walks it is a level of. */
enum frame_mode {
	FRAME_MERGE,	/* merged upper and lower dirs (both walks): each entry as apply sees it */
	FRAME_REPLACED, /* an upper dir replacing a lower dir whole (both walks): by name */
	FRAME_ADDED,	/* inside a new upper dir (upper walk): everything added */
	FRAME_DELETED,	/* inside a removed lower dir (lower walk): everything deleted */
};

/* What a merged dir's own line is decided on, for each side. */
struct dir_meta {
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec mtime;
};

/* A level of the diff: some 80 bytes, whatever the walks hold. */
struct frame {
	unsigned char mode;   /* enum frame_mode */
	bool lower_pass;      /* FRAME_REPLACED: the upper names are done, the lower ones next */
	bool child_listed;    /* a direct entry of this dir was listed */
	size_t path_old;      /* the path's length before this dir's name */
	struct dir_meta u, l; /* FRAME_MERGE: the two dirs */
};

struct diff_walk {
	struct dctx *c;
	struct ovl_walk up, low;
	struct frame *f;
	size_t n, cap;
	struct ovl_pathbuf path;
};

static struct dir_meta meta_of(const struct stat *st)
{
	return (struct dir_meta){st->st_mode, st->st_uid, st->st_gid, st->st_mtim};
}

static struct frame *top(struct diff_walk *d)
{
	return &d->f[d->n - 1];
}

/* Lists the current path (a direct entry of the current dir). */
static void list(struct diff_walk *d, char change, mode_t mode, off_t size)
{
	top(d)->child_listed = true;
	emit(d->c, d->path.s, change, mode, size);
}

/* Enters the current path's dir as a new frame, on the walks its mode needs. */
static int enter(struct diff_walk *d, enum frame_mode mode, const char *name, ovl_error_t *err)
{
	bool up = mode != FRAME_DELETED, low = mode != FRAME_ADDED;
	if (up && ovl_walk_push(&d->up, name) < 0)
		return ovl_error(err, errno, "open %s", ovl_qp(d->path.s));
	if (low && ovl_walk_push(&d->low, name) < 0) {
		int e = errno;
		if (up)
			ovl_walk_pop(&d->up, NULL);
		return ovl_error(err, e, "open %s", ovl_qp(d->path.s));
	}
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->f = xrealloc(d->f, d->cap * sizeof(*d->f));
	}
	d->f[d->n++] = (struct frame){.mode = (unsigned char)mode};
	return 0;
}

/* Leaves the current frame (and its path component). */
static int leave(struct diff_walk *d, ovl_error_t *err)
{
	struct frame f = *top(d);
	if ((f.mode != FRAME_DELETED && ovl_walk_pop(&d->up, NULL) < 0) ||
	    (f.mode != FRAME_ADDED && ovl_walk_pop(&d->low, NULL) < 0))
		return ovl_error(err, errno, "back from %s", ovl_qp(d->path.s));
	d->n--;
	ovl_path_pop(&d->path, f.path_old);
	return 0;
}

/* A lower entry removed with everything in it: listed, a directory entered. */
static int deleted(struct diff_walk *d, const char *name, const struct stat *lst, ovl_error_t *err)
{
	list(d, 'D', lst->st_mode, lst->st_size);
	return S_ISDIR(lst->st_mode) ? enter(d, FRAME_DELETED, name, err) : 0;
}

/* An upper entry that is new with everything in it (a stray whiteout inside a new dir is not:
 * apply drops it): listed, a directory entered. */
static int added(struct diff_walk *d, const char *name, const struct stat *st, ovl_error_t *err)
{
	if (is_whiteout(ovl_walk_fd(&d->up), name, st, d->c->userxattr))
		return 0;
	list(d, 'A', st->st_mode, st->st_size);
	return S_ISDIR(st->st_mode) ? enter(d, FRAME_ADDED, name, err) : 0;
}

/* An upper entry that replaces the lower entry of the same name whole, if there is one: two
 * directories are compared by name, a directory replacing a non-directory (or the other way
 * round) lists what comes in (or goes). */
static int replaced(struct diff_walk *d, const char *name, ovl_error_t *err)
{
	struct stat ust, lst;
	if (ovl_lstat_at(ovl_walk_fd(&d->up), name, &ust, NULL) < 0)
		return ovl_error(err, errno, "stat upper %s", ovl_qp(d->path.s));
	if (ovl_lstat_at(ovl_walk_fd(&d->low), name, &lst, NULL) < 0)
		return added(d, name, &ust, err);
	list(d, 'M', ust.st_mode, ust.st_size);
	if (S_ISDIR(ust.st_mode) && S_ISDIR(lst.st_mode))
		return enter(d, FRAME_REPLACED, name, err);
	if (S_ISDIR(lst.st_mode))
		return enter(d, FRAME_DELETED, name, err);
	if (S_ISDIR(ust.st_mode))
		return enter(d, FRAME_ADDED, name, err);
	return 0;
}

/* An entry of a merged dir, as apply takes it. */
static int merge_entry(struct diff_walk *d, const char *name, ovl_error_t *err)
{
	int ud = ovl_walk_fd(&d->up), ld = ovl_walk_fd(&d->low);
	struct stat st, lst;
	if (ovl_lstat_at(ud, name, &st, NULL) < 0)
		return ovl_error(err, errno, "stat upper %s", ovl_qp(d->path.s));
	bool lower = ovl_lstat_at(ld, name, &lst, NULL) == 0;
	enum ovl_entry_kind kind;
	if (ovl_classify(ud, name, &st, ld, d->c->userxattr, &kind, err) < 0)
		return ovl_error_wrap(err, "%s", ovl_qp(d->path.s));
	switch (kind) {
	case OVL_ENTRY_WHITEOUT:
		return lower ? deleted(d, name, &lst, err) : 0;
	case OVL_ENTRY_REPLACE:
		return replaced(d, name, err);
	case OVL_ENTRY_MERGE:
		if (enter(d, FRAME_MERGE, name, err) < 0)
			return -1;
		top(d)->u = meta_of(&st);
		top(d)->l = meta_of(&lst);
		return 0;
	}
	return 0;
}

/* The next upper name of a replacing dir: skipped if a stray whiteout. */
static int replaced_upper_entry(struct diff_walk *d, const char *name, ovl_error_t *err)
{
	struct stat st;
	if (ovl_lstat_at(ovl_walk_fd(&d->up), name, &st, NULL) < 0)
		return ovl_error(err, errno, "stat %s", ovl_qp(d->path.s));
	if (is_whiteout(ovl_walk_fd(&d->up), name, &st, d->c->userxattr))
		return 0;
	return replaced(d, name, err);
}

/* The next lower name of a replaced dir: deleted unless the upper dir has it too. */
static int replaced_lower_entry(struct diff_walk *d, const char *name, ovl_error_t *err)
{
	struct stat st;
	int ud = ovl_walk_fd(&d->up);
	if (ovl_lstat_at(ud, name, &st, NULL) == 0 && !is_whiteout(ud, name, &st, d->c->userxattr))
		return 0;
	if (ovl_lstat_at(ovl_walk_fd(&d->low), name, &st, NULL) < 0)
		return ovl_error(err, errno, "stat %s", ovl_qp(d->path.s));
	return deleted(d, name, &st, err);
}

static int other_entry(struct diff_walk *d, const char *name, ovl_error_t *err)
{
	struct frame *f = top(d);
	struct ovl_walk *w = f->mode == FRAME_DELETED ? &d->low : &d->up;
	struct stat st;
	if (ovl_lstat_at(ovl_walk_fd(w), name, &st, NULL) < 0)
		return ovl_error(err, errno, "stat %s", ovl_qp(d->path.s));
	return f->mode == FRAME_DELETED ? deleted(d, name, &st, err) : added(d, name, &st, err);
}

static int on_entry(struct diff_walk *d, const char *name, ovl_error_t *err)
{
	struct frame *f = top(d);
	switch (f->mode) {
	case FRAME_MERGE:
		return merge_entry(d, name, err);
	case FRAME_REPLACED:
		return f->lower_pass ? replaced_lower_entry(d, name, err)
				     : replaced_upper_entry(d, name, err);
	}
	return other_entry(d, name, err);
}

/* A merged directory is listed when apply changes it in a way its listed children do not
 * explain: its mode, owner or xattrs, or its mtime when no direct child is listed (adding or
 * removing a child changes the mtime anyway: no need to list the dir for that). */
static bool merged_dir_changed(struct diff_walk *d, const struct frame *f)
{
	bool mtime =
	    f->u.mtime.tv_sec != f->l.mtime.tv_sec || f->u.mtime.tv_nsec != f->l.mtime.tv_nsec;
	return f->u.mode != f->l.mode || f->u.uid != f->l.uid || f->u.gid != f->l.gid ||
	       xattrs_differ(ovl_walk_fd(&d->up), ovl_walk_fd(&d->low), d->c->userxattr) ||
	       (mtime && !f->child_listed);
}

/* The end of the current dir's entries: a replaced dir goes on with its lower names, a merged
 * one may be listed itself; then back to the parent, or 1 at the end of the root. */
static int on_end(struct diff_walk *d, ovl_error_t *err)
{
	struct frame *f = top(d);
	if (f->mode == FRAME_REPLACED && !f->lower_pass) {
		f->lower_pass = true;
		return 0;
	}
	bool changed = f->mode == FRAME_MERGE && merged_dir_changed(d, f);
	mode_t mode = f->u.mode;
	if (d->n == 1) {
		if (changed)
			emit(d->c, ".", 'M', mode, 0);
		return 1;
	}
	if (changed)
		emit(d->c, d->path.s, 'M', mode, 0);
	if (leave(d, err) < 0)
		return -1;
	if (changed)
		top(d)->child_listed = true;
	return 0;
}

/* The walk that drives the current frame. */
static struct ovl_walk *reading(struct diff_walk *d)
{
	const struct frame *f = top(d);
	bool low = f->mode == FRAME_DELETED || (f->mode == FRAME_REPLACED && f->lower_pass);
	return low ? &d->low : &d->up;
}

/* Diffs the merged roots ud and ld (stats us, ls; path "") level by level: no recursion, and a
 * bounded number of fds, whatever the depth. */
static int diff_merged(struct dctx *c, int ud, int ld, const struct stat *us, const struct stat *ls,
		       const char *path, ovl_error_t *err)
{
	struct diff_walk d = {.c = c};
	int r = -1;
	if (ovl_walk_init(&d.up, ud, O_RDONLY, false, 0) < 0 ||
	    ovl_walk_init(&d.low, ld, O_RDONLY, false, 0) < 0) {
		ovl_error(err, errno, "stat layer roots");
		goto out;
	}
	ovl_path_push(&d.path, path);
	d.cap = 16;
	d.f = xmalloc(d.cap * sizeof(*d.f));
	d.f[d.n++] = (struct frame){.mode = FRAME_MERGE, .u = meta_of(us), .l = meta_of(ls)};
	for (;;) {
		const char *name;
		int got = ovl_walk_next(reading(&d), &name, NULL);
		if (got < 0) {
			ovl_error(err, errno, "readdir %s", ovl_qp(d.path.s));
			goto out;
		}
		if (got == 0) {
			int end = on_end(&d, err);
			if (end < 0)
				goto out;
			if (end > 0)
				break;
			continue;
		}
		size_t old = ovl_path_push(&d.path, name);
		size_t depth = d.n;
		if (on_entry(&d, name, err) < 0)
			goto out;
		if (d.n > depth)
			top(&d)->path_old = old;
		else
			ovl_path_pop(&d.path, old);
	}
	r = 0;
out:
	ovl_walk_free(&d.up);
	ovl_walk_free(&d.low);
	free(d.f);
	free(d.path.s);
	return r;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct ovl_diff_entry *x = a, *y = b;
	return strcmp(x->path, y->path);
}

int ovl_diff(const struct ovl_layers *l, enum ovl_xattr_ns ns, struct ovl_diff *out,
	     ovl_error_t *err)
{
	memset(out, 0, sizeof(*out));
	struct dctx c = {.out = out};
	/* through the layers' fds, read from the start with descriptors of its own */
	if (l->upper_fd < 0)
		return 0;
	cleanup_close int ud =
	    ovl_openat_noatime(l->upper_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ud < 0)
		return ovl_error(err, errno, "upper dir %s", ovl_qp(l->upper));
	c.userxattr = ovl_xattr_ns_choose(l, ud, ns, err);
	if (c.userxattr < 0)
		return c.userxattr;
	cleanup_close int ld =
	    ovl_openat_noatime(l->lower_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ld < 0)
		return ovl_error(err, errno, "workspace %s", ovl_qp(l->lower));
	struct stat us, ls;
	if (fstat(ud, &us) < 0 || fstat(ld, &ls) < 0)
		return ovl_error(err, errno, "stat layer roots");
	if (diff_merged(&c, ud, ld, &us, &ls, "", err) < 0) {
		ovl_diff_free(out);
		return -1;
	}
	if (out->n > 1)
		qsort(out->entries, out->n, sizeof(*out->entries), cmp_entry);
	return 0;
}

void ovl_diff_free(struct ovl_diff *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->entries[i].path);
	free(d->entries);
	memset(d, 0, sizeof(*d));
}

void ovl_diff_count(const struct ovl_diff *d, struct ovl_change_counts *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < d->n; i++) {
		const struct ovl_diff_entry *e = &d->entries[i];
		if (e->change == 'A')
			c->added++;
		else if (e->change == 'M')
			c->modified++;
		else
			c->deleted++;
		if (e->change != 'D')
			c->bytes += e->size;
	}
}

int ovl_diff_counts(const struct ovl_layers *l, enum ovl_xattr_ns ns, struct ovl_change_counts *c,
		    ovl_error_t *err)
{
	struct ovl_diff d;
	int r = ovl_diff(l, ns, &d, err);
	if (r < 0)
		return r;
	ovl_diff_count(&d, c);
	ovl_diff_free(&d);
	return 0;
}
