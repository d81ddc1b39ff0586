/* The journal reader's limits: a line or a file over them is refused as damaged, with one line
 * naming the limit; a journal at the limits' side of them still reads. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ovlbox/journal.h"

static char dir_path[] = "/tmp/ovlbox-journal-test.XXXXXX";

static void put(int dir, const char *text, size_t len)
{
	int fd = openat(dir, OVL_JOURNAL_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		abort();
	close(fd);
}

static char *read_error(int dir)
{
	struct ovl_plan p;
	ovl_error_t err = NULL;
	int r = ovl_journal_read(dir, &p, &err);
	if (r >= 0) {
		ovl_plan_free(&p);
		return NULL;
	}
	char *msg = strdup(err->msg);
	ovl_error_free(&err);
	return msg;
}

static void long_line(int dir)
{
	const char *head = "ovlbox-journal 1 trusted\nU ";
	size_t n = strlen(head) + OVL_JOURNAL_LINE_MAX + 16;
	char *text = malloc(n);
	memcpy(text, head, strlen(head));
	memset(text + strlen(head), 'a', n - strlen(head));
	put(dir, text, n);
	free(text);
	char *msg = read_error(dir);
	CHECK(msg && strcmp(msg, "journal ovlbox-journal is damaged at line 2: longer than 4194304 "
				 "bytes") == 0,
	      "long line: %s", msg ? msg : "(accepted)");
	free(msg);
}

static void large_file(int dir)
{
	int fd = openat(dir, OVL_JOURNAL_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	/* sparse: no blocks are written */
	if (fd < 0 || ftruncate(fd, (off_t)OVL_JOURNAL_FILE_MAX + 1) < 0)
		abort();
	close(fd);
	char *msg = read_error(dir);
	CHECK(msg && strcmp(msg,
			    "journal ovlbox-journal is damaged: larger than 1073741824 bytes") == 0,
	      "large file: %s", msg ? msg : "(accepted)");
	free(msg);
}

static void nul_byte(int dir)
{
	static const char text[] = "ovlbox-journal 1 trusted\nU a\0b\nend 1\n";
	put(dir, text, sizeof(text) - 1);
	char *msg = read_error(dir);
	CHECK(msg && strcmp(msg, "journal ovlbox-journal is damaged at line 2") == 0, "NUL: %s",
	      msg ? msg : "(accepted)");
	free(msg);
}

int main(void)
{
	int dir = check_scratch_dir(dir_path);
	long_line(dir);
	large_file(dir);
	nul_byte(dir);
	unlinkat(dir, OVL_JOURNAL_NAME, 0);
	close(dir);
	rmdir(dir_path);
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
