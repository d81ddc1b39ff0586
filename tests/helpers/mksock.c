/* mksock PATH...: creates a unix socket file at each PATH (bind, then close: the file stays).
 * Uses only libc. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs("usage: mksock PATH...\n", stderr);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		if (strlen(argv[i]) >= sizeof(sa.sun_path)) {
			fprintf(stderr, "mksock: %s: path too long for a unix socket\n", argv[i]);
			return 1;
		}
		strcpy(sa.sun_path, argv[i]);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fprintf(stderr, "mksock: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		close(fd);
	}
	return 0;
}
