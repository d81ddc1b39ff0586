/* Feeds: the apply journal (crash-recovery input), written as OVL_JOURNAL_NAME in a scratch
 * work dir, to ovl_journal_read(). A torn or damaged journal must be refused with an error:
 * every step it returns must be one ovl_journal_write() can produce, with a clean relative
 * path; and what it returns must write back and read back the same. */
#include <stdbool.h>

#include "ovlbox/fs.h"
#include "ovlbox/journal.h"
#include "fuzz.h"

static bool same_step(const struct ovl_step *a, const struct ovl_step *b)
{
	return a->op == b->op && strcmp(a->path, b->path) == 0 &&
	       (a->name == NULL) == (b->name == NULL) &&
	       (a->name == NULL || strcmp(a->name, b->name) == 0) && a->mode == b->mode &&
	       a->uid == b->uid && a->gid == b->gid && a->atime.tv_sec == b->atime.tv_sec &&
	       a->atime.tv_nsec == b->atime.tv_nsec && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec && a->flags == b->flags &&
	       a->is_dir == b->is_dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int dirfd = fuzz_scratch_dir(OVL_JOURNAL_NAME);
	fuzz_write(dirfd, OVL_JOURNAL_NAME, data, size);

	struct ovl_plan p, q;
	ovl_error_t err = NULL;
	int r = ovl_journal_read(dirfd, &p, &err);
	fuzz_check_error(r, &err);
	if (r <= 0)
		return 0;
	for (size_t i = 0; i < p.n; i++) {
		const struct ovl_step *s = &p.steps[i];
		if (s->path == NULL || (s->path[0] != '\0' && !ovl_path_is_clean_relative(s->path)))
			abort();
		if ((s->op == OVL_STEP_XATTR_STRIP) != (s->name != NULL))
			abort();
	}
	/* The round trip: written again, it reads back the same plan. */
	if (ovl_journal_write(dirfd, &p, &err) < 0)
		abort();
	r = ovl_journal_read(dirfd, &q, &err);
	fuzz_check_error(r, &err);
	if (r != 1 || q.n != p.n || q.userxattr != p.userxattr)
		abort();
	for (size_t i = 0; i < p.n; i++)
		if (!same_step(&p.steps[i], &q.steps[i]))
			abort();
	ovl_plan_free(&p);
	ovl_plan_free(&q);
	return 0;
}
