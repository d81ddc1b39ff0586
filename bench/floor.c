/* floor: the syscall floor of an apply. Walks an upper layer and makes the same changes to the
 * workspace that any apply must make, with nothing else: no plan, no journal, no metadata.
 *
 *   whiteout (char 0/0)               unlink the workspace entry, then the whiteout
 *   dir the workspace also has        recurse, then rmdir the emptied upper dir
 *   dir the workspace lacks           rename it in whole
 *   anything else                     rename it over the workspace name
 *
 * then syncfs(), as a durable apply must. Directory fds and *at() calls throughout.
 *
 *   floor UPPER WORKSPACE
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void die(const char *what, const char *name)
{
	fprintf(stderr, "floor: %s %s: %s\n", what, name, strerror(errno));
	exit(1);
}

static void apply_dir(int up, int lo)
{
	/* Names first: changing a directory while reading it may skip entries. */
	DIR *d = fdopendir(dup(up));
	if (!d)
		die("opendir", "(upper)");
	size_t n = 0, cap = 0;
	char **names = NULL;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = realloc(names, cap * sizeof(*names));
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);

	for (size_t i = 0; i < n; i++) {
		const char *name = names[i];
		struct stat st, lst;
		if (fstatat(up, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			die("stat", name);
		if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
			if (unlinkat(lo, name, 0) < 0 && errno != ENOENT)
				die("unlink", name);
			if (unlinkat(up, name, 0) < 0)
				die("unlink whiteout", name);
		} else if (S_ISDIR(st.st_mode) &&
			   fstatat(lo, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
			   S_ISDIR(lst.st_mode)) {
			int u = openat(up, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int l = openat(lo, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (u < 0 || l < 0)
				die("open dir", name);
			apply_dir(u, l);
			close(u);
			close(l);
			if (unlinkat(up, name, AT_REMOVEDIR) < 0)
				die("rmdir", name);
		} else if (renameat(up, name, lo, name) < 0) {
			die("rename", name);
		}
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fputs("usage: floor UPPER WORKSPACE\n", stderr);
		return 2;
	}
	int up = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int lo = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (up < 0 || lo < 0)
		die("open", up < 0 ? argv[1] : argv[2]);
	apply_dir(up, lo);
	if (syncfs(lo) < 0)
		die("syncfs", argv[2]);
	return 0;
}
