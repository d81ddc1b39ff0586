/* The action's filesystem view (see rootfs.h). Built on a detached clone of the mount tree, so
 * nothing here touches a mount anyone else can see. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "rootfs.h"

/* Opens dst (an absolute sandbox path) inside the new root without following symlinks, so an
 * image-controlled symlink cannot redirect a mount outside. */
static int open_target(int root, const char *dst, ovl_error_t *err)
{
	while (*dst == '/')
		dst++;
	int fd = ovl_open_beneath(root, dst, O_PATH, err);
	if (fd < 0)
		return ovl_error_wrap(err, "mount point /%s (it must exist: the root is read-only)",
				      ovl_qp(dst));
	return fd;
}

/* A fresh filesystem of type fstype on root/dst. */
static int mount_new(int root, const char *dst, const char *fstype, unsigned long flags,
		     const char *data, ovl_error_t *err)
{
	cleanup_close int t = open_target(root, dst, err);
	if (t < 0)
		return -1;
	char p[OVL_PROC_FD_PATH_MAX];
	ovl_proc_fd_path(p, t);
	if (mount(fstype, p, fstype, flags, data) < 0)
		return ovl_error(err, errno, "mount %s on %s", fstype, dst);
	return 0;
}

/* A detached, recursive clone of the host path src (made before anything covers it), read-only
 * or writable. Read-only covers every mount of the clone; writable only its top mount: a
 * submount that is read-only on the host (a --ro-bind of the caller's, a read-only medium)
 * stays read-only, as with `mount --rbind`. user: a user's bind (nosuid, nodev), not a device
 * node for /dev. */
static int clone_tree(const char *src, bool readonly, bool user, ovl_error_t *err)
{
	cleanup_close int tree =
	    open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | AT_RECURSIVE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		return ovl_error(err, errno, "bind %s", ovl_qp(src));
	/* A user's bind is nosuid and nodev all through, as the rest of the host root: an action
	 * given CAP_MKNOD must not use a node it makes in a writable bind, nor a setuid binary
	 * there gain anything (the device nodes cloned for /dev keep dev). */
	struct mount_attr restrict_attr = {.attr_set =
					       (user ? MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV : 0) |
					       (readonly ? MOUNT_ATTR_RDONLY : 0)};
	if (restrict_attr.attr_set != 0 && mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE,
							 &restrict_attr, sizeof(restrict_attr)) < 0)
		return ovl_error(err, errno, "bind %s: make %s", ovl_qp(src),
				 readonly ? "read-only, nosuid and nodev" : "nosuid and nodev");
	if (!readonly) {
		/* SRC's own mount only: one below it that is read-only on the host stays so. */
		struct mount_attr rw = {.attr_clr = MOUNT_ATTR_RDONLY};
		if (mount_setattr(tree, "", AT_EMPTY_PATH, &rw, sizeof(rw)) < 0)
			return ovl_error(err, errno, "bind %s: make writable", ovl_qp(src));
	}
	return ovl_steal_fd(&tree);
}

/* Attaches a detached mount at root/dst. */
static int attach(int root, int mnt, const char *dst, ovl_error_t *err)
{
	cleanup_close int t = open_target(root, dst, err);
	if (t < 0)
		return -1;
	if (move_mount(mnt, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return ovl_error(err, errno, "mount on %s", ovl_qp(dst));
	return 0;
}

static int make_file(int dir, const char *name, mode_t mode, ovl_error_t *err)
{
	cleanup_close int fd = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
	if (fd < 0)
		return ovl_error(err, errno, "create /dev/%s", name);
	return 0;
}

/* /dev: a tmpfs with the harmless character devices, a private devpts and a private
 * /dev/shm. Real root makes the nodes (mknod); in a user namespace, where mknod is refused,
 * the host's nodes are bound in (node_mnt). */
static const struct {
	const char *name;
	unsigned int major, minor;
} dev_nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
		 {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
#define NDEV (N_ELEMENTS(dev_nodes))

static int add_dev_node(int root, int dev, size_t i, int node_mnt, ovl_error_t *err)
{
	const char *name = dev_nodes[i].name;
	if (node_mnt < 0) {
		if (mknodat(dev, name, S_IFCHR | 0666,
			    makedev(dev_nodes[i].major, dev_nodes[i].minor)) < 0 ||
		    fchmodat(dev, name, 0666, 0) < 0) /* past the umask */
			return ovl_error(err, errno, "mknod /dev/%s", name);
		return 0;
	}
	char dst[32];
	snprintf(dst, sizeof(dst), "/dev/%s", name);
	if (make_file(dev, name, 0666, err) < 0 || attach(root, node_mnt, dst, err) < 0)
		return -1;
	return 0;
}

/* Once its nodes, mounts and links exist, the /dev tmpfs is made read-only: nothing can be
 * created in it any more, so an action given CAP_MKNOD cannot make a device node it could use
 * (/tmp and the workspace are nodev). Nodes made with mknod (real root) live on this tmpfs and
 * need it to allow devices; binds of the host's nodes (user namespace) are mounts of their
 * own, so then the tmpfs is nodev too. /dev/shm and /dev/pts are mounts of their own and stay
 * writable. */
static int seal_dev(int dev, bool bound_nodes, ovl_error_t *err)
{
	struct mount_attr attr = {.attr_set =
				      MOUNT_ATTR_RDONLY | (bound_nodes ? MOUNT_ATTR_NODEV : 0)};
	if (mount_setattr(dev, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
		return ovl_error(err, errno, "make /dev read-only");
	return 0;
}

static int setup_dev(int root, const int node_mnt[NDEV], ovl_error_t *err)
{
	if (mount_new(root, "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k", err) < 0)
		return -1;
	cleanup_close int dev = ovl_open_beneath(root, "dev", O_PATH | O_DIRECTORY, err);
	if (dev < 0)
		return -1;
	for (size_t i = 0; i < NDEV; i++)
		if (add_dev_node(root, dev, i, node_mnt[i], err) < 0)
			return -1;
	if (mkdirat(dev, "shm", 01777) < 0 || mkdirat(dev, "pts", 0755) < 0)
		return ovl_error(err, errno, "mkdir in /dev");
	if (mount_new(root, "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", err) < 0 ||
	    mount_new(root, "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		      "newinstance,ptmxmode=0666,mode=0620", err) < 0)
		return -1;
	static const char *const links[][2] = {{"pts/ptmx", "ptmx"},
					       {"/proc/self/fd", "fd"},
					       {"/proc/self/fd/0", "stdin"},
					       {"/proc/self/fd/1", "stdout"},
					       {"/proc/self/fd/2", "stderr"}};
	for (size_t i = 0; i < N_ELEMENTS(links); i++)
		if (symlinkat(links[i][0], dev, links[i][1]) < 0)
			return ovl_error(err, errno, "symlink /dev/%s", links[i][1]);
	return seal_dev(dev, node_mnt[0] >= 0, err);
}

/* The parts of /proc and /sys that runc and crun also protect by default (runc's
 * libcontainer/specconv readonlyPaths and maskedPaths). Read-only: sysctls (euid 0 passes a
 * sysctl's file mode without any capability, so root's action could otherwise change the
 * host's kernel settings), sysrq, IRQ affinities, bus and fs knobs. */
static const char *const readonly_paths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
					     "/proc/sysrq-trigger"};
/* Masked (/dev/null over a file, an empty read-only tmpfs over a directory): the host's
 * kernel memory, keyrings, timers, scheduler and hardware details. */
static const char *const masked_paths[] = {
    "/proc/acpi",	"/proc/kcore",	     "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"};

/* Opens path beneath root as O_PATH into *fd: 1, or 0 when it does not exist (the kernel's
 * configuration decides which of these paths there are), -1 on error. */
static int open_if_exists(int root, const char *path, int *fd, ovl_error_t *err)
{
	*fd = ovl_open_beneath(root, path + 1, O_PATH, err);
	if (*fd >= 0)
		return 1;
	if (ovl_error_errno(*err) != ENOENT)
		return ovl_error_wrap(err, "%s", path);
	ovl_error_free(err);
	return 0;
}

/* A detached clone of the sandbox's /<rel> with the attributes attrs, the source of read-only
 * binds: a clone of it or of part of it keeps them, so one mount_setattr serves every bind made
 * from it (each is a syscall on the critical path of every run). */
static int readonly_source(int root, const char *rel, uint64_t attrs, ovl_error_t *err)
{
	cleanup_close int tree =
	    open_tree(root, rel, OPEN_TREE_CLONE | AT_SYMLINK_NOFOLLOW | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		return ovl_error(err, errno, "bind /%s", rel);
	struct mount_attr ro = {.attr_set = attrs};
	if (mount_setattr(tree, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0)
		return ovl_error(err, errno, "make a bind of /%s read-only", rel);
	return ovl_steal_fd(&tree);
}

/* A clone of the sandbox's /proc, read-only, nosuid, nodev, noexec: the source of the read-only
 * binds of its parts (make_readonly). */
static int readonly_proc_source(int root, ovl_error_t *err)
{
	return readonly_source(
	    root, "proc",
	    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
}

/* Binds /proc/<name> of ro_proc (readonly_proc_source) over the sandbox's. */
static int make_readonly(int root, int ro_proc, const char *path, ovl_error_t *err)
{
	cleanup_close int t = -1;
	int found = open_if_exists(root, path, &t, err);
	if (found <= 0)
		return found;
	cleanup_close int tree =
	    open_tree(ro_proc, path + strlen("/proc/"),
		      OPEN_TREE_CLONE | AT_SYMLINK_NOFOLLOW | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		return ovl_error(err, errno, "bind %s", path);
	if (move_mount(tree, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return ovl_error(err, errno, "mount on %s", path);
	return 0;
}

/* A read-only (nosuid, noexec) clone of the sandbox's /dev/null, the source of the masks of
 * files (mask). */
static int readonly_null_source(int root, ovl_error_t *err)
{
	return readonly_source(root, "dev/null",
			       MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
}

/* Covers a file with a read-only bind of the sandbox's /dev/null (ro_null, from
 * readonly_null_source; reads give nothing), a directory with an empty read-only tmpfs. */
static int mask(int root, int ro_null, const char *path, ovl_error_t *err)
{
	cleanup_close int t = -1;
	int found = open_if_exists(root, path, &t, err);
	if (found <= 0)
		return found;
	struct stat st;
	if (fstat(t, &st) < 0)
		return ovl_error(err, errno, "stat %s", path);
	if (S_ISDIR(st.st_mode)) {
		char p[OVL_PROC_FD_PATH_MAX];
		ovl_proc_fd_path(p, t);
		if (mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "mode=0555") < 0)
			return ovl_error(err, errno, "mount tmpfs on %s", path);
		return 0;
	}
	cleanup_close int null =
	    open_tree(ro_null, "", OPEN_TREE_CLONE | AT_EMPTY_PATH | OPEN_TREE_CLOEXEC);
	if (null < 0)
		return ovl_error(err, errno, "bind /dev/null");
	if (move_mount(null, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return ovl_error(err, errno, "mount /dev/null on %s", path);
	return 0;
}

/* After /dev (for /dev/null) and /sys exist. */
static int protect_proc_sys(int root, ovl_error_t *err)
{
	cleanup_close int ro_proc = readonly_proc_source(root, err);
	cleanup_close int ro_null = ro_proc < 0 ? -1 : readonly_null_source(root, err);
	if (ro_null < 0)
		return -1;
	for (size_t i = 0; i < N_ELEMENTS(readonly_paths); i++)
		if (make_readonly(root, ro_proc, readonly_paths[i], err) < 0)
			return -1;
	for (size_t i = 0; i < N_ELEMENTS(masked_paths); i++)
		if (mask(root, ro_null, masked_paths[i], err) < 0)
			return -1;
	return 0;
}

/* mkdir -p of path beneath root without following symlinks (the last component a file if
 * `file`); possible only where the view is writable: the private /tmp, the workspace. */
static int make_mount_point(int root, const char *path, bool file, ovl_error_t *err)
{
	cleanup_free char *copy = xstrdup(path);
	cleanup_close int cur = dup(root);
	for (char *save = NULL, *c = strtok_r(copy, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		bool last = save == NULL || *save == '\0';
		if (last && file) {
			int fd = openat(cur, c, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (fd < 0)
				return ovl_error(err, errno, "create mount point %s", ovl_qp(path));
			close(fd);
			return 0;
		}
		if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST)
			return ovl_error(err, errno, "create mount point %s", ovl_qp(path));
		int next = openat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return ovl_error(err, errno, "open mount point %s", ovl_qp(path));
		close(cur);
		cur = next;
	}
	return 0;
}

static int setup_user_mounts(int root, const struct rootfs_config *cfg, const int *trees,
			     ovl_error_t *err)
{
	for (size_t i = 0; i < cfg->nmounts; i++) {
		const struct user_mount *m = &cfg->mounts[i];
		int r;
		/* A missing mount point can be made only where the view is writable (the private
		 * /tmp, the workspace); elsewhere open_target() says it must exist. File or
		 * directory is the cloned source's, not a stat of m->src: by now the private /tmp
		 * covers the host's, and a host path under /tmp is gone or another file. */
		bool file = false;
		if (m->kind != MNT_TMPFS) {
			struct stat st;
			if (fstat(trees[i], &st) < 0)
				return ovl_error(err, errno, "stat bind source %s", ovl_qp(m->src));
			file = !S_ISDIR(st.st_mode);
		}
		ovl_error_t ignored = NULL;
		if (make_mount_point(root, m->dst, file, &ignored) < 0)
			ovl_error_free(&ignored);
		switch (m->kind) {
		case MNT_TMPFS:
			r = mount_new(root, m->dst, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755",
				      err);
			break;
		default:
			r = attach(root, trees[i], m->dst, err);
			break;
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Everything that must be taken from the host's view before the view changes: the device
 * nodes (unless they can be made), the bind sources. */
static int take_sources(const struct rootfs_config *cfg, int node[NDEV], int *trees,
			ovl_error_t *err)
{
	for (size_t i = 0; i < NDEV && !cfg->mknod; i++) {
		char src[32];
		snprintf(src, sizeof(src), "/dev/%s", dev_nodes[i].name);
		if ((node[i] = clone_tree(src, false, false, err)) < 0)
			return -1;
	}
	for (size_t i = 0; i < cfg->nmounts; i++) {
		const struct user_mount *m = &cfg->mounts[i];
		if (m->kind != MNT_TMPFS &&
		    (trees[i] = clone_tree(m->src, m->kind == MNT_RO_BIND, true, err)) < 0)
			return -1;
	}
	return 0;
}

/* The mount namespace is already a private copy of the host's mounts: make all of it read-only
 * (nosuid, nodev) in place, put fresh /proc /dev /tmp (/sys) over it, protect parts of /proc and
 * /sys as runc does, then attach the workspace and the user's mounts. No pivot_root: nothing
 * writable is left underneath, and the action can neither unmount (no capabilities, seccomp) nor
 * reach the covered mounts. */
int rootfs_enter(const struct rootfs_config *cfg, ovl_error_t *err)
{
	int node[NDEV], *trees = xcalloc(cfg->nmounts + 1, sizeof(int));
	for (size_t i = 0; i < NDEV; i++)
		node[i] = -1;
	for (size_t i = 0; i < cfg->nmounts; i++)
		trees[i] = -1;
	int r = -1;
	cleanup_close int root = -1;
	if (take_sources(cfg, node, trees, err) < 0)
		goto out;
	struct mount_attr ro = {.attr_set =
				    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
	if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof(ro)) < 0) {
		ovl_error(err, errno, "make the root read-only");
		goto out;
	}
	root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		ovl_error(err, errno, "open /");
		goto out;
	}
	if (mount_new(root, "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err) < 0 ||
	    setup_dev(root, node, err) < 0 ||
	    mount_new(root, "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", err) < 0)
		goto out;
	if (cfg->join_net &&
	    (cfg->join_net(cfg->join_net_data, err) < 0 ||
	     mount_new(root, "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
		       err) < 0))
		goto out;
	if (protect_proc_sys(root, err) < 0)
		goto out;
	if (make_mount_point(root, cfg->workspace, false, err) < 0 ||
	    attach(root, cfg->workspace_mnt, cfg->workspace, err) < 0) {
		ovl_error_wrap(err, "workspace");
		goto out;
	}
	if (setup_user_mounts(root, cfg, trees, err) < 0)
		goto out;
	r = 0;
out:
	close_all(node, NDEV);
	close_all(trees, cfg->nmounts);
	free(trees);
	return r;
}
