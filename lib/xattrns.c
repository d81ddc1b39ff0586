/* Which xattr namespace an upper layer's overlay xattrs are in (see include/ovlbox/xattrns.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/ns.h"
#include "ovlbox/plan.h"
#include "ovlbox/xattrns.h"

#define BOTH_MARKS (OVL_XATTR_MARK_TRUSTED | OVL_XATTR_MARK_USER)

/* The marks among a NUL-separated list of xattr names. */
static unsigned marks_in(const char *names, size_t size)
{
	unsigned marks = 0;
	for (const char *n = names; n < names + size; n += strlen(n) + 1)
		for (int user = 0; user <= 1; user++) {
			const char *prefix = ovl_overlay_prefix(user);
			size_t len = strlen(prefix);
			if (strncmp(n, prefix, len) == 0 && strncmp(n + len, "overlay.", 8) != 0)
				marks |= user ? OVL_XATTR_MARK_USER : OVL_XATTR_MARK_TRUSTED;
		}
	return marks;
}

/* path: the entry's, relative to the upper ("" for its root), for messages. */
static int marks_of(int fd, const char *path, unsigned *marks, ovl_error_t *err)
{
	cleanup_free char *names = NULL;
	size_t size = 0;
	if (ovl_xattr_list(fd, &names, &size, err) < 0)
		return ovl_error_wrap(err, "upper entry %s", ovl_qp(path[0] ? path : "."));
	*marks |= marks_in(names, size);
	return 0;
}

/* An entry of dfd as a readable directory fd when it is a directory, else as an O_PATH fd (the
 * xattr calls then go through /proc/self/fd: never through a symlink). *is_dir tells which. */
static int open_entry(int dfd, const struct dirent *de, bool *is_dir)
{
	*is_dir = false;
	if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) {
		int fd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 || (errno != ENOTDIR && errno != ELOOP)) {
			*is_dir = fd >= 0;
			return fd;
		}
	}
	return openat(dfd, de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

static int scan_dir(int dfd, const char *path, unsigned *marks, ovl_error_t *err)
{
	cleanup_dir DIR *d = ovl_opendir_dup(dfd);
	if (d == NULL)
		return ovl_error(err, errno, "open upper dir %s", ovl_qp(path[0] ? path : "."));
	struct dirent *de;
	while (*marks != BOTH_MARKS && (de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		cleanup_free char *sub = xasprintf("%s%s%s", path, path[0] ? "/" : "", de->d_name);
		bool is_dir;
		cleanup_close int fd = open_entry(dfd, de, &is_dir);
		if (fd < 0)
			return ovl_error(err, errno, "open upper entry %s", ovl_qp(sub));
		if (marks_of(fd, sub, marks, err) < 0 ||
		    (is_dir && scan_dir(fd, sub, marks, err) < 0))
			return -1;
	}
	return 0;
}

int ovl_xattr_marks(int upper_fd, unsigned *marks, ovl_error_t *err)
{
	*marks = 0;
	if (marks_of(upper_fd, "", marks, err) < 0 || scan_dir(upper_fd, "", marks, err) < 0)
		return -1;
	return 0;
}

/* The namespace an overlay mounted by the caller would use: userxattr in a user namespace. */
static int callers_namespace(void)
{
	bool in_userns = geteuid() != 0;
	ovl_error_t e = NULL;
	if (ovl_ns_in_child_userns(&in_userns, &e) < 0)
		ovl_error_free(&e);
	return in_userns;
}

int ovl_xattr_ns_choose(const struct ovl_layers *l, int upper_fd, enum ovl_xattr_ns ns,
			ovl_error_t *err)
{
	int recorded = ovl_layers_userxattr(l);
	if (recorded >= 0) {
		if (ns != OVL_XATTR_NS_AUTO && (ns == OVL_XATTR_NS_USER) != recorded)
			return ovl_error(err, 0,
					 "upper dir %s was prepared by ovlbox for %s* xattrs "
					 "(recorded in work dir %s): it cannot be read as %s*",
					 ovl_qp(l->upper), ovl_overlay_prefix(recorded),
					 ovl_qp(l->work), ovl_overlay_prefix(!recorded));
		return recorded;
	}
	if (ns != OVL_XATTR_NS_AUTO)
		return ns == OVL_XATTR_NS_USER;
	unsigned marks;
	if (ovl_xattr_marks(upper_fd, &marks, err) < 0)
		return ovl_error_wrap(err, "upper dir %s", ovl_qp(l->upper));
	if (marks == BOTH_MARKS) {
		ovl_error(err, 0,
			  "upper dir %s holds both trusted.overlay.* and user.overlay.* xattrs: "
			  "which namespace the overlay that wrote it used is ambiguous",
			  ovl_qp(l->upper));
		return OVL_XATTR_NS_AMBIGUOUS;
	}
	if (marks != 0)
		return marks == OVL_XATTR_MARK_USER;
	return callers_namespace();
}
