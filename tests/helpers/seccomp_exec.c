/* seccomp_exec: installs a seccomp filter the way `ovlbox run` does, then execs a command.
 *
 *   seccomp_exec [--cap-add CAP]... PROFILE|default|none -- CMD [ARG...]
 *   seccomp_exec [--cap-add CAP]... --insns PROFILE|default   prints the BPF instruction count
 *   seccomp_exec [--cap-add CAP]... --pfc PROFILE|default     prints libseccomp's pseudo code
 *
 * --cap-add only feeds the profile's includes/excludes.caps; capabilities are not changed.
 * Errors: one line "seccomp_exec: MESSAGE" on stderr, exit 125; exec failure 126/127. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ovlbox/caps.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/log.h"
#include "ovlbox/seccomp.h"

static int usage(void)
{
	fputs("usage: seccomp_exec [--cap-add CAP]... [--insns|--pfc] PROFILE|default|none "
	      "[-- CMD [ARG...]]\n",
	      stderr);
	return 2;
}

static void seccomp_freep(struct ovl_seccomp **f)
{
	ovl_seccomp_free(*f);
}

int main(int argc, char **argv)
{
	struct ovl_capset keep = {0};
	cleanup_error ovl_error_t err = NULL;
	bool insns = false, pfc = false;
	int i = 1;
	ovl_log_init("seccomp_exec", -1, false);
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--cap-add") == 0 && i + 1 < argc) {
			if (ovl_capset_add(&keep, argv[++i], &err) < 0) {
				ovl_errorf("--cap-add: %s", err->msg);
				return 125;
			}
		} else if (strcmp(argv[i], "--insns") == 0) {
			insns = true;
		} else if (strcmp(argv[i], "--pfc") == 0) {
			pfc = true;
		} else {
			break;
		}
	}
	if (i >= argc)
		return usage();
	const char *profile = argv[i++];
	bool run = i < argc && strcmp(argv[i], "--") == 0 && i + 1 < argc;
	if (run == (insns || pfc))
		return usage();

	__attribute__((cleanup(seccomp_freep))) struct ovl_seccomp *f = NULL;
	if (ovl_seccomp_from_arg(profile, &keep, &f, &err) < 0 ||
	    (f && ovl_seccomp_compile(f, &err) < 0)) {
		ovl_errorf("%s", err->msg);
		return 125;
	}
	if (insns) {
		printf("%zu\n", ovl_seccomp_insns(f));
		return 0;
	}
	if (pfc) {
		fflush(stdout);
		if (f && ovl_seccomp_export_pfc(f, STDOUT_FILENO, &err) < 0) {
			ovl_errorf("%s", err->msg);
			return 125;
		}
		return 0;
	}
	if (f && ovl_seccomp_install(f, &err) < 0) {
		ovl_errorf("%s", err->msg);
		return 125;
	}
	execvp(argv[i + 1], argv + i + 1);
	int e = errno;
	ovl_errorf("%s: %s", argv[i + 1], strerror(e));
	return e == ENOENT ? 127 : 126;
}
