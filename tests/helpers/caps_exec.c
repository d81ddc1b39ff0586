/* caps_exec: drops capabilities the way `ovlbox run` does, then execs a command.
 *
 *   caps_exec [--cap-add CAP]... -- CMD [ARG...]
 *
 * Errors: one line "caps_exec: MESSAGE" on stderr, exit 125; exec failure 126/127. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ovlbox/caps.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/log.h"

int main(int argc, char **argv)
{
	struct ovl_capset keep = {0};
	cleanup_error ovl_error_t err = NULL;
	int i = 1;
	ovl_log_init("caps_exec", -1, false);
	for (; i + 1 < argc && strcmp(argv[i], "--cap-add") == 0; i += 2) {
		if (ovl_capset_add(&keep, argv[i + 1], &err) < 0) {
			ovl_errorf("--cap-add: %s", err->msg);
			return 125;
		}
	}
	if (i + 1 >= argc || strcmp(argv[i], "--") != 0) {
		ovl_errorf("usage: caps_exec [--cap-add CAP]... -- CMD [ARG...]");
		return 2;
	}
	if (ovl_caps_restrict(&keep, &err) < 0) {
		ovl_errorf("%s", err->msg);
		return 125;
	}
	execvp(argv[i + 1], argv + i + 1);
	int e = errno;
	ovl_errorf("%s: %s", argv[i + 1], strerror(e));
	return e == ENOENT ? 127 : 126;
}
