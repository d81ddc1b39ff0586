/* The built-in seccomp profile, compiled at build time (see sandbox/gen/seccomp_default.c). */
#include "default_filter.h"
#include "ovlbox/alloc.h"

static const struct sock_filter default_program[] = {
#include "seccomp_default.inc"
};

int default_filter(struct ovl_seccomp **out, ovl_error_t *err)
{
	return ovl_seccomp_from_program(default_program, N_ELEMENTS(default_program), out, err);
}
