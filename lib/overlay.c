/* The overlay mount of a layer set: options, the new mount API with mount(2) where it is
 * missing, attaching, read-only remounts, and overlayfs' scratch dirs in the work dir. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/log.h"
#include "ovlbox/overlay.h"
#include "ovlbox/workdir.h"

/* More than build_opts() ever sets. */
#define MOUNT_OPTS_MAX 16
/* mount(2)'s data string: the options of MOUNT_OPTS_MAX with their /proc/self/fd paths. */
#define MOUNT_DATA_MAX 512

struct ovl_layer_fds ovl_layers_fds(const struct ovl_layers *l)
{
	return (struct ovl_layer_fds){l->lower_fd, l->upper_fd, l->work_fd};
}

int ovl_layers_open_paths(const struct ovl_layers *l, struct ovl_layer_fds *fds, ovl_error_t *err)
{
	fds->lower = open(l->lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
	fds->upper = open(l->upper, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	fds->work = open(l->work, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fds->lower < 0 || fds->upper < 0 || fds->work < 0) {
		int e = errno;
		const char *p = fds->lower < 0 ? l->lower : fds->upper < 0 ? l->upper : l->work;
		ovl_layer_fds_close(fds);
		return ovl_error(err, e, "open %s", ovl_qp(p));
	}
	return 0;
}

/* fd (opened by path) must be the directory want is (or, want < 0, that parent/name is). */
static int same_dir(int fd, int want, int parent, const char *name, const char *what,
		    const char *path, ovl_error_t *err)
{
	struct stat st;
	struct ovl_devino got = ovl_devino_of_fd(fd), expect = ovl_devino_of_fd(want);
	if (want < 0 && fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		expect = ovl_devino_of_stat(&st);
	if (got.ino == 0 || !ovl_devino_equal(&got, &expect))
		return ovl_error(err, 0, "%s %s is not the directory opened before", what,
				 ovl_qp(path));
	return 0;
}

int ovl_layers_same_fds(const struct ovl_layers *l, const struct ovl_layer_fds *fds,
			ovl_error_t *err)
{
	if (same_dir(fds->lower, l->lower_fd, -1, NULL, "workspace", l->lower, err) < 0 ||
	    same_dir(fds->upper, l->upper_fd, l->upper_parent, ovl_layers_upper_name(l),
		     "upper dir", l->upper, err) < 0 ||
	    same_dir(fds->work, l->work_fd, l->work_parent, ovl_layers_work_name(l), "work dir",
		     l->work, err) < 0)
		return -1;
	return 0;
}

static void close_fd(int *fd)
{
	ovl_closep(fd);
	*fd = -1;
}

void ovl_layer_fds_close(struct ovl_layer_fds *fds)
{
	close_fd(&fds->lower);
	close_fd(&fds->upper);
	close_fd(&fds->work);
}

struct mount_opt {
	const char *key, *value;
	bool optional;	    /* harmless to drop when the kernel does not know it */
	int fd;		    /* a layer: its directory (value is then its /proc/self/fd path) */
	const char *fd_key; /* the layer's key for FSCONFIG_SET_FD */
};

static int build_opts(const struct ovl_layer_fds *fds, bool userxattr,
		      char paths[3][OVL_PROC_FD_PATH_MAX], struct mount_opt opts[MOUNT_OPTS_MAX])
{
	ovl_proc_fd_path(paths[0], fds->lower);
	ovl_proc_fd_path(paths[1], fds->upper);
	ovl_proc_fd_path(paths[2], fds->work);
	int n = 0;
	opts[n++] = (struct mount_opt){"lowerdir", paths[0], false, fds->lower, "lowerdir+"};
	opts[n++] = (struct mount_opt){"upperdir", paths[1], false, fds->upper, "upperdir"};
	opts[n++] = (struct mount_opt){"workdir", paths[2], false, fds->work, "workdir"};
	opts[n++] = (struct mount_opt){"redirect_dir", "nofollow", false, -1, NULL};
	opts[n++] = (struct mount_opt){"index", "off", false, -1, NULL};
	opts[n++] = (struct mount_opt){"metacopy", "off", false, -1, NULL};
	opts[n++] = (struct mount_opt){"xino", "off", true, -1, NULL};
	opts[n++] = (struct mount_opt){"uuid", "null", true, -1, NULL};
	/* No sync of the whole upper filesystem at unmount (it made every container exit wait
	 * for unrelated writeback): apply syncs the upper itself before its journal, which is
	 * the point where durability matters. An upper left by a crash during the action is
	 * whatever reached the disk; `ovlbox apply` or `discard` decides. */
	opts[n++] = (struct mount_opt){"volatile", NULL, true, -1, NULL};
	if (userxattr)
		opts[n++] = (struct mount_opt){"userxattr", NULL, false, -1, NULL};
	return n;
}

/* Sets one option. Layers go by fd where the kernel takes them so (overlayfs since Linux 6.13,
 * O_PATH fds since 6.15): no path lookup through /proc for each. *by_fd starts true and turns
 * false at the first layer the kernel does not take by fd (EINVAL: an unknown key; EBADF: an
 * O_PATH fd before 6.15); the rest then go by path too. */
static int set_opt(int fsfd, const struct mount_opt *o, bool *by_fd)
{
	if (o->fd >= 0 && *by_fd) {
		if (fsconfig(fsfd, FSCONFIG_SET_FD, o->fd_key, NULL, o->fd) == 0)
			return 0;
		if (errno != EINVAL && errno != EBADF)
			return -1;
		ovl_info("overlayfs takes no layer by fd here (%s: %s): passing the layers as "
			 "/proc/self/fd paths",
			 o->fd_key, strerror(errno));
		*by_fd = false;
	}
	if (o->value)
		return fsconfig(fsfd, FSCONFIG_SET_STRING, o->key, o->value, 0);
	return fsconfig(fsfd, FSCONFIG_SET_FLAG, o->key, NULL, 0);
}

/* New mount API: each option is set on its own, so a refusal names the exact option. */
static int overlay_fsmount(const struct mount_opt *opts, int n, unsigned int attrs,
			   ovl_error_t *err)
{
	cleanup_close int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return -2; /* no new mount API: errno says why; the caller decides */
	bool by_fd = true;
	for (int i = 0; i < n; i++) {
		int r = set_opt(fsfd, &opts[i], &by_fd);
		if (r == 0)
			continue;
		if (opts[i].optional && errno == EINVAL) {
			ovl_info("overlay option %s%s%s not supported by this kernel; mounting "
				 "without it",
				 opts[i].key, opts[i].value ? "=" : "",
				 opts[i].value ? opts[i].value : "");
			continue;
		}
		return ovl_error(err, errno, "overlay mount: the kernel refused option %s%s%s",
				 opts[i].key, opts[i].value ? "=" : "",
				 opts[i].value ? opts[i].value : "");
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return ovl_error(err, errno, "overlay mount: create superblock");
	int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
	if (mfd < 0)
		return ovl_error(err, errno, "overlay mount: fsmount");
	return mfd;
}

/* The data string of mount(2): the options not skipped, comma-separated. */
static int mount_data(const struct mount_opt *opts, int n, const bool *skip,
		      char data[MOUNT_DATA_MAX], ovl_error_t *err)
{
	size_t o = 0;
	data[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (skip[i])
			continue;
		int w =
		    snprintf(data + o, MOUNT_DATA_MAX - o, "%s%s%s%s", o ? "," : "", opts[i].key,
			     opts[i].value ? "=" : "", opts[i].value ? opts[i].value : "");
		if (w < 0 || (size_t)w >= MOUNT_DATA_MAX - o)
			return ovl_error(err, E2BIG, "overlay mount: options");
		o += (size_t)w;
	}
	return 0;
}

/* mount(2): one data string; on EINVAL retry without the optional options, one at a time. */
static int mount_legacy(struct mount_opt *opts, int n, int target_fd, ovl_error_t *err)
{
	char target[OVL_PROC_FD_PATH_MAX];
	ovl_proc_fd_path(target, target_fd);
	bool skip[MOUNT_OPTS_MAX] = {false};
	for (;;) {
		char data[MOUNT_DATA_MAX];
		if (mount_data(opts, n, skip, data, err) < 0)
			return -1;
		if (mount("overlay", target, "overlay", 0, data) == 0)
			return 0;
		int e = errno;
		int drop = -1;
		for (int i = n - 1; i >= 0 && e == EINVAL; i--)
			if (opts[i].optional && !skip[i]) {
				drop = i;
				break;
			}
		if (drop < 0)
			return ovl_error(err, e, "overlay mount (%s)", data);
		skip[drop] = true;
	}
}

int ovl_layers_mount(const struct ovl_layer_fds *fds, int target_fd, bool userxattr,
		     ovl_error_t *err)
{
	char paths[3][OVL_PROC_FD_PATH_MAX];
	struct mount_opt opts[MOUNT_OPTS_MAX];
	int n = build_opts(fds, userxattr, paths, opts);
	cleanup_close int mfd = overlay_fsmount(opts, n, 0, err);
	if (mfd == -2) {
		mfd = -1;
		ovl_info("no new mount API here (fsopen: %s): mounting with mount(2)",
			 strerror(errno));
		return mount_legacy(opts, n, target_fd, err);
	}
	if (mfd < 0)
		return -1;
	return ovl_layers_attach(mfd, target_fd, err);
}

int ovl_layers_attach(int mfd, int target_fd, ovl_error_t *err)
{
	if (move_mount(mfd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
	    0)
		return ovl_error(err, errno, "overlay mount: attach to workspace");
	return 0;
}

int ovl_mount_set_readonly(int target_fd, ovl_error_t *err)
{
	struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
	if (mount_setattr(target_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) == 0)
		return 0;
	if (errno != ENOSYS && errno != EPERM)
		return ovl_error(err, errno, "make the workspace mount read-only (mount_setattr)");
	/* a bind remount must repeat the flags the mount has: a locked one may not be cleared */
	static const struct {
		unsigned long st, ms;
	} keep[] = {{ST_NOSUID, MS_NOSUID},	    {ST_NODEV, MS_NODEV},
		    {ST_NOEXEC, MS_NOEXEC},	    {ST_NOATIME, MS_NOATIME},
		    {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME}};
	struct statvfs sv;
	if (fstatvfs(target_fd, &sv) < 0)
		return ovl_error(err, errno, "make the workspace mount read-only: statvfs");
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
	for (size_t i = 0; i < N_ELEMENTS(keep); i++)
		if (sv.f_flag & keep[i].st)
			flags |= keep[i].ms;
	char path[OVL_PROC_FD_PATH_MAX];
	ovl_proc_fd_path(path, target_fd);
	if (mount(NULL, path, NULL, flags, NULL) < 0)
		return ovl_error(err, errno, "make the workspace mount read-only (remount)");
	return 0;
}

int ovl_layers_fsmount(const struct ovl_layer_fds *fds, bool userxattr, unsigned int attrs,
		       ovl_error_t *err)
{
	char paths[3][OVL_PROC_FD_PATH_MAX];
	struct mount_opt opts[MOUNT_OPTS_MAX];
	int n = build_opts(fds, userxattr, paths, opts);
	int mfd = overlay_fsmount(opts, n, attrs, err);
	if (mfd == -2)
		ovl_error(err, errno, "overlay mount: fsopen (the new mount API)");
	return mfd;
}

int ovl_layers_remove_scratch_at(int wfd, ovl_error_t *err)
{
	if (ovl_remove_tree_at(wfd, OVL_WORK_SCRATCH, err) < 0 ||
	    ovl_remove_tree_at(wfd, OVL_WORK_INDEX, err) < 0)
		return -1;
	return 0;
}

int ovl_layers_clear_volatile_marker_at(int wfd, ovl_error_t *err)
{
	cleanup_close int scratch =
	    openat(wfd, OVL_WORK_SCRATCH, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (scratch < 0)
		return errno == ENOENT ? 0 : ovl_error(err, errno, "open work dir's work");
	if (ovl_remove_tree_at(scratch, OVL_WORK_INCOMPAT, err) < 0)
		return ovl_error_wrap(err, "work dir's work");
	return 0;
}
