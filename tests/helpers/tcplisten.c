/* tcplisten [SECONDS]: a one-shot TCP listener on the host's loopback, for network isolation
 * tests. Binds 127.0.0.1 on a port the kernel picks, prints "PORT\n", accepts ONE connection,
 * copies what it receives to stdout until EOF and exits 0. Gives up after SECONDS (default 60)
 * with exit status 3, so a test that never connects does not leave it behind. Uses only libc. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void timed_out(int sig)
{
	(void)sig;
	_exit(3);
}

int main(int argc, char **argv)
{
	unsigned secs = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 60;
	signal(SIGALRM, timed_out);
	alarm(secs ? secs : 60);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 4) < 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &len) < 0) {
		fprintf(stderr, "tcplisten: %s\n", strerror(errno));
		return 1;
	}
	printf("%u\n", (unsigned)ntohs(sa.sin_port));
	fflush(stdout);
	int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0) {
		fprintf(stderr, "tcplisten: accept: %s\n", strerror(errno));
		return 1;
	}
	char buf[4096];
	ssize_t n;
	while ((n = read(c, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return 1;
	fflush(stdout);
	return n < 0 ? 1 : 0;
}
