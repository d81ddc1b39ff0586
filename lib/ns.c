/* Entering a container's namespaces; resolving paths inside its rootfs (see include/ovlbox/ns.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/ns.h"

/* Opens /proc/<pid>/ns/<name>; returns -1 in *fd (and 0) when it is the caller's own. With
 * self_fd, the caller's own namespace is opened too and returned there when they differ (to come
 * back to: a lookup under /proc is a path walk through procfs, and this one is needed anyway). */
static int open_ns(pid_t pid, const char *name, int *fd, int *self_fd, ovl_error_t *err)
{
	char path[64], self[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, name);
	snprintf(self, sizeof(self), "/proc/self/ns/%s", name);
	cleanup_close int nfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nfd < 0)
		return ovl_error(err, errno, "open %s", path);
	struct stat theirs, ours;
	if (fstat(nfd, &theirs) < 0)
		return ovl_error(err, errno, "stat %s", path);
	cleanup_close int sfd = -1;
	if (self_fd) {
		sfd = open(self, O_RDONLY | O_CLOEXEC);
		if (sfd < 0 || fstat(sfd, &ours) < 0)
			return ovl_error(err, errno, "open %s", self);
	} else if (stat(self, &ours) < 0) {
		return ovl_error(err, errno, "stat %s", self);
	}
	if (theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino) {
		*fd = -1;
		return 0;
	}
	*fd = ovl_steal_fd(&nfd);
	if (self_fd)
		*self_fd = ovl_steal_fd(&sfd);
	return 0;
}

/* The caller-side id that id 0 maps to in /proc/<pid>/<file> ("uid_map" or "gid_map"). */
static int map_root(pid_t pid, const char *file, unsigned *out, ovl_error_t *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	cleanup_file FILE *f = fopen(path, "re");
	if (f == NULL)
		return ovl_error(err, errno, "open %s", path);
	unsigned inside, outside, count;
	while (fscanf(f, "%u %u %u", &inside, &outside, &count) == 3) {
		if (inside == 0 && count > 0) {
			*out = outside;
			return 0;
		}
	}
	if (ferror(f))
		return ovl_error(err, errno, "read %s", path);
	return ovl_error(err, 0, "%s: id 0 is not mapped in the container's user namespace", path);
}

int ovl_ns_open_pid(pid_t pid, struct ovl_ns_target *t, ovl_error_t *err)
{
	*t = (struct ovl_ns_target)OVL_NS_TARGET_INIT;
	if (pid <= 0)
		return ovl_error(err, 0, "no container process (pid %d)", (int)pid);
	if (open_ns(pid, "user", &t->user_fd, NULL, err) < 0)
		goto fail;
	if (t->user_fd >= 0) {
		unsigned uid, gid;
		if (map_root(pid, "uid_map", &uid, err) < 0 ||
		    map_root(pid, "gid_map", &gid, err) < 0)
			goto fail;
		t->root_uid = (uid_t)uid;
		t->root_gid = (gid_t)gid;
	}
	if (open_ns(pid, "mnt", &t->mnt_fd, &t->home_mnt_fd, err) < 0)
		goto fail;
	return 0;
fail:
	ovl_ns_target_close(t);
	return -1;
}

void ovl_ns_target_close(struct ovl_ns_target *t)
{
	ovl_closep(&t->user_fd);
	ovl_closep(&t->mnt_fd);
	ovl_closep(&t->home_mnt_fd);
	*t = (struct ovl_ns_target)OVL_NS_TARGET_INIT;
}

int ovl_ns_enter_mnt(const struct ovl_ns_target *t, ovl_error_t *err)
{
	if (t->mnt_fd >= 0 && setns(t->mnt_fd, CLONE_NEWNS) < 0)
		return ovl_error(err, errno, "enter the container's mount namespace");
	return 0;
}

int ovl_ns_enter_user(const struct ovl_ns_target *t, ovl_error_t *err)
{
	if (t->user_fd < 0)
		return 0;
	if (setns(t->user_fd, CLONE_NEWUSER) < 0)
		return ovl_error(err, errno, "enter the container's user namespace");
	/* Become the container's root, so that what the overlay creates (its work dir entries,
	 * copied-up files) is made with credentials that exist in there. */
	if (setresgid(0, 0, 0) < 0)
		return ovl_error(err, errno, "setresgid(0) in the container's user namespace");
	if (setgroups(0, NULL) < 0 && errno != EPERM)
		return ovl_error(err, errno, "setgroups in the container's user namespace");
	if (setresuid(0, 0, 0) < 0)
		return ovl_error(err, errno, "setresuid(0) in the container's user namespace");
	return 0;
}

int ovl_ns_in_child_userns(bool *in_userns, ovl_error_t *err)
{
	/* Its first line is all it takes: read(2) into a small buffer, no stdio (a hook stage
	 * runs this once, and a FILE is two allocations and a scanf). */
	cleanup_close int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ovl_error(err, errno, "open /proc/self/uid_map");
	char buf[128];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return ovl_error(err, errno, "read /proc/self/uid_map");
	buf[n] = '\0';
	unsigned inside, outside, count;
	if (sscanf(buf, "%u %u %u", &inside, &outside, &count) != 3)
		return ovl_error(err, 0, "read /proc/self/uid_map: unexpected contents");
	*in_userns = !(inside == 0 && outside == 0 && count == UINT32_MAX);
	return 0;
}

/* Writes text to /proc/<pid>/<file> ("self" for pid 0). */
static int write_proc_file(pid_t pid, const char *file, const char *text, ovl_error_t *err)
{
	char path[64];
	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/%s", file);
	else
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ovl_write_all(fd, text, strlen(text)) < 0)
		return ovl_error(err, errno, "write %s", path);
	return 0;
}

int ovl_ns_map_root(pid_t pid, uid_t uid, gid_t gid, ovl_error_t *err)
{
	char map[64];
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	if (write_proc_file(pid, "uid_map", map, err) < 0 ||
	    write_proc_file(pid, "setgroups", "deny", err) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
	return write_proc_file(pid, "gid_map", map, err);
}

int ovl_ns_open_in_rootfs(int rootfs_fd, const char *rel, ovl_error_t *err)
{
	cleanup_free char *copy = xstrdup(rel);
	cleanup_close int cur = openat(rootfs_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return ovl_error(err, errno, "open the container rootfs");
	char *p = copy;
	while (*p) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (p[0] == '\0' || strcmp(p, ".") == 0 || strcmp(p, "..") == 0)
			return ovl_error(err, EINVAL, "container path /%s", ovl_qp(rel));
		cleanup_close int next = openat(cur, p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return ovl_error(err, errno, "container path /%s", ovl_qp(copy));
		struct stat st;
		if (fstat(next, &st) < 0)
			return ovl_error(err, errno, "stat container path /%s", ovl_qp(copy));
		if (S_ISLNK(st.st_mode))
			return ovl_error(
			    err, 0,
			    "container path /%s is a symlink in the rootfs (not followed: "
			    "it could point outside the container)",
			    ovl_qp(copy));
		if (!S_ISDIR(st.st_mode))
			return ovl_error(err, ENOTDIR, "container path /%s", ovl_qp(copy));
		close(cur);
		cur = ovl_steal_fd(&next);
		if (slash == NULL)
			break;
		*slash = '/';
		p = slash + 1;
	}
	return ovl_steal_fd(&cur);
}
