/* Exact tree copy across filesystems (see include/ovlbox/copy.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovlbox/cleanup.h"
#include "ovlbox/copy.h"
#include "ovlbox/fs.h"

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
		m->e = realloc(m->e, m->cap * sizeof(*m->e));
		if (m->e == NULL)
			abort();
	}
	m->e[m->n].ino = ino;
	if ((m->e[m->n].path = strdup(path)) == NULL)
		abort();
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

/* Creates dst_dir/name as a copy of the non-directory src_dir/name (metadata included). */
static int copy_node(struct copy *c, int src_dir, int dst_dir, const char *name,
		     const struct stat *st, const char *path, ovl_error_t *err)
{
	if (st->st_nlink > 1) {
		const char *first = link_find(&c->links, st->st_ino);
		if (first) {
			if (linkat(c->dst_root, first, dst_dir, name, 0) < 0)
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
		cleanup_free char *target = malloc((size_t)st->st_size + 2);
		if (target == NULL)
			abort();
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

static int copy_dir(struct copy *c, int src_fd, int dst_dirfd, const char *name, const char *path,
		    ovl_error_t *err);

static char *join(const char *a, const char *b)
{
	char *s = NULL;
	if (asprintf(&s, "%s/%s", a, b) < 0)
		abort();
	return s;
}

static int copy_entries(struct copy *c, int src_fd, int dst_fd, const char *path, ovl_error_t *err)
{
	cleanup_dir DIR *d = ovl_opendir_dup(src_fd);
	if (d == NULL)
		return ovl_error(err, errno, "opendir %s", ovl_qp(path));
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		cleanup_free char *child = join(path, de->d_name);
		struct stat st;
		if (ovl_lstat_at(src_fd, de->d_name, &st, NULL) < 0)
			return ovl_error(err, errno, "stat %s", ovl_qp(child));
		int r;
		if (S_ISDIR(st.st_mode)) {
			cleanup_close int sub = ovl_openat_noatime(
			    src_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				return ovl_error(err, errno, "open %s", ovl_qp(child));
			r = copy_dir(c, sub, dst_fd, de->d_name, child, err);
		} else {
			r = copy_node(c, src_fd, dst_fd, de->d_name, &st, child, err);
		}
		if (r < 0)
			return -1;
		errno = 0;
	}
	if (errno != 0)
		return ovl_error(err, errno, "readdir %s", ovl_qp(path));
	return 0;
}

static int copy_dir(struct copy *c, int src_fd, int dst_dirfd, const char *name, const char *path,
		    ovl_error_t *err)
{
	struct stat st;
	if (fstat(src_fd, &st) < 0)
		return ovl_error(err, errno, "stat %s", ovl_qp(path));
	if (mkdirat(dst_dirfd, name, 0700) < 0)
		return ovl_error(err, errno, "mkdir %s", ovl_qp(path));
	cleanup_close int dst_fd =
	    openat(dst_dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dst_fd < 0)
		return ovl_error(err, errno, "open %s", ovl_qp(path));
	if (copy_entries(c, src_fd, dst_fd, path, err) < 0)
		return -1;
	/* metadata last: the entries just created changed the dir's mtime */
	if (ovl_copy_xattrs(src_fd, dst_fd, copy_all_xattrs, NULL, err) < 0 ||
	    ovl_set_owner_mode_times(dst_fd, &st, err) < 0)
		return ovl_error_wrap(err, "%s", ovl_qp(path));
	return 0;
}

int ovl_copy_tree(int src_fd, int dst_dirfd, const char *dst_name, ovl_error_t *err)
{
	struct copy c = {.dst_root = dst_dirfd};
	int r = copy_dir(&c, src_fd, dst_dirfd, dst_name, dst_name, err);
	for (size_t i = 0; i < c.links.n; i++)
		free(c.links.e[i].path);
	free(c.links.e);
	return r;
}
