/* Feeds: the layer set's mark (read back from a work dir that lies on the host, by poststop and
 * `ovlbox apply`) to ovl_mark_parse(). A damaged mark must be refused with a one-line error; a
 * mark it accepts must format and parse back the same. */
#include <string.h>

#include "ovlbox/mark.h"
#include "fuzz.h"

static bool same_mark(const struct ovl_mark *a, const struct ovl_mark *b)
{
	return strcmp(a->id, b->id) == 0 && a->legacy == b->legacy &&
	       memcmp(&a->workspace, &b->workspace, sizeof(a->workspace)) == 0 &&
	       memcmp(&a->upper, &b->upper, sizeof(a->upper)) == 0 &&
	       memcmp(&a->work, &b->work, sizeof(a->work)) == 0 && a->on_exit == b->on_exit &&
	       a->mounted == b->mounted && a->init.pid == b->init.pid &&
	       a->init.starttime == b->init.starttime &&
	       strcmp(a->init.boot_id, b->init.boot_id) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ovl_mark m, again;
	ovl_error_t err = NULL;
	int r = ovl_mark_parse((const char *)data, size, &m, &err);
	fuzz_check_error(r, &err);
	if (r < 0 || m.legacy)
		return 0;
	char text[OVL_MARK_MAX];
	size_t n = ovl_mark_format(&m, text);
	if (ovl_mark_parse(text, n, &again, &err) < 0 || !same_mark(&m, &again))
		abort();
	return 0;
}
