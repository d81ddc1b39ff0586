/* Who may act on a layer set: the workspace lock, the owner mark and mode tag on the work dir,
 * and the state the layers are in. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/owner.h"
#include "ovlbox/workdir.h"

/* A tag ovlbox keeps on its work dir: an xattr of the work dir, or (filesystems without user
 * xattrs, and ovlbox 0.1.0 for the mode) a symlink or file named file in it, written as tmp and
 * renamed over it. */
struct tag {
	const char *xattr, *file, *tmp;
};
static const struct tag mode_tag = {OVL_MODE_XATTR, OVL_MODE_FILE,
				    OVL_MODE_FILE OVL_WORK_TMP_SUFFIX};
static const struct tag mark_tag = {OVL_MARK_XATTR, OVL_MARK_FILE,
				    OVL_MARK_FILE OVL_WORK_TMP_SUFFIX};

/* Bytes of a mode tag read back, with its NUL: the longest value and room for what an older
 * ovlbox may have added after it. */
#define MODE_TAG_MAX 32

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

/* buf gets the tag's value (its length returned), or "" if there is none: a tag that cannot be
 * read is no tag, as one never written. */
static size_t read_tag(int wfd, const struct tag *t, char *buf, size_t size)
{
	ssize_t n = ovl_fgetxattr(wfd, t->xattr, buf, size - 1);
	if (n <= 0)
		n = readlinkat(wfd, t->file, buf, size - 1);
	if (n <= 0) {
		/* O_NONBLOCK: a FIFO planted in another's work dir must not hang the read */
		cleanup_close int fd =
		    openat(wfd, t->file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		n = fd >= 0 ? read(fd, buf, size - 1) : -1;
	}
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

/* An xattr: no inode to create and free again per run, the costly part of a tag on a
 * filesystem that many removals have fragmented. Without user xattrs (ENOTSUP), the target of a
 * symlink (made whole, never followed). */
static int write_tag(int wfd, const char *work, const struct tag *t, const char *value,
		     ovl_error_t *err)
{
	if (ovl_fsetxattr(wfd, t->xattr, value, strlen(value), 0) == 0)
		return 0;
	if (errno != ENOTSUP && errno != EOPNOTSUPP)
		return ovl_error(err, errno, "work dir %s: setxattr %s", ovl_qp(work), t->xattr);
	if ((unlinkat(wfd, t->tmp, 0) < 0 && errno != ENOENT) ||
	    symlinkat(value, wfd, t->tmp) < 0 || renameat(wfd, t->tmp, wfd, t->file) < 0)
		return ovl_error(err, errno, "write %s/%s", ovl_qp(work), t->file);
	return 0;
}

int ovl_layers_userxattr(const struct ovl_layers *l)
{
	if (l->work_fd >= 0) {
		char mode[MODE_TAG_MAX];
		read_tag(l->work_fd, &mode_tag, mode, sizeof(mode));
		/* a prefix: the mode file of ovlbox 0.1.0 may hold more after the value */
		if (mode[0])
			return strncmp(mode, OVL_MODE_USERXATTR, strlen(OVL_MODE_USERXATTR)) == 0;
	}
	return -1; /* an upper ovlbox did not prepare: see ovl_xattr_ns_choose() */
}

int ovl_layers_write_mode(const struct ovl_layers *l, bool userxattr, ovl_error_t *err)
{
	return write_tag(l->work_fd, l->work, &mode_tag,
			 userxattr ? OVL_MODE_USERXATTR : OVL_MODE_TRUSTED, err);
}

int ovl_layers_state(const struct ovl_layers *l, ovl_error_t *err)
{
	if (l->work_fd >= 0) {
		/* fstatat, not faccessat: glibc makes that faccessat2, which older seccomp
		 * profiles refuse with EPERM */
		struct stat st;
		if (fstatat(l->work_fd, OVL_JOURNAL_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return OVL_STATE_JOURNAL;
		if (errno != ENOENT)
			return ovl_error(err, errno, "work dir %s: look for %s", ovl_qp(l->work),
					 OVL_JOURNAL_NAME);
	}
	if (l->upper_fd < 0)
		return OVL_STATE_CLEAN;
	if (!dir_is_empty(l->upper_fd))
		return OVL_STATE_PENDING;
	/* An empty upper whose root metadata differs from the workspace's still holds a change
	 * (chmod or touch of the workspace root) -- but only if ovlbox prepared it. */
	if (ovl_layers_userxattr(l) < 0)
		return OVL_STATE_CLEAN;
	struct stat us, ls;
	if (fstat(l->upper_fd, &us) < 0 || fstat(l->lower_fd, &ls) < 0)
		return ovl_error(err, errno, "stat %s", ovl_qp(l->lower));
	if (us.st_mode != ls.st_mode || us.st_uid != ls.st_uid || us.st_gid != ls.st_gid ||
	    us.st_mtim.tv_sec != ls.st_mtim.tv_sec || us.st_mtim.tv_nsec != ls.st_mtim.tv_nsec)
		return OVL_STATE_PENDING;
	return OVL_STATE_CLEAN;
}

int ovl_layers_check_work_is_ours(const struct ovl_layers *l, ovl_error_t *err)
{
	if (l->work_fd < 0 || ovl_layers_userxattr(l) >= 0 || dir_is_empty(l->work_fd))
		return 0;
	return ovl_error(err, 0,
			 "work dir %s holds entries but was not made by ovlbox (no %s): name a "
			 "missing or empty directory",
			 ovl_qp(l->work), OVL_MODE_XATTR);
}

int ovl_layers_mark(const struct ovl_layers *l, struct ovl_mark *m, ovl_error_t *err)
{
	memset(m, 0, sizeof(*m));
	if (l->work_fd < 0)
		return 0;
	char buf[OVL_MARK_MAX + 1];
	size_t n = read_tag(l->work_fd, &mark_tag, buf, sizeof(buf));
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
	return write_tag(l->work_fd, l->work, &mark_tag, buf, err);
}

int ovl_layers_clear_mark(const struct ovl_layers *l, ovl_error_t *err)
{
	if (l->work_fd < 0)
		return 0;
	if (ovl_xattr_remove(l->work_fd, mark_tag.xattr, err) < 0 &&
	    ovl_error_errno(*err) != ENOTSUP && ovl_error_errno(*err) != EOPNOTSUPP)
		return ovl_error_wrap(err, "work dir %s", ovl_qp(l->work));
	ovl_error_free(err);
	if (unlinkat(l->work_fd, mark_tag.file, 0) < 0 && errno != ENOENT)
		return ovl_error(err, errno, "remove %s/%s", ovl_qp(l->work), mark_tag.file);
	return 0;
}

void ovl_layers_mark_identity(const struct ovl_layers *l, struct ovl_mark *m)
{
	m->workspace = ovl_devino_of_fd(l->lower_fd);
	m->upper = ovl_devino_of_fd(l->upper_fd);
	m->work = ovl_devino_of_fd(l->work_fd);
}

bool ovl_layers_match_mark(const struct ovl_layers *l, const struct ovl_mark *m)
{
	if (m->legacy)
		return true; /* nothing recorded to compare */
	struct ovl_mark now;
	ovl_layers_mark_identity(l, &now);
	return ovl_devino_equal(&now.workspace, &m->workspace) &&
	       ovl_devino_equal(&now.upper, &m->upper) && ovl_devino_equal(&now.work, &m->work);
}
