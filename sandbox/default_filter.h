/* `--seccomp default`: the built-in profile (lib/seccomp.c, ovl_seccomp_default), compiled
 * when ovlbox is built. */
#ifndef OVLBOX_SANDBOX_DEFAULT_FILTER_H
#define OVLBOX_SANDBOX_DEFAULT_FILTER_H

#include "ovlbox/seccomp.h"

int default_filter(struct ovl_seccomp **out, ovl_error_t *err);

#endif
