/* Making upper and work ready for an overlay (created beneath their parent fds, the root's
 * metadata copied, the mode recorded), and removing them again. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/overlay.h"
#include "ovlbox/owner.h"
#include "ovlbox/plan.h"
#include "ovlbox/prepare.h"

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Overlay-private attributes on the upper root would be interpreted by overlayfs. */
static bool not_overlay_xattr(const char *name, void *data)
{
	(void)data;
	return !has_prefix(name, ovl_overlay_prefix(0)) && !has_prefix(name, ovl_overlay_prefix(1));
}

/* lst: the lower root's stat. */
static int copy_root_meta(int lower_fd, const struct stat *lst, int upper_fd, ovl_error_t *err)
{
	if (ovl_copy_xattrs(lower_fd, upper_fd, not_overlay_xattr, NULL, err) < 0 ||
	    ovl_set_owner_mode_times(upper_fd, lst, err) < 0)
		return -1;
	return 0;
}

/* Makes name in parent (mode) if *fd < 0 and opens it into *fd; 1 if made, 0 if there. */
static int make_layer(int parent, const char *name, mode_t mode, int *fd, bool readable,
		      const char *what, const char *path, ovl_error_t *err)
{
	if (*fd >= 0)
		return 0;
	if (mkdirat(parent, name, mode) < 0)
		return ovl_error(err, errno, "create %s %s", what, ovl_qp(path));
	*fd = ovl_layer_open_at(parent, name, readable, what, path, err);
	if (*fd < 0)
		return errno == ENOENT ? ovl_error(err, errno, "%s %s", what, ovl_qp(path)) : -1;
	return 1;
}

/* Upper and work made (or there) and open: made gets OVL_CREATED_* for those this call made. */
static int make_upper_work(struct ovl_layers *l, unsigned *made, ovl_error_t *err)
{
	int r = make_layer(l->upper_parent, ovl_layers_upper_name(l), 0755, &l->upper_fd, true,
			   "upper dir", l->upper, err);
	if (r < 0)
		return -1;
	*made |= r ? OVL_CREATED_UPPER : 0;
	r = make_layer(l->work_parent, ovl_layers_work_name(l), 0700, &l->work_fd, false,
		       "work dir", l->work, err);
	if (r < 0)
		return -1;
	*made |= r ? OVL_CREATED_WORK : 0;
	return 0;
}

/* The three on one filesystem (overlayfs needs upper and work on one; apply renames from upper
 * into the workspace); lst gets the workspace root's stat. */
static int check_one_fs(const struct ovl_layers *l, struct stat *lst, ovl_error_t *err)
{
	struct stat ust, wst;
	if (fstat(l->lower_fd, lst) < 0 || fstat(l->upper_fd, &ust) < 0 ||
	    fstat(l->work_fd, &wst) < 0)
		return ovl_error(err, errno, "stat layers of %s", ovl_qp(l->lower));
	if (ust.st_dev != lst->st_dev || wst.st_dev != lst->st_dev)
		return ovl_error(
		    err, EXDEV,
		    "workspace %s, upper dir %s and work dir %s must be on one filesystem",
		    ovl_qp(l->lower), ovl_qp(l->upper), ovl_qp(l->work));
	return 0;
}

int ovl_layers_prepare(struct ovl_layers *l, bool userxattr, unsigned *created, ovl_error_t *err)
{
	unsigned made = 0;
	if (created)
		*created = 0;
	if (ovl_layers_check_work_is_ours(l, err) < 0)
		return -1;
	int r = make_upper_work(l, &made, err);
	if (created)
		*created = made;
	struct stat lst;
	if (r < 0 || check_one_fs(l, &lst, err) < 0)
		return -1;
	/* made in a parent reached by path: where do they lie now that they exist */
	if (made && ovl_layers_check_apart(l, err) < 0)
		return -1;
	if (ovl_layers_write_mode(l, userxattr, err) < 0)
		return -1;
	/* overlayfs' own scratch dirs, left by an earlier mount (a `volatile` mount leaves
	 * work/incompat/volatile, which makes the next mount fail); in the clean state nothing
	 * in them matters. */
	if (!(made & OVL_CREATED_WORK) && ovl_layers_remove_scratch_at(l->work_fd, err) < 0)
		return ovl_error_wrap(err, "clean work dir %s", ovl_qp(l->work));
	if (copy_root_meta(l->lower_fd, &lst, l->upper_fd, err) < 0)
		return ovl_error_wrap(err, "copy metadata of %s onto %s", ovl_qp(l->lower),
				      ovl_qp(l->upper));
	return 0;
}

int ovl_layers_copy_root_meta(int lower_fd, int upper_fd, ovl_error_t *err)
{
	struct stat lst;
	if (fstat(lower_fd, &lst) < 0)
		return ovl_error(err, errno, "stat workspace root");
	return copy_root_meta(lower_fd, &lst, upper_fd, err);
}

int ovl_layers_make_work(struct ovl_layers *l, ovl_error_t *err)
{
	int r = make_layer(l->work_parent, ovl_layers_work_name(l), 0700, &l->work_fd, false,
			   "work dir", l->work, err);
	return r < 0 ? -1 : 0;
}

int ovl_layers_record_mode(struct ovl_layers *l, bool userxattr, ovl_error_t *err)
{
	if (ovl_layers_reopen(l, err) < 0 || ovl_layers_make_work(l, err) < 0)
		return -1;
	return ovl_layers_write_mode(l, userxattr, err);
}

/* Removes the layer open as *fd (its contents through the fd), then its name in parent if that
 * still is the same directory: a name swapped meanwhile is left alone. */
static int remove_layer(int parent, const char *name, int *fd, const char *what, const char *path,
			ovl_error_t *err)
{
	if (*fd < 0)
		return 0;
	cleanup_close int rfd = openat(*fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_dir DIR *d = rfd >= 0 ? ovl_opendir_dup(rfd) : NULL;
	if (d == NULL)
		return ovl_error(err, errno, "remove %s %s", what, ovl_qp(path));
	struct dirent *de;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (ovl_remove_tree_at(rfd, de->d_name, err) < 0)
			return ovl_error_wrap(err, "remove %s %s", what, ovl_qp(path));
	}
	if (errno != 0)
		return ovl_error(err, errno, "remove %s %s: read it", what, ovl_qp(path));
	struct stat st, mine;
	if (fstat(*fd, &mine) < 0)
		return ovl_error(err, errno, "remove %s %s: stat it", what, ovl_qp(path));
	struct ovl_devino want = ovl_devino_of_stat(&mine);
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return ovl_error(err, errno, "remove %s %s", what, ovl_qp(path));
	} else if (S_ISDIR(st.st_mode)) {
		struct ovl_devino got = ovl_devino_of_stat(&st);
		if (ovl_devino_equal(&got, &want) && unlinkat(parent, name, AT_REMOVEDIR) < 0 &&
		    errno != ENOENT)
			return ovl_error(err, errno, "remove %s %s", what, ovl_qp(path));
	}
	ovl_closep(fd);
	*fd = -1;
	return 0;
}

int ovl_layers_remove_created(struct ovl_layers *l, unsigned created, ovl_error_t *err)
{
	if ((created & OVL_CREATED_UPPER) &&
	    remove_layer(l->upper_parent, ovl_layers_upper_name(l), &l->upper_fd, "upper dir",
			 l->upper, err) < 0)
		return -1;
	if ((created & OVL_CREATED_WORK) && remove_layer(l->work_parent, ovl_layers_work_name(l),
							 &l->work_fd, "work dir", l->work, err) < 0)
		return -1;
	return 0;
}

int ovl_layers_discard(struct ovl_layers *l, ovl_error_t *err)
{
	/* work last: it holds the mode file that tells how to read upper */
	return ovl_layers_remove_created(l, OVL_CREATED_UPPER | OVL_CREATED_WORK, err);
}
