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
#include "ovlbox/owner.h"
#include "ovlbox/plan.h"
#include "ovlbox/walk.h"
#include "ovlbox/xattrns.h"

#define BOTH_MARKS (OVL_XATTR_MARK_TRUSTED | OVL_XATTR_MARK_USER)

/* The marks among a NUL-separated list of xattr names. */
static unsigned marks_in(const char *names, size_t size)
{
	unsigned marks = 0;
	for (const char *n = names; n < names + size; n += strlen(n) + 1)
		for (int user = 0; user <= 1; user++)
			if (ovl_overlay_key(n, user) != NULL)
				marks |= user ? OVL_XATTR_MARK_USER : OVL_XATTR_MARK_TRUSTED;
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

/* The marks of entry name of the walk's current directory: opened O_PATH (the xattr calls then
 * go through /proc/self/fd: never through a symlink). */
static int marks_of_entry(struct ovl_walk *w, const char *name, unsigned *marks, ovl_error_t *err)
{
	cleanup_close int fd = openat(ovl_walk_fd(w), name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	cleanup_free char *path = ovl_walk_path(w, name);
	if (fd < 0)
		return ovl_error(err, errno, "open upper entry %s", ovl_qp(path));
	return marks_of(fd, path, marks, err);
}

/* The whole upper as a walk (walk.h): a bounded number of fds at any depth, no recursion. */
static int scan_tree(int upper_fd, unsigned *marks, ovl_error_t *err)
{
	struct ovl_walk w;
	if (ovl_walk_init(&w, upper_fd, O_RDONLY, false, 0) < 0)
		return ovl_error(err, errno, "open upper dir .");
	int r = 0;
	while (r == 0 && *marks != BOTH_MARKS) {
		const char *name;
		unsigned char type;
		int n = ovl_walk_next(&w, &name, &type);
		if (n < 0) {
			cleanup_free char *path = ovl_walk_path(&w, NULL);
			r = ovl_error(err, errno, "read upper dir %s",
				      ovl_qp(path[0] ? path : "."));
		} else if (n == 0) {
			if (ovl_walk_depth(&w) == 0)
				break;
			if (ovl_walk_pop(&w, NULL) < 0)
				r = ovl_error(err, errno, "walk back up the upper");
		} else if ((r = marks_of_entry(&w, name, marks, err)) == 0 &&
			   (type == DT_DIR || type == DT_UNKNOWN) && ovl_walk_push(&w, name) < 0 &&
			   errno != ENOTDIR && errno != ELOOP) {
			cleanup_free char *path = ovl_walk_path(&w, name);
			r = ovl_error(err, errno, "open upper dir %s", ovl_qp(path));
		}
	}
	ovl_walk_free(&w);
	return r;
}

int ovl_xattr_marks(int upper_fd, unsigned *marks, ovl_error_t *err)
{
	*marks = 0;
	if (marks_of(upper_fd, "", marks, err) < 0 || scan_tree(upper_fd, marks, err) < 0)
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
