/* Exact tree copy across filesystems (see include/ovlbox/copy.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/copy.h"
#include "ovlbox/fs.h"
#include "ovlbox/walk.h"

/* Inodes with more than one link already copied: source inode -> destination path. */
struct link_map {
	struct link_entry {
		ino_t ino;
		char *path;
	} * e;
	size_t n, cap;
};

struct copy {
	int dst_root; /* the directory that holds the copy's top */
	struct link_map links;
};

static bool copy_all_xattrs(const char *name, void *data)
{
	(void)name;
	(void)data;
	return true;
}

static const char *link_find(struct link_map *m, ino_t ino)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].ino == ino)
			return m->e[i].path;
	return NULL;
}

static void link_add(struct link_map *m, ino_t ino, const char *path)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->e = xrealloc(m->e, m->cap * sizeof(*m->e));
	}
	m->e[m->n].ino = ino;
	m->e[m->n].path = xstrdup(path);
	m->n++;
}

static int copy_data(int src_dir, const char *name, int dst, const char *path, ovl_error_t *err)
{
	cleanup_close int in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return ovl_error(err, errno, "open %s", ovl_qp(path));
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, dst, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return ovl_error(err, errno, "copy %s", ovl_qp(path));
		break; /* fall back to read/write */
	}
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ovl_error(err, errno, "read %s", ovl_qp(path));
		if (n == 0)
			return 0;
		if (ovl_write_all(dst, buf, (size_t)n) < 0)
			return ovl_error(err, errno, "write %s", ovl_qp(path));
	}
}

/* linkat() of root/path (a path made by this copy, possibly longer than PATH_MAX: its
 * directory is opened a chunk at a time) to dst_dir/name. */
static int link_from(int root, const char *path, int dst_dir, const char *name)
{
	if (strlen(path) < PATH_MAX / 2)
		return linkat(root, path, dst_dir, name, 0);
	const char *slash = strrchr(path, '/');
	cleanup_free char *parent = xstrndup(path, (size_t)(slash - path));
	ovl_error_t e = NULL;
	cleanup_close int pfd = ovl_open_beneath(root, parent, O_PATH | O_DIRECTORY, &e);
	if (pfd < 0) {
		errno = ovl_error_errno(e);
		ovl_error_free(&e);
		return -1;
	}
	return linkat(pfd, slash + 1, dst_dir, name, 0);
}

/* Creates dst_dir/name as a copy of the non-directory src_dir/name (metadata included). */
static int copy_node(struct copy *c, int src_dir, int dst_dir, const char *name,
		     const struct stat *st, const char *path, ovl_error_t *err)
{
	if (st->st_nlink > 1) {
		const char *first = link_find(&c->links, st->st_ino);
		if (first) {
			if (link_from(c->dst_root, first, dst_dir, name) < 0)
				return ovl_error(err, errno, "link %s", ovl_qp(path));
			return 0;
		}
	}
	int r = 0;
	if (S_ISREG(st->st_mode)) {
		cleanup_close int out = openat(
		    dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out < 0)
			return ovl_error(err, errno, "create %s", ovl_qp(path));
		r = copy_data(src_dir, name, out, path, err);
	} else if (S_ISLNK(st->st_mode)) {
		cleanup_free char *target = xmalloc((size_t)st->st_size + 2);
		ssize_t n = readlinkat(src_dir, name, target, (size_t)st->st_size + 1);
		if (n < 0)
			return ovl_error(err, errno, "readlink %s", ovl_qp(path));
		target[n] = '\0';
		if (symlinkat(target, dst_dir, name) < 0)
			return ovl_error(err, errno, "symlink %s", ovl_qp(path));
	} else if (mknodat(dst_dir, name, st->st_mode & (S_IFMT | 0600), st->st_rdev) < 0) {
		return ovl_error(err, errno, "mknod %s", ovl_qp(path));
	}
	if (r < 0)
		return -1;
	cleanup_close int sfd = openat(src_dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	cleanup_close int dfd = openat(dst_dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0 || dfd < 0)
		return ovl_error(err, errno, "open %s", ovl_qp(path));
	/* xattrs before owner and mode: chown would clear a setuid bit set earlier. */
	if (ovl_copy_xattrs(sfd, dfd, copy_all_xattrs, NULL, err) < 0 ||
	    ovl_set_owner_mode_times(dfd, st, err) < 0)
		return ovl_error_wrap(err, "%s", ovl_qp(path));
	if (st->st_nlink > 1)
		link_add(&c->links, st->st_ino, path);
	return 0;
}

/* The copy's two walks: the source, read; the destination, following it. Per level: the
 * source dir's stat, set on its copy once everything in it is copied (the entries created
 * change the copy's mtime), and the path's length before its name. */
struct copy_walk {
	struct ovl_walk src, dst;
	struct ovl_pathbuf path;
};

struct copy_level {
	struct stat st;
	size_t path_old;
};

/* Sets the current source dir's xattrs, owner, mode and times on its copy. */
static int finish_dir(struct copy_walk *w, ovl_error_t *err)
{
	const struct copy_level *l = ovl_walk_data(&w->src, ovl_walk_depth(&w->src));
	int sfd = ovl_walk_fd(&w->src), dfd = ovl_walk_fd(&w->dst);
	/* xattrs before owner and mode: chown would clear a setuid bit set earlier. */
	if (ovl_copy_xattrs(sfd, dfd, copy_all_xattrs, NULL, err) < 0 ||
	    ovl_set_owner_mode_times(dfd, &l->st, err) < 0)
		return ovl_error_wrap(err, "%s", ovl_qp(w->path.s));
	return 0;
}

/* Creates the copy of directory name (the current path) and enters it on both walks. */
static int enter_dir(struct copy_walk *w, const char *name, const struct stat *st, size_t old,
		     ovl_error_t *err)
{
	if (mkdirat(ovl_walk_fd(&w->dst), name, 0700) < 0)
		return ovl_error(err, errno, "mkdir %s", ovl_qp(w->path.s));
	if (ovl_walk_push(&w->src, name) < 0)
		return ovl_error(err, errno, "open %s", ovl_qp(w->path.s));
	if (ovl_walk_push(&w->dst, name) < 0) {
		int e = errno;
		ovl_walk_pop(&w->src, NULL);
		return ovl_error(err, e, "open %s", ovl_qp(w->path.s));
	}
	struct copy_level *l = ovl_walk_data(&w->src, ovl_walk_depth(&w->src));
	l->st = *st;
	l->path_old = old;
	return 0;
}

/* Copies entry name of the current source dir: a directory is created and entered. */
static int copy_entry(struct copy *c, struct copy_walk *w, const char *name, ovl_error_t *err)
{
	size_t old = ovl_path_push(&w->path, name);
	struct stat st;
	int sfd = ovl_walk_fd(&w->src);
	if (ovl_lstat_at(sfd, name, &st, NULL) < 0)
		return ovl_error(err, errno, "stat %s", ovl_qp(w->path.s));
	if (S_ISDIR(st.st_mode))
		return enter_dir(w, name, &st, old, err);
	if (copy_node(c, sfd, ovl_walk_fd(&w->dst), name, &st, w->path.s, err) < 0)
		return -1;
	ovl_path_pop(&w->path, old);
	return 0;
}

/* Finishes the current dir and goes back to its parent: 1 when it was the root. */
static int leave_dir(struct copy_walk *w, ovl_error_t *err)
{
	if (finish_dir(w, err) < 0)
		return -1;
	size_t depth = ovl_walk_depth(&w->src);
	if (depth == 0)
		return 1;
	size_t old = ((struct copy_level *)ovl_walk_data(&w->src, depth))->path_old;
	if (ovl_walk_pop(&w->src, NULL) < 0 || ovl_walk_pop(&w->dst, NULL) < 0)
		return ovl_error(err, errno, "back from %s", ovl_qp(w->path.s));
	ovl_path_pop(&w->path, old);
	return 0;
}

/* Copies everything below the source root into the destination root, level by level: no
 * recursion, and a bounded number of fds, whatever the depth. */
static int copy_below(struct copy *c, struct copy_walk *w, ovl_error_t *err)
{
	const char *name;
	int got, r = 0;
	while (r == 0 && (got = ovl_walk_next(&w->src, &name, NULL)) >= 0)
		r = got > 0 ? copy_entry(c, w, name, err) : leave_dir(w, err);
	if (r == 0)
		return ovl_error(err, errno, "readdir %s", ovl_qp(w->path.s));
	return r < 0 ? -1 : 0;
}

int ovl_copy_tree(int src_fd, int dst_dirfd, const char *dst_name, ovl_error_t *err)
{
	struct copy c = {.dst_root = dst_dirfd};
	struct copy_walk w = {0};
	struct stat st;
	if (fstat(src_fd, &st) < 0)
		return ovl_error(err, errno, "stat %s", ovl_qp(dst_name));
	if (mkdirat(dst_dirfd, dst_name, 0700) < 0)
		return ovl_error(err, errno, "mkdir %s", ovl_qp(dst_name));
	cleanup_close int dst_fd =
	    openat(dst_dirfd, dst_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dst_fd < 0)
		return ovl_error(err, errno, "open %s", ovl_qp(dst_name));
	int r = -1;
	if (ovl_walk_init(&w.src, src_fd, O_RDONLY, false, sizeof(struct copy_level)) < 0 ||
	    ovl_walk_init(&w.dst, dst_fd, O_RDONLY, false, 0) < 0) {
		ovl_error(err, errno, "stat %s", ovl_qp(dst_name));
	} else {
		ovl_path_push(&w.path, dst_name);
		((struct copy_level *)ovl_walk_data(&w.src, 0))->st = st;
		r = copy_below(&c, &w, err);
	}
	ovl_walk_free(&w.src);
	ovl_walk_free(&w.dst);
	free(w.path.s);
	for (size_t i = 0; i < c.links.n; i++)
		free(c.links.e[i].path);
	free(c.links.e);
	return r;
}
