/* ovl_replace_file: the new bytes arrive in a new inode (a hard link to the old file keeps the
 * old bytes), a stale temporary is never written through, and a failure names its step and
 * leaves no temporary behind. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ovlbox/alloc.h"
#include "ovlbox/fs.h"

static char dir_path[] = "/tmp/ovlbox-fs-test.XXXXXX";

static void put(int dir, const char *name, const char *text, mode_t mode)
{
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    fchmod(fd, mode) < 0)
		abort();
	close(fd);
}

/* The file's bytes as a string ("" if missing or unreadable). */
static const char *bytes(int dir, const char *name)
{
	static char buf[256];
	buf[0] = '\0';
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return buf;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

static bool exists(int dir, const char *name)
{
	struct stat st;
	return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static mode_t mode_of(int dir, const char *name)
{
	struct stat st;
	return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_mode & 07777 : 0;
}

static void replaces_in_a_new_inode(int dir)
{
	put(dir, "f", "old\n", 0644);
	if (linkat(dir, "f", dir, "link", 0) < 0)
		abort();
	struct ovl_replace how = {.tmp = "f.tmp", .mode = 0600, .sync = true};
	ovl_error_t err = NULL;
	int r = ovl_replace_file(dir, "f", &how, "new\n", 4, &err);
	CHECK(r == 0, "replace: %s", err ? err->msg : "");
	CHECK(strcmp(bytes(dir, "f"), "new\n") == 0, "new bytes: %s", bytes(dir, "f"));
	CHECK(strcmp(bytes(dir, "link"), "old\n") == 0, "the old inode: %s", bytes(dir, "link"));
	CHECK(mode_of(dir, "f") == 0600, "mode %o", mode_of(dir, "f"));
	CHECK(!exists(dir, "f.tmp"), "the temporary is gone");
	ovl_error_free(&err);
	unlinkat(dir, "link", 0);
}

static void takes_the_old_files_mode(int dir)
{
	/* bits the umask would take, and as root another owner: only fchmod/fchown keep them */
	put(dir, "g", "old\n", 0666);
	if (geteuid() == 0 && fchownat(dir, "g", 1, 1, 0) < 0)
		abort();
	struct stat st;
	if (fstatat(dir, "g", &st, 0) < 0)
		abort();
	struct ovl_replace how = {.tmp = "g.tmp", .mode = 0600, .like = &st};
	ovl_error_t err = NULL;
	CHECK(ovl_replace_file(dir, "g", &how, "x", 1, &err) == 0, "like: %s", err ? err->msg : "");
	struct stat now;
	CHECK(fstatat(dir, "g", &now, 0) == 0 && (now.st_mode & 07777) == 0666 &&
		  now.st_uid == st.st_uid && now.st_gid == st.st_gid,
	      "mode %o uid %u gid %u", now.st_mode & 07777, now.st_uid, now.st_gid);
	ovl_error_free(&err);
}

/* A temporary left by a crash, here a symlink to a file of somebody else's: removed, never
 * followed. */
static void a_stale_temporary_is_not_written_through(int dir)
{
	put(dir, "victim", "keep\n", 0644);
	if (symlinkat("victim", dir, "h.tmp") < 0)
		abort();
	struct ovl_replace how = {.tmp = "h.tmp", .mode = 0644};
	ovl_error_t err = NULL;
	CHECK(ovl_replace_file(dir, "h", &how, "h\n", 2, &err) == 0, "stale: %s",
	      err ? err->msg : "");
	CHECK(strcmp(bytes(dir, "victim"), "keep\n") == 0, "victim: %s", bytes(dir, "victim"));
	CHECK(strcmp(bytes(dir, "h"), "h\n") == 0, "h: %s", bytes(dir, "h"));
	ovl_error_free(&err);
}

static void failures_name_the_step(int dir)
{
	if (mkdirat(dir, "d", 0755) < 0 || mkdirat(dir, "d/sub", 0755) < 0)
		abort();
	struct ovl_replace how = {.tmp = "d.tmp", .mode = 0644};
	ovl_error_t err = NULL;
	CHECK(ovl_replace_file(dir, "d", &how, "x", 1, &err) < 0 && err &&
		  strcmp(err->msg, "rename d.tmp: Is a directory") == 0,
	      "rename over a directory: %s", err ? err->msg : "(accepted)");
	CHECK(!exists(dir, "d.tmp"), "the temporary is removed");
	CHECK(exists(dir, "d/sub"), "the directory is untouched");
	ovl_error_free(&err);

	/* a stale temporary that cannot be removed (a directory) is named as such */
	how.tmp = "d";
	CHECK(ovl_replace_file(dir, "e", &how, "x", 1, &err) < 0 && err &&
		  strcmp(err->msg, "remove the stale d: Is a directory") == 0,
	      "stale directory: %s", err ? err->msg : "(accepted)");
	ovl_error_free(&err);

	how.tmp = "nosuch/x";
	CHECK(ovl_replace_file(dir, "e", &how, "x", 1, &err) < 0 && err &&
		  strcmp(err->msg, "create nosuch/x: No such file or directory") == 0,
	      "create: %s", err ? err->msg : "(accepted)");
	CHECK(!exists(dir, "e"), "nothing made");
	ovl_error_free(&err);
	unlinkat(dir, "d/sub", AT_REMOVEDIR);
	unlinkat(dir, "d", AT_REMOVEDIR);
}

int main(void)
{
	umask(022);
	int dir = check_scratch_dir(dir_path);
	replaces_in_a_new_inode(dir);
	takes_the_old_files_mode(dir);
	a_stale_temporary_is_not_written_through(dir);
	failures_name_the_step(dir);
	const char *made[] = {"f", "g", "h", "victim"};
	for (size_t i = 0; i < N_ELEMENTS(made); i++)
		unlinkat(dir, made[i], 0);
	close(dir);
	rmdir(dir_path);
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
