/* The changes an apply would make, computed read-only from upper and lower. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ovlbox/cleanup.h"
#include "ovlbox/diff.h"
#include "ovlbox/fs.h"
#include "ovlbox/plan.h"

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

static char *join(const char *dir, const char *name)
{
	char *s = NULL;
	if (asprintf(&s, "%s%s%s", dir, dir[0] ? "/" : "", name) < 0)
		abort();
	return s;
}

static void emit(struct dctx *c, const char *path, char change, const struct stat *st)
{
	if (c->out->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->out->entries = realloc(c->out->entries, c->cap * sizeof(*c->out->entries));
		if (c->out->entries == NULL)
			abort();
	}
	struct ovl_diff_entry *e = &c->out->entries[c->out->n++];
	e->path = strdup(path);
	if (e->path == NULL)
		abort();
	e->change = change;
	e->type = type_name(st->st_mode);
	e->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
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

typedef int (*each_fn)(struct dctx *c, int dirfd, const char *name, const char *path,
		       ovl_error_t *err);

/* Calls fn for every entry of dirfd/name (a directory), skipping "." and "..". */
static int each_entry(struct dctx *c, int dirfd, const char *name, const char *path, each_fn fn,
		      ovl_error_t *err)
{
	cleanup_close int fd =
	    ovl_openat_noatime(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ovl_error(err, errno, "open %s", ovl_qp(path));
	cleanup_dir DIR *d = ovl_opendir_dup(fd);
	if (d == NULL)
		return ovl_error(err, errno, "opendir %s", ovl_qp(path));
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		cleanup_free char *child = join(path, de->d_name);
		if (fn(c, fd, de->d_name, child, err) < 0)
			return -1;
	}
	return 0;
}

static int emit_lower_deleted(struct dctx *c, int dirfd, const char *name, const char *path,
			      ovl_error_t *err)
{
	struct stat st;
	if (ovl_lstat_at(dirfd, name, &st, NULL) < 0)
		return ovl_error(err, errno, "stat %s", ovl_qp(path));
	emit(c, path, 'D', &st);
	if (S_ISDIR(st.st_mode))
		return each_entry(c, dirfd, name, path, emit_lower_deleted, err);
	return 0;
}

static int emit_upper_added(struct dctx *c, int dirfd, const char *name, const char *path,
			    ovl_error_t *err)
{
	struct stat st;
	if (ovl_lstat_at(dirfd, name, &st, NULL) < 0)
		return ovl_error(err, errno, "stat %s", ovl_qp(path));
	if (is_whiteout(dirfd, name, &st, c->userxattr))
		return 0; /* a stray whiteout inside a new dir: apply drops it */
	emit(c, path, 'A', &st);
	if (S_ISDIR(st.st_mode))
		return each_entry(c, dirfd, name, path, emit_upper_added, err);
	return 0;
}

/* upper dir ud/name replaces lower dir ld/name whole: compare the two trees by name. */
static int diff_replaced_dir(struct dctx *c, int ud, int ld, const char *name, const char *path,
			     ovl_error_t *err);

static int diff_replaced(struct dctx *c, int ud, int ld, const char *name, const char *path,
			 ovl_error_t *err)
{
	struct stat ust, lst;
	if (ovl_lstat_at(ud, name, &ust, NULL) < 0)
		return ovl_error(err, errno, "stat upper %s", ovl_qp(path));
	bool lower = ld >= 0 && ovl_lstat_at(ld, name, &lst, NULL) == 0;
	if (!lower)
		return emit_upper_added(c, ud, name, path, err);
	emit(c, path, 'M', &ust);
	if (S_ISDIR(ust.st_mode) && S_ISDIR(lst.st_mode))
		return diff_replaced_dir(c, ud, ld, name, path, err);
	if (S_ISDIR(lst.st_mode) && each_entry(c, ld, name, path, emit_lower_deleted, err) < 0)
		return -1;
	if (S_ISDIR(ust.st_mode) && each_entry(c, ud, name, path, emit_upper_added, err) < 0)
		return -1;
	return 0;
}

struct pair {
	struct dctx *c;
	int ud, ld;
};

static int diff_replaced_dir(struct dctx *c, int ud, int ld, const char *name, const char *path,
			     ovl_error_t *err)
{
	cleanup_close int cu =
	    ovl_openat_noatime(ud, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	cleanup_close int cl =
	    ovl_openat_noatime(ld, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cu < 0 || cl < 0)
		return ovl_error(err, errno, "open %s", ovl_qp(path));
	/* names in upper (skipping stray whiteouts): added or modified */
	cleanup_dir DIR *d = ovl_opendir_dup(cu);
	if (d == NULL)
		return ovl_error(err, errno, "opendir %s", ovl_qp(path));
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		cleanup_free char *child = join(path, de->d_name);
		struct stat st;
		if (ovl_lstat_at(cu, de->d_name, &st, NULL) < 0)
			return ovl_error(err, errno, "stat %s", ovl_qp(child));
		if (is_whiteout(cu, de->d_name, &st, c->userxattr))
			continue;
		if (diff_replaced(c, cu, cl, de->d_name, child, err) < 0)
			return -1;
	}
	/* names only in lower: deleted */
	cleanup_dir DIR *dl = ovl_opendir_dup(cl);
	if (dl == NULL)
		return ovl_error(err, errno, "opendir %s", ovl_qp(path));
	while ((de = readdir(dl)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (ovl_lstat_at(cu, de->d_name, &st, NULL) == 0 &&
		    !is_whiteout(cu, de->d_name, &st, c->userxattr))
			continue;
		cleanup_free char *child = join(path, de->d_name);
		if (emit_lower_deleted(c, cl, de->d_name, child, err) < 0)
			return -1;
	}
	return 0;
}

static bool xattrs_differ(int a, int b, const char *prefix)
{
	cleanup_free char *na = NULL, *nb = NULL;
	size_t sa = 0, sb = 0;
	ovl_error_t e = NULL;
	if (ovl_xattr_list(a, &na, &sa, &e) < 0 || ovl_xattr_list(b, &nb, &sb, &e) < 0) {
		ovl_error_free(&e);
		return true;
	}
	size_t plen = strlen(prefix), count_a = 0, count_b = 0;
	for (const char *n = nb; n && n < nb + sb; n += strlen(n) + 1)
		if (strncmp(n, prefix, plen) != 0 || strncmp(n + plen, "overlay.", 8) == 0)
			count_b++;
	for (const char *n = na; n && n < na + sa; n += strlen(n) + 1) {
		if (strncmp(n, prefix, plen) == 0 && strncmp(n + plen, "overlay.", 8) != 0)
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

static int diff_merge_dir(struct dctx *c, int ud, int ld, const char *path, ovl_error_t *err);

/* A merged directory is listed when apply changes it in a way its listed children do not
 * explain: its mode, owner or xattrs, or its mtime when no direct child is listed (adding or
 * removing a child changes the mtime anyway: no need to list the dir for that). */
static bool dir_meta_differs(const struct stat *u, const struct stat *l, int ufd, int lfd,
			     int userxattr)
{
	return u->st_mode != l->st_mode || u->st_uid != l->st_uid || u->st_gid != l->st_gid ||
	       xattrs_differ(ufd, lfd, ovl_overlay_prefix(userxattr));
}

static bool has_direct_child(const struct dctx *c, size_t from, const char *path)
{
	size_t plen = strlen(path);
	for (size_t i = from; i < c->out->n; i++) {
		const char *p = c->out->entries[i].path;
		const char *rest = plen ? p + plen + 1 : p;
		if ((plen == 0 || (strncmp(p, path, plen) == 0 && p[plen] == '/')) &&
		    strchr(rest, '/') == NULL)
			return true;
	}
	return false;
}

/* Diffs a merged dir's children, then decides whether the dir itself is listed. */
static int diff_merged(struct dctx *c, int ud, int ld, const struct stat *us, const struct stat *ls,
		       const char *path, ovl_error_t *err)
{
	size_t before = c->out->n;
	if (diff_merge_dir(c, ud, ld, path, err) < 0)
		return -1;
	bool mtime =
	    us->st_mtim.tv_sec != ls->st_mtim.tv_sec || us->st_mtim.tv_nsec != ls->st_mtim.tv_nsec;
	if (dir_meta_differs(us, ls, ud, ld, c->userxattr) ||
	    (mtime && !has_direct_child(c, before, path)))
		emit(c, path[0] ? path : ".", 'M', us);
	return 0;
}

static int diff_entry(struct dctx *c, int ud, int ld, const char *name, const char *path,
		      ovl_error_t *err)
{
	struct stat st, lst;
	if (ovl_lstat_at(ud, name, &st, NULL) < 0)
		return ovl_error(err, errno, "stat upper %s", ovl_qp(path));
	bool lower = ovl_lstat_at(ld, name, &lst, NULL) == 0;
	enum ovl_entry_kind kind;
	if (ovl_classify(ud, name, &st, ld, c->userxattr, &kind, err) < 0)
		return ovl_error_wrap(err, "%s", ovl_qp(path));
	switch (kind) {
	case OVL_ENTRY_WHITEOUT:
		return lower ? emit_lower_deleted(c, ld, name, path, err) : 0;
	case OVL_ENTRY_REPLACE:
		return diff_replaced(c, ud, ld, name, path, err);
	case OVL_ENTRY_MERGE: {
		cleanup_close int cu =
		    ovl_openat_noatime(ud, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		cleanup_close int cl =
		    ovl_openat_noatime(ld, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cu < 0 || cl < 0)
			return ovl_error(err, errno, "open %s", ovl_qp(path));
		return diff_merged(c, cu, cl, &st, &lst, path, err);
	}
	}
	return 0;
}

static int diff_merge_dir(struct dctx *c, int ud, int ld, const char *path, ovl_error_t *err)
{
	cleanup_dir DIR *d = ovl_opendir_dup(ud);
	if (d == NULL)
		return ovl_error(err, errno, "opendir %s", ovl_qp(path));
	rewinddir(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		cleanup_free char *child = join(path, de->d_name);
		if (diff_entry(c, ud, ld, de->d_name, child, err) < 0)
			return -1;
	}
	return 0;
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
