/* Feeds: a seccomp profile (OCI linux.seccomp, Docker/containers-common JSON, or a whole
 * config.json) to ovl_json_parse(), ovl_seccomp_load_json() and ovl_seccomp_compile(), with
 * the capability set the last byte picks (none, or CAP_SYS_ADMIN and CAP_SYS_PTRACE kept, or
 * "ALL"). Never installs the filter. */
#include "ovlbox/caps.h"
#include "ovlbox/json.h"
#include "ovlbox/log.h"
#include "ovlbox/seccomp.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	if (!init) {
		/* Unknown system calls and architectures are warnings: not one line per run. */
		ovl_log_init("fuzz", -1, false);
		init = true;
	}
	struct ovl_capset caps = {0};
	const struct ovl_capset *keep = NULL;
	switch (size > 0 ? data[size - 1] % 3 : 0) {
	case 1:
		caps.bits = (1ull << 21) | (1ull << 19); /* CAP_SYS_ADMIN, CAP_SYS_PTRACE */
		keep = &caps;
		break;
	case 2:
		caps.all = true;
		keep = &caps;
		break;
	}
	ovl_error_t err = NULL;
	ovl_json *j = ovl_json_parse((const char *)data, size, &err);
	fuzz_check_error(j ? 0 : -1, &err);
	if (j == NULL)
		return 0;
	struct ovl_seccomp *f = NULL;
	int r = ovl_seccomp_load_json(j, "fuzz", keep, &f, &err);
	fuzz_check_error(r, &err);
	if (r == 0) {
		r = ovl_seccomp_compile(f, &err);
		fuzz_check_error(r, &err);
		if (r == 0 && (ovl_seccomp_insns(f) == 0 || ovl_seccomp_program(f) == NULL))
			abort();
		ovl_seccomp_free(f);
	}
	ovl_json_free(j);
	return 0;
}
