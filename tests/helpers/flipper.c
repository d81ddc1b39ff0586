/* flipper DIR A B: exchanges DIR/A and DIR/B (renameat2 RENAME_EXCHANGE) in a loop until killed,
 * as an attacker racing a path walk would: one of the two names is a directory, the other a
 * symlink to elsewhere. Prints "ready" once it has flipped once. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: flipper DIR A B\n");
		return 2;
	}
	int dir = open(argv[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0) {
		perror(argv[1]);
		return 1;
	}
	for (unsigned long n = 0;; n++) {
		if (renameat2(dir, argv[2], dir, argv[3], RENAME_EXCHANGE) < 0) {
			perror("renameat2");
			return 1;
		}
		if (n == 0) {
			puts("ready");
			fflush(stdout);
		}
	}
}
