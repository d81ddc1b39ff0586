/* noophook: an OCI hook that does nothing (reads the state to its end, exits 0), linked static
 * like ovlbox-hook. bench/hook.sh and bench/startup.sh run it at the hook's stages as the
 * reference for what the runtime itself spends on running two hooks: `/bin/true`, dynamically
 * linked, adds its own ~0.5 ms of loading to each. */
#include <errno.h>
#include <unistd.h>

int main(void)
{
	char buf[4096];
	ssize_t n;
	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0)
		if (n < 0 && errno != EINTR)
			return 1;
	return 0;
}
