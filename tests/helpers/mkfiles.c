/* mkfiles DIR NDIRS NFILES: creates DIR/dNNNN/fNNNNN (NDIRS dirs of NFILES files each); each file
 * holds its own relative path and a newline. Fast set-up of large workspaces; only libc. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fputs("usage: mkfiles DIR NDIRS NFILES\n", stderr);
		return 2;
	}
	long nd = strtol(argv[2], NULL, 10), nf = strtol(argv[3], NULL, 10);
	int top = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0) {
		fprintf(stderr, "mkfiles: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (long d = 0; d < nd; d++) {
		char dn[32];
		snprintf(dn, sizeof(dn), "d%04ld", d);
		if (mkdirat(top, dn, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "mkfiles: mkdir %s: %s\n", dn, strerror(errno));
			return 1;
		}
		int dfd = openat(top, dn, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0) {
			fprintf(stderr, "mkfiles: open %s: %s\n", dn, strerror(errno));
			return 1;
		}
		for (long f = 0; f < nf; f++) {
			char fn[32], content[64];
			snprintf(fn, sizeof(fn), "f%05ld", f);
			int len = snprintf(content, sizeof(content), "%s/%s\n", dn, fn);
			int fd = openat(
			    dfd, fn, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (fd < 0 || write(fd, content, (size_t)len) != len || close(fd) < 0) {
				fprintf(stderr, "mkfiles: %s/%s: %s\n", dn, fn, strerror(errno));
				return 1;
			}
		}
		close(dfd);
	}
	close(top);
	return 0;
}
