/* Symlink-free filesystem walking (see include/ovlbox/fs.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/walk.h"

bool ovl_path_is_clean_relative(const char *path)
{
	if (path == NULL || *path == '\0' || *path == '/')
		return false;
	const char *p = path;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!slash)
			break;
		p = slash + 1;
		if (*p == '\0')
			return false; /* trailing slash */
	}
	return true;
}

static int openat2_supported = -1; /* unknown, 0, 1 */

static int open_walk(int dirfd, const char *relpath, int flags)
{
	cleanup_free char *copy = xstrdup(relpath);
	cleanup_close int cur = -1;
	char *p = copy;
	for (;;) {
		char *slash = strchr(p, '/');
		if (slash == NULL)
			break;
		*slash = '\0';
		int next = openat(cur >= 0 ? cur : dirfd, p,
				  O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return -1;
		if (cur >= 0)
			close(cur);
		cur = next;
		p = slash + 1;
	}
	return openat(cur >= 0 ? cur : dirfd, p, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* One resolution of a path shorter than PATH_MAX. */
static int open_beneath_once(int dirfd, const char *relpath, int flags, ovl_error_t *err)
{
	if (relpath[0] == '\0' || strcmp(relpath, ".") == 0) {
		int fd = openat(dirfd, ".", (flags & ~O_NOFOLLOW) | O_CLOEXEC);
		if (fd < 0)
			return ovl_error(err, errno, "open directory");
		return fd;
	}
	if (!ovl_path_is_clean_relative(relpath))
		return ovl_error(err, EINVAL, "path %s", ovl_qp(relpath));
	int fd = -1;
	if (openat2_supported != 0) {
		struct open_how how = {
		    .flags = (unsigned long long)(flags | O_NOFOLLOW | O_CLOEXEC),
		    .mode = (flags & O_CREAT) ? 0600 : 0,
		    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		fd = (int)syscall(SYS_openat2, dirfd, relpath, &how, sizeof(how));
		if (fd < 0 && errno == ENOSYS)
			openat2_supported = 0;
		else
			openat2_supported = 1;
	}
	if (openat2_supported == 0)
		fd = open_walk(dirfd, relpath, flags);
	if (fd < 0)
		return ovl_error(err, errno == ELOOP || errno == EXDEV ? ELOOP : errno, "open %s",
				 ovl_qp(relpath));
	return fd;
}

/* Paths may be longer than PATH_MAX (a deep tree): resolve them a chunk at a time, each chunk
 * beneath the directory the previous one reached. */
int ovl_open_beneath(int dirfd, const char *relpath, int flags, ovl_error_t *err)
{
	const size_t chunk = PATH_MAX / 2;
	size_t len = strlen(relpath);
	if (len < chunk)
		return open_beneath_once(dirfd, relpath, flags, err);
	if (!ovl_path_is_clean_relative(relpath))
		return ovl_error(err, EINVAL, "path %s", ovl_qp(relpath));
	cleanup_close int cur = -1;
	const char *p = relpath;
	while (strlen(p) >= chunk) {
		/* cut at the last '/' within the chunk */
		const char *cut = p + chunk;
		while (cut > p && *cut != '/')
			cut--;
		if (cut == p)
			return ovl_error(err, ENAMETOOLONG, "path %s", ovl_qp(relpath));
		cleanup_free char *part = xstrndup(p, (size_t)(cut - p));
		int next =
		    open_beneath_once(cur >= 0 ? cur : dirfd, part, O_PATH | O_DIRECTORY, err);
		if (next < 0)
			return -1;
		if (cur >= 0)
			close(cur);
		cur = next;
		p = cut + 1;
	}
	return open_beneath_once(cur >= 0 ? cur : dirfd, p, flags, err);
}

int ovl_lstat_at(int dirfd, const char *name, struct stat *st, bool *protected_attr)
{
	struct statx stx;
	int flags = AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT | (name[0] ? 0 : AT_EMPTY_PATH);
	if (statx(dirfd, name, flags, STATX_BASIC_STATS, &stx) < 0)
		return -1;
	memset(st, 0, sizeof(*st));
	st->st_mode = stx.stx_mode;
	st->st_uid = stx.stx_uid;
	st->st_gid = stx.stx_gid;
	st->st_nlink = stx.stx_nlink;
	st->st_size = (off_t)stx.stx_size;
	st->st_ino = stx.stx_ino;
	st->st_dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	st->st_rdev = makedev(stx.stx_rdev_major, stx.stx_rdev_minor);
	st->st_blocks = (blkcnt_t)stx.stx_blocks;
	st->st_atim.tv_sec = stx.stx_atime.tv_sec;
	st->st_atim.tv_nsec = stx.stx_atime.tv_nsec;
	st->st_mtim.tv_sec = stx.stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = stx.stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = stx.stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = stx.stx_ctime.tv_nsec;
	if (protected_attr)
		*protected_attr = (stx.stx_attributes & stx.stx_attributes_mask &
				   (STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND)) != 0;
	return 0;
}

int ovl_openat_noatime(int dirfd, const char *name, int flags)
{
	int fd = openat(dirfd, name, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, flags);
	return fd;
}

int ovl_open_dir_fd(int dirfd, const char *path, int flags)
{
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
	if (fd < 0 && errno == EACCES)
		fd = openat(dirfd, path, O_PATH | O_DIRECTORY | O_CLOEXEC | flags);
	return fd;
}

DIR *ovl_opendir_dup(int fd)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (d < 0)
		return NULL;
	DIR *dir = fdopendir(d);
	if (dir == NULL) {
		int e = errno;
		close(d);
		errno = e;
		return NULL;
	}
	rewinddir(dir); /* a dup shares the offset: start at the beginning */
	return dir;
}

/* dirfd/name where removing it found a directory: the names below go by name / the walk path. */
static int remove_error(const struct ovl_walk *w, const char *top, const char *leaf, int e,
			const char *what, ovl_error_t *err)
{
	cleanup_free char *below = ovl_walk_path(w, leaf);
	return ovl_error(err, e, "%s %s%s%s", what, ovl_qp(top), below[0] ? "/" : "",
			 below[0] ? ovl_qp(below) : "");
}

/* Unlinks dirfd/name unless it is a directory: 1 done (or gone), 0 a directory, -1 error
 * (errno set). */
static int unlink_nondir(int dirfd, const char *name)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 1;
	return errno == EISDIR || errno == EPERM ? 0 : -1;
}

/* Empties the directory open as top (dirfd/name), bottom-up, by a walk that holds a bounded
 * number of fds whatever the depth (walk.h). Entries are removed while their directory is read,
 * as readdir allows; a directory reopened on the way back is read from its start. d_type comes
 * from the listing: a directory is entered at once, anything else unlinked first. ENOENT while
 * reading: the directory was removed since it was opened, by another remover working alongside
 * (the sandbox's init removes overlayfs' scratch dirs while ovlbox applies): gone, as wanted. */
static int remove_contents(int top, const char *name, ovl_error_t *err)
{
	struct ovl_walk w;
	if (ovl_walk_init(&w, top, O_RDONLY, true, 0) < 0)
		return ovl_error(err, errno, "open %s", ovl_qp(name));
	int r = 0;
	for (;;) {
		const char *n;
		unsigned char type;
		int got = ovl_walk_next(&w, &n, &type);
		if (got < 0 && errno != ENOENT) {
			r = remove_error(&w, name, NULL, errno, "readdir", err);
			break;
		}
		if (got <= 0) {
			if (ovl_walk_depth(&w) == 0)
				break;
			cleanup_free char *child = NULL;
			if (ovl_walk_pop(&w, &child) < 0) {
				r = remove_error(&w, name, NULL, errno, "reopen", err);
				break;
			}
			if (unlinkat(ovl_walk_fd(&w), child, AT_REMOVEDIR) < 0 && errno != ENOENT) {
				r = remove_error(&w, name, child, errno, "rmdir", err);
				break;
			}
			continue;
		}
		int u = type == DT_DIR ? 0 : unlink_nondir(ovl_walk_fd(&w), n);
		if (u < 0) {
			r = remove_error(&w, name, n, errno, "unlink", err);
			break;
		}
		if (u > 0 || ovl_walk_push(&w, n) == 0)
			continue;
		if (errno == ENOENT)
			continue;
		if (errno == ENOTDIR || errno == ELOOP) {
			/* not a directory (any more): unlink refused it (EPERM: immutable), or it
			 * was replaced by a non-directory since it was listed */
			if (unlinkat(ovl_walk_fd(&w), n, 0) == 0 || errno == ENOENT)
				continue;
			r = remove_error(&w, name, n, errno, "unlink", err);
			break;
		}
		r = remove_error(&w, name, n, errno, "open", err);
		break;
	}
	ovl_walk_free(&w);
	return r;
}

int ovl_remove_tree_at(int dirfd, const char *name, ovl_error_t *err)
{
	int u = unlink_nondir(dirfd, name);
	if (u != 0)
		return u > 0 ? 0 : ovl_error(err, errno, "unlink %s", ovl_qp(name));
	cleanup_close int top =
	    ovl_openat_noatime(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (top < 0) {
		if (errno == ENOENT)
			return 0;
		if ((errno == ENOTDIR || errno == ELOOP) &&
		    (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT))
			return 0;
		return ovl_error(err, errno, "%s %s", errno == ENOTDIR ? "unlink" : "open",
				 ovl_qp(name));
	}
	if (remove_contents(top, name, err) < 0)
		return -1;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return ovl_error(err, errno, "rmdir %s", ovl_qp(name));
	return 0;
}

void ovl_proc_fd_path(char buf[OVL_PROC_FD_PATH_MAX], int fd)
{
	snprintf(buf, OVL_PROC_FD_PATH_MAX, "/proc/self/fd/%d", fd);
}

/* The xattr calls on fd itself where that works; an O_PATH fd (any file type, symlinks
 * included), which the f*xattr calls refuse with EBADF, through /proc/self/fd (a path lookup in
 * /proc each, the slower way). */
static ssize_t list_xattrs(int fd, char *buf, size_t size)
{
	ssize_t n = flistxattr(fd, buf, size);
	if (n >= 0 || errno != EBADF)
		return n;
	char p[OVL_PROC_FD_PATH_MAX];
	ovl_proc_fd_path(p, fd);
	return listxattr(p, buf, size);
}

ssize_t ovl_fgetxattr(int fd, const char *name, void *buf, size_t size)
{
	ssize_t n = fgetxattr(fd, name, buf, size);
	if (n >= 0 || errno != EBADF)
		return n;
	char p[OVL_PROC_FD_PATH_MAX];
	ovl_proc_fd_path(p, fd);
	return getxattr(p, name, buf, size);
}

int ovl_xattr_list(int fd, char **names, size_t *size, ovl_error_t *err)
{
	*names = NULL;
	*size = 0;
	for (;;) {
		ssize_t n = list_xattrs(fd, NULL, 0);
		if (n < 0) {
			if (errno == ENOTSUP)
				return 0;
			return ovl_error(err, errno, "listxattr");
		}
		if (n == 0)
			return 0;
		char *buf = xmalloc((size_t)n);
		ssize_t m = list_xattrs(fd, buf, (size_t)n);
		if (m < 0) {
			free(buf);
			if (errno == ERANGE)
				continue;
			return ovl_error(err, errno, "listxattr");
		}
		*names = buf;
		*size = (size_t)m;
		return 0;
	}
}

int ovl_xattr_get(int fd, const char *name, char **value, size_t *len, ovl_error_t *err)
{
	*value = NULL;
	*len = 0;
	for (;;) {
		ssize_t n = ovl_fgetxattr(fd, name, NULL, 0);
		if (n < 0) {
			if (errno == ENODATA || errno == ENOTSUP)
				return 0;
			return ovl_error(err, errno, "getxattr %s", name);
		}
		char *buf = xmalloc((size_t)n + 1);
		ssize_t m = ovl_fgetxattr(fd, name, buf, (size_t)n);
		if (m < 0) {
			free(buf);
			if (errno == ERANGE)
				continue;
			if (errno == ENODATA)
				return 0;
			return ovl_error(err, errno, "getxattr %s", name);
		}
		buf[m] = '\0';
		*value = buf;
		*len = (size_t)m;
		return 1;
	}
}

int ovl_fsetxattr(int fd, const char *name, const void *value, size_t len, int flags)
{
	int r = fsetxattr(fd, name, value, len, flags);
	if (r == 0 || errno != EBADF)
		return r;
	char p[OVL_PROC_FD_PATH_MAX];
	ovl_proc_fd_path(p, fd);
	return setxattr(p, name, value, len, flags);
}

int ovl_xattr_set(int fd, const char *name, const void *value, size_t len, ovl_error_t *err)
{
	if (ovl_fsetxattr(fd, name, value, len, 0) < 0)
		return ovl_error(err, errno, "setxattr %s", name);
	return 0;
}

int ovl_xattr_remove(int fd, const char *name, ovl_error_t *err)
{
	int r = fremovexattr(fd, name);
	if (r < 0 && errno == EBADF) {
		char p[OVL_PROC_FD_PATH_MAX];
		ovl_proc_fd_path(p, fd);
		r = removexattr(p, name);
	}
	if (r < 0 && errno != ENODATA)
		return ovl_error(err, errno, "removexattr %s", name);
	return 0;
}

static bool name_in_list(const char *list, size_t size, const char *name)
{
	for (const char *n = list; n < list + size; n += strlen(n) + 1)
		if (strcmp(n, name) == 0)
			return true;
	return false;
}

/* True if dst (whose names are dnames) has xattr name with exactly this value: setting it
 * again would only change dst's ctime. */
static bool xattr_has_value(int dst, const char *dnames, size_t dsize, const char *name,
			    const char *value, size_t len)
{
	if (!name_in_list(dnames, dsize, name))
		return false;
	ovl_error_t ignored = NULL;
	cleanup_free char *have = NULL;
	size_t have_len = 0;
	int r = ovl_xattr_get(dst, name, &have, &have_len, &ignored);
	ovl_error_free(&ignored);
	return r > 0 && have_len == len && memcmp(have, value, len) == 0;
}

int ovl_copy_xattrs(int src, int dst, ovl_xattr_filter keep, void *data, ovl_error_t *err)
{
	cleanup_free char *snames = NULL, *dnames = NULL;
	size_t ssize = 0, dsize = 0;
	if (ovl_xattr_list(src, &snames, &ssize, err) < 0 ||
	    ovl_xattr_list(dst, &dnames, &dsize, err) < 0)
		return -1;
	for (const char *n = dnames; n && n < dnames + dsize; n += strlen(n) + 1) {
		if (!keep(n, data) || name_in_list(snames, ssize, n))
			continue;
		if (ovl_xattr_remove(dst, n, err) < 0)
			return -1;
	}
	for (const char *n = snames; n && n < snames + ssize; n += strlen(n) + 1) {
		if (!keep(n, data))
			continue;
		cleanup_free char *v = NULL;
		size_t len = 0;
		int r = ovl_xattr_get(src, n, &v, &len, err);
		if (r < 0)
			return -1;
		if (r > 0 && !xattr_has_value(dst, dnames, dsize, n, v, len) &&
		    ovl_xattr_set(dst, n, v, len, err) < 0)
			return -1;
	}
	return 0;
}

int ovl_set_owner_mode_times(int fd, const struct stat *st, ovl_error_t *err)
{
	if (fchownat(fd, "", st->st_uid, st->st_gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return ovl_error(err, errno, "chown to %u:%u", (unsigned)st->st_uid,
				 (unsigned)st->st_gid);
	if (!S_ISLNK(st->st_mode)) {
		int r = fchmod(fd, st->st_mode & 07777);
		if (r < 0 && errno == EBADF) { /* O_PATH */
			char p[OVL_PROC_FD_PATH_MAX];
			ovl_proc_fd_path(p, fd);
			r = chmod(p, st->st_mode & 07777);
		}
		if (r < 0)
			return ovl_error(err, errno, "chmod to %04o",
					 (unsigned)(st->st_mode & 07777));
	}
	struct timespec ts[2] = {st->st_atim, st->st_mtim};
	if (utimensat(fd, "", ts, AT_EMPTY_PATH) < 0) {
		/* Older kernels lack AT_EMPTY_PATH for utimensat; go through /proc. */
		char p[OVL_PROC_FD_PATH_MAX];
		ovl_proc_fd_path(p, fd);
		if (S_ISLNK(st->st_mode) || utimensat(AT_FDCWD, p, ts, 0) < 0)
			return ovl_error(err, errno, "set times");
	}
	return 0;
}

int ovl_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* O_EXCL, so that tmp is a file of our own making, never one planted there to be written
 * through; a stale one (a crash between create and rename) is removed first. */
static int create_tmp(int dir_fd, const char *tmp, mode_t mode, ovl_error_t *err)
{
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(dir_fd, tmp, flags, mode);
	if (fd < 0 && errno == EEXIST) {
		if (unlinkat(dir_fd, tmp, 0) < 0)
			return ovl_error(err, errno, "remove the stale %s", ovl_qp(tmp));
		fd = openat(dir_fd, tmp, flags, mode);
	}
	if (fd < 0)
		return ovl_error(err, errno, "create %s", ovl_qp(tmp));
	return fd;
}

/* Fills the new file; returns the failed step, or NULL. A write reported only at close (NFS)
 * counts: a failed file must not be renamed in. */
static const char *fill_tmp(int fd, const struct ovl_replace *r, const void *data, size_t len)
{
	struct stat mine;
	if (r->like != NULL) {
		if (fstat(fd, &mine) < 0)
			return "stat";
		if ((mine.st_uid != r->like->st_uid || mine.st_gid != r->like->st_gid) &&
		    fchown(fd, r->like->st_uid, r->like->st_gid) < 0)
			return "chown";
		if (fchmod(fd, r->like->st_mode & 07777) < 0)
			return "chmod";
	}
	if (ovl_write_all(fd, data, len) < 0)
		return "write";
	if (r->sync && fsync(fd) < 0)
		return "fsync";
	return NULL;
}

int ovl_replace_file(int dir_fd, const char *name, const struct ovl_replace *r, const void *data,
		     size_t len, ovl_error_t *err)
{
	int fd = create_tmp(dir_fd, r->tmp, r->like ? 0600 : r->mode, err);
	if (fd < 0)
		return -1;
	const char *step = fill_tmp(fd, r, data, len);
	int e = step ? errno : 0;
	if (close(fd) < 0 && step == NULL) {
		step = "close";
		e = errno;
	}
	if (step == NULL && renameat(dir_fd, r->tmp, dir_fd, name) < 0) {
		step = "rename";
		e = errno;
	}
	if (step == NULL)
		return 0;
	if (unlinkat(dir_fd, r->tmp, 0) < 0) {
		int left = errno;
		return ovl_error_code(err, e, "%s %s: %s; it is left behind: remove: %s", step,
				      ovl_qp(r->tmp), strerror(e), strerror(left));
	}
	return ovl_error(err, e, "%s %s", step, ovl_qp(r->tmp));
}

int ovl_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = 0;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ovl_mkdir_if_missing(const char *path, mode_t mode, ovl_error_t *err)
{
	if (mkdir(path, mode) == 0)
		return 1;
	if (errno != EEXIST)
		return ovl_error(err, errno, "mkdir %s", ovl_qp(path));
	struct stat st;
	if (lstat(path, &st) < 0)
		return ovl_error(err, errno, "stat %s", ovl_qp(path));
	if (!S_ISDIR(st.st_mode))
		return ovl_error(err, ENOTDIR, "%s", ovl_qp(path));
	return 0;
}

/* One byte of data carrying room for one fd in its control message. */
struct fd_msg {
	char byte;
	struct iovec iov;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg;
};

static void fd_msg_init(struct fd_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->byte = 'f';
	m->iov = (struct iovec){.iov_base = &m->byte, .iov_len = 1};
	m->msg = (struct msghdr){.msg_iov = &m->iov,
				 .msg_iovlen = 1,
				 .msg_control = m->u.buf,
				 .msg_controllen = sizeof(m->u.buf)};
}

int ovl_send_fd(int sock, int fd)
{
	struct fd_msg m;
	fd_msg_init(&m);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m.msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m.msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

int ovl_recv_fd(int sock)
{
	struct fd_msg m;
	fd_msg_init(&m);
	ssize_t n;
	do
		n = recvmsg(sock, &m.msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		if (n == 0)
			errno = EPIPE;
		return -1;
	}
	struct cmsghdr *c = CMSG_FIRSTHDR(&m.msg);
	if (c == NULL || c->cmsg_type != SCM_RIGHTS) {
		errno = ENODATA;
		return -1;
	}
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}
