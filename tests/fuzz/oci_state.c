/* Feeds: the OCI state JSON a runtime writes on a hook's stdin, through a memfd, to
 * ovl_oci_state_read(); then looks up the workspace annotation as the hook does and turns it
 * into a rootfs-relative path (ovl_oci_container_path). */
#include <sys/mman.h>

#include "ovlbox/oci.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	if (fd < 0 && (fd = memfd_create("state", MFD_CLOEXEC)) < 0)
		abort();
	if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size) ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();

	struct ovl_oci_state s;
	ovl_error_t err = NULL;
	int r = ovl_oci_state_read(fd, &s, &err);
	fuzz_check_error(r, &err);
	if (r < 0)
		return 0;
	if (s.bundle == NULL || s.bundle[0] != '/' || s.pid < 0 || s.pid > INT32_MAX ||
	    (s.has_pid == false && s.pid != 0))
		abort();
	const char *ws = NULL;
	r = ovl_oci_annotation(NULL, &s, "org.ovlbox.workspace", &ws, &err);
	fuzz_check_error(r, &err);
	if (r > 0) {
		char *rel = NULL;
		r = ovl_oci_container_path(ws, &rel, &err);
		fuzz_check_error(r, &err);
		if (r == 0 && (rel == NULL || rel[0] == '/'))
			abort();
		free(rel);
	}
	ovl_oci_state_free(&s);
	return 0;
}
