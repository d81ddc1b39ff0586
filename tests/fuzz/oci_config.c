/* Feeds: a bundle's config.json, written to a scratch bundle dir, to ovl_oci_config_load();
 * then what the hook reads of it: the workspace annotation (org.ovlbox.workspace, else "/work"),
 * its mount (ovl_oci_find_mount) and the rootfs-relative path (ovl_oci_container_path), and the
 * on-exit, upperdir and workdir annotations, alone and as the request (ovl_oci_request_read). */
#include "ovlbox/oci.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char bundle[128];
	int dirfd = fuzz_scratch_dir("config.json");
	if (bundle[0] == '\0')
		snprintf(bundle, sizeof(bundle), "%s", fuzz_dir);
	fuzz_write(dirfd, "config.json", data, size);

	struct ovl_oci_config c;
	ovl_error_t err = NULL;
	int r = ovl_oci_config_load(bundle, &c, &err);
	fuzz_check_error(r, &err);
	if (r < 0)
		return 0;
	if (c.rootfs == NULL || c.rootfs[0] != '/')
		abort();
	static const char *const keys[] = {"org.ovlbox.on-exit", "org.ovlbox.upperdir",
					   "org.ovlbox.workdir"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v;
		fuzz_check_error(ovl_oci_annotation(&c, NULL, keys[i], &v, &err), &err);
	}
	const char *ws = NULL;
	r = ovl_oci_annotation(&c, NULL, "org.ovlbox.workspace", &ws, &err);
	fuzz_check_error(r, &err);
	if (r <= 0)
		ws = "/work";
	char *rel = NULL;
	r = ovl_oci_container_path(ws, &rel, &err);
	fuzz_check_error(r, &err);
	free(rel);
	rel = NULL;
	r = ovl_oci_workspace_path(ws, "annotation org.ovlbox.workspace", &rel, &err);
	fuzz_check_error(r, &err);
	if (r == 0 && (rel == NULL || rel[0] == '\0'))
		abort();
	free(rel);
	struct ovl_oci_request q;
	r = ovl_oci_request_read(&c, NULL, &q, &err);
	fuzz_check_error(r, &err);
	if (r == 0 && ((q.upperdir && q.upperdir[0] != '/') || (q.workdir && q.workdir[0] != '/')))
		abort();
	struct ovl_oci_mount m;
	r = ovl_oci_find_mount(&c, ws, &m, &err);
	fuzz_check_error(r, &err);
	if (r > 0 && (m.destination == NULL || m.index >= 1u << 30))
		abort();
	ovl_oci_config_free(&c);
	return 0;
}
