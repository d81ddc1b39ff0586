/* Messages' renderings: ovl_qp gives each use its own buffer and renders, never quotes;
 * ovl_shell_quote gives one shell word a shell reads back as the path; a reason survives wraps. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/error.h"

static void renders_many_in_one_message(void)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "%s %s %s %s %s %s", ovl_qp("a"), ovl_qp("b"), ovl_qp("c"),
		 ovl_qp("d"), ovl_qp("e"), ovl_qp("f"));
	CHECK(!strcmp(msg, "a b c d e f"), "six renderings in one message: %s", msg);
	CHECK(!strcmp(ovl_qp("new\nline\\"), "new\\x0aline\\\\"), "escapes: %s",
	      ovl_qp("new\nline\\"));
	CHECK(!strcmp(ovl_qp("a b"), "a b"), "a space is kept (rendered, not quoted)");
	CHECK(!strcmp(ovl_qp(""), ".") && !strcmp(ovl_qp(NULL), "(null)"), "empty and NULL");
}

static void truncates_long_renderings(void)
{
	char *long_path = malloc(2000);
	memset(long_path, 'x', 1999);
	long_path[1999] = '\0';
	const char *q = ovl_qp(long_path);
	CHECK(strlen(q) == OVL_QP_SIZE - 1 && !strcmp(q + strlen(q) - 3, "..."),
	      "a long path ends in ... within the buffer: %zu", strlen(q));
	memset(long_path, '\n', 1999);
	q = ovl_qp(long_path);
	CHECK(strlen(q) < OVL_QP_SIZE && !strcmp(q + strlen(q) - 3, "...") &&
		  !strncmp(q, "\\x0a\\x0a", 8),
	      "escapes are not cut in half: %zu", strlen(q));
	free(long_path);
}

static void shell_quotes(const char *in, const char *want)
{
	cleanup_free char *got = ovl_shell_quote(in);
	CHECK(!strcmp(got, want), "shell word of [%s]: got [%s], want [%s]", ovl_qp(in), got, want);
}

/* The word, read back by bash (a script file: popen's own shell is sh), is the path itself. */
static void shell_reads_back(const char *in)
{
	cleanup_free char *word = ovl_shell_quote(in);
	char script[] = "/tmp/ovlbox-error-test.XXXXXX";
	int fd = mkstemp(script);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	CHECK(f != NULL, "temporary script");
	if (f == NULL)
		return;
	fprintf(f, "printf %%s %s\n", word);
	fclose(f);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "bash %s", script);
	FILE *p = popen(cmd, "r");
	char out[256] = {0};
	size_t n = p ? fread(out, 1, sizeof(out) - 1, p) : 0;
	CHECK(p && pclose(p) == 0 && n == strlen(in) && !memcmp(out, in, n),
	      "bash reads [%s] back as [%s]", word, ovl_qp(out));
	unlink(script);
}

static void quotes_for_shell(void)
{
	shell_quotes("/ws/plain-dir_1.x", "/ws/plain-dir_1.x");
	shell_quotes("/ws/with space", "'/ws/with space'");
	shell_quotes("/ws/it's", "'/ws/it'\\''s'");
	shell_quotes("/ws/$HOME;`id`", "'/ws/$HOME;`id`'");
	shell_quotes("/ws/new\nline", "$'/ws/new\\x0aline'");
	shell_quotes("/ws/a'b\\\x01", "$'/ws/a\\'b\\\\\\x01'");
	shell_quotes("", "''");
	shell_reads_back("/ws/with space");
	shell_reads_back("/ws/it's");
	shell_reads_back("/ws/$HOME;`id` *");
	shell_reads_back("/ws/new\nline\t'\\\xc3\xa9");
}

static int fails(ovl_error_t *err)
{
	ovl_error(err, 5, "inner");
	return ovl_error_set_reason(err, OVL_REASON_JOURNAL_KEPT);
}

static void reason_survives_wraps(void)
{
	cleanup_error ovl_error_t err = NULL;
	fails(&err);
	ovl_error_wrap(&err, "outer");
	CHECK(ovl_error_reason(err) == OVL_REASON_JOURNAL_KEPT && ovl_error_errno(err) == 5,
	      "reason and errno kept through a wrap");
	CHECK(!strcmp(err->msg, "outer: inner: Input/output error"), "message: %s", err->msg);
	ovl_error_append(&err, "; then %s", "this");
	CHECK(!strcmp(err->msg, "outer: inner: Input/output error; then this") &&
		  ovl_error_reason(err) == OVL_REASON_JOURNAL_KEPT && ovl_error_errno(err) == 5,
	      "appended, reason and errno kept: %s", err->msg);
	ovl_error(&err, 0, "replaced");
	CHECK(ovl_error_reason(err) == OVL_REASON_NONE, "a new error has no reason");
	CHECK(ovl_error_reason(NULL) == OVL_REASON_NONE, "no error, no reason");
}

int main(void)
{
	renders_many_in_one_message();
	truncates_long_renderings();
	quotes_for_shell();
	reason_survives_wraps();
	printf("error_test: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
