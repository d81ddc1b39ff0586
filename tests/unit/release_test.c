/* Unit tests of lib/release.c and ovl_remove_tree_release_at(): removed directories handed over
 * are gone by name at once, stay allocated while held, and are freed after ovl_release_all()
 * (by the kernel, within seconds) with every fd closed; batches beyond OVL_RELEASE_BATCH and a
 * batch io_uring refuses (an O_PATH fd) are released too. Counts inodes on a private tmpfs
 * (statfs f_ffree is exact there). Prints each failure; exit 0 only when every check passed. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/release.h"
#include "check.h"

static const char *root;

static long long free_inodes(void)
{
	struct statfs s;
	if (statfs(root, &s) < 0) {
		printf("FAIL statfs %s: %s\n", root, strerror(errno));
		exit(1);
	}
	return (long long)s.f_ffree;
}

/* Waits up to 5 s for the tmpfs to have `want` free inodes again; returns the last count. */
static long long wait_free_inodes(long long want)
{
	long long got = free_inodes();
	for (int i = 0; i < 500 && got != want; i++) {
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
		got = free_inodes();
	}
	return got;
}

static bool is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* n directories made, opened with flags (the first one with first_flags), removed and held. */
static void hold_removed(struct ovl_release *r, int dfd, int n, int first_flags, int flags,
			 int *fds)
{
	for (int i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "d%d", i);
		if (mkdirat(dfd, name, 0700) < 0) {
			printf("FAIL mkdir %s: %s\n", name, strerror(errno));
			exit(1);
		}
		fds[i] = openat(dfd, name, (i ? flags : first_flags) | O_DIRECTORY | O_CLOEXEC);
		CHECK(fds[i] >= 0, "open %s: %s", name, strerror(errno));
		CHECK(unlinkat(dfd, name, AT_REMOVEDIR) == 0, "rmdir %s: %s", name,
		      strerror(errno));
		ovl_release_hold(r, fds[i]);
	}
}

/* More than a batch: the earlier batches are released on the way, all of them by the end. */
static void test_batches(int dfd)
{
	enum { N = 2 * OVL_RELEASE_BATCH + 3 };
	int fds[N];
	long long before = free_inodes();
	struct ovl_release r = OVL_RELEASE_INIT;
	hold_removed(&r, dfd, N, O_RDONLY, O_RDONLY, fds);
	CHECK(r.n == 3, "held after %d: %u, want 3", N, r.n);
	CHECK(is_open(fds[N - 1]), "the last batch's fds are still open");
	/* The last batch is held: those 3 inodes cannot have been freed yet. */
	CHECK(free_inodes() <= before - 3, "held dirs freed early: %lld free, %lld before",
	      free_inodes(), before);
	ovl_release_all(&r);
	CHECK(r.n == 0, "held after release: %u", r.n);
	for (int i = 0; i < N; i++)
		CHECK(!is_open(fds[i]), "fd %d of dir %d still open", fds[i], i);
	long long after = wait_free_inodes(before);
	CHECK(after == before, "free inodes %lld, want %lld again: removed dirs never freed", after,
	      before);
	ovl_release_all(&r); /* empty: a no-op */
}

/* io_uring refuses O_PATH: that batch is closed in the caller, so freed at once. */
static void test_refused_batch(int dfd)
{
	int fds[3];
	long long before = free_inodes();
	struct ovl_release r = OVL_RELEASE_INIT;
	hold_removed(&r, dfd, 3, O_PATH, O_RDONLY, fds);
	ovl_release_all(&r);
	for (int i = 0; i < 3; i++)
		CHECK(!is_open(fds[i]), "fd %d still open", fds[i]);
	CHECK(free_inodes() == before, "refused batch: free inodes %lld, want %lld", free_inodes(),
	      before);
}

/* A tree: gone by name on return, its dirs freed after the release. */
static void test_remove_tree(int dfd)
{
	long long before = free_inodes();
	if (mkdirat(dfd, "t", 0755) < 0 || mkdirat(dfd, "t/a", 0755) < 0 ||
	    mkdirat(dfd, "t/a/b", 0700) < 0 || mkdirat(dfd, "t/c", 0000) < 0) {
		printf("FAIL mkdir t: %s\n", strerror(errno));
		exit(1);
	}
	int f = openat(dfd, "t/a/b/f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CHECK(f >= 0 && write(f, "x", 1) == 1, "create t/a/b/f");
	close(f);
	CHECK(symlinkat("/", dfd, "t/a/l") == 0, "symlink t/a/l");
	struct ovl_release r = OVL_RELEASE_INIT;
	cleanup_error ovl_error_t err = NULL;
	CHECK(ovl_remove_tree_release_at(dfd, "t", &r, &err) == 0, "remove t: %s",
	      err ? err->msg : "");
	struct stat st;
	CHECK(fstatat(dfd, "t", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT,
	      "t still there after removal");
	CHECK(r.n == 4, "dirs held: %u, want 4 (t, t/a, t/a/b, t/c)", r.n);
	ovl_release_all(&r);
	long long after = wait_free_inodes(before);
	CHECK(after == before, "tree: free inodes %lld, want %lld", after, before);
	CHECK(ovl_remove_tree_release_at(dfd, "t", &r, &err) == 0 && r.n == 0,
	      "removing a missing tree is success and holds nothing");
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Not root: a user namespace of our own, where we are root over the mounts we make. */
static int map_to_root_in_userns(void)
{
	char uid[32], gid[32];
	snprintf(uid, sizeof(uid), "0 %u 1", (unsigned)getuid());
	snprintf(gid, sizeof(gid), "0 %u 1", (unsigned)getgid());
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return -1;
	if (write_file("/proc/self/uid_map", uid) < 0 ||
	    write_file("/proc/self/setgroups", "deny") < 0 ||
	    write_file("/proc/self/gid_map", gid) < 0)
		return -1;
	return 0;
}

int main(void)
{
	char tmpl[] = "/tmp/ovlbox-release-test.XXXXXX";
	root = mkdtemp(tmpl);
	if (root == NULL) {
		printf("FAIL mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	/* A private tmpfs: its inode count is exact and nobody else's. */
	if (unshare(CLONE_NEWNS) < 0 && map_to_root_in_userns() < 0) {
		printf("FAIL unshare a mount namespace: %s\n", strerror(errno));
		return 1;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", root, "tmpfs", 0, "nr_inodes=1000") < 0) {
		printf("FAIL mount tmpfs on %s: %s\n", root, strerror(errno));
		return 1;
	}
	int dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		printf("FAIL open %s: %s\n", root, strerror(errno));
		return 1;
	}
	test_batches(dfd);
	test_refused_batch(dfd);
	test_remove_tree(dfd);
	close(dfd);
	umount2(root, MNT_DETACH);
	rmdir(root);
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
