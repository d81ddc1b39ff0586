/* deeptree: makes (or extends) a chain of directories far deeper than PATH_MAX allows to name.
 *
 * Usage: deeptree DIR NAME LEVELS [FILE]
 *
 * Creates DIR/NAME/NAME/... (LEVELS directories, each named NAME, mode 0755; existing ones are
 * entered as they are) and, with FILE, a file FILE holding "bottom\n" in the deepest one. Walks
 * by directory fds, one open at a time, so neither the path length nor the fd limit matters.
 * Exit status 0, or 1 with a message on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what, long level)
{
	fprintf(stderr, "deeptree: %s at level %ld: %s\n", what, level, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5) {
		fputs("usage: deeptree DIR NAME LEVELS [FILE]\n", stderr);
		return 2;
	}
	const char *name = argv[2];
	char *end;
	long levels = strtol(argv[3], &end, 10);
	if (*end != '\0' || levels < 1) {
		fputs("deeptree: LEVELS must be a positive number\n", stderr);
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail("open DIR", 0);
	for (long i = 1; i <= levels; i++) {
		if (mkdirat(fd, name, 0755) < 0 && errno != EEXIST)
			return fail("mkdir", i);
		int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return fail("open", i);
		close(fd);
		fd = next;
	}
	if (argc == 5) {
		int f = openat(fd, argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			       0644);
		if (f < 0 || write(f, "bottom\n", 7) != 7 || close(f) < 0)
			return fail("write FILE", levels);
	}
	close(fd);
	return 0;
}
