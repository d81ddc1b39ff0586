/* The output handler: every diagnostic reaches the handler the front-end set, with its level, as
 * one line; info lines are not even formatted unless wanted; the usual handler writes stderr and
 * a timestamped log file. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ovlbox/log.h"

struct seen {
	int n;
	enum ovl_log_level level[8];
	char msg[8][128];
};

static void capture(enum ovl_log_level level, const char *msg, void *data)
{
	struct seen *s = data;
	if (s->n < 8) {
		s->level[s->n] = level;
		snprintf(s->msg[s->n], sizeof(s->msg[0]), "%s", msg);
		s->n++;
	}
}

static int formatted;

static const char *counted(void)
{
	formatted++;
	return "x";
}

static void custom_handler(void)
{
	struct seen s = {0};
	ovl_log_set_handler(capture, false, &s);
	ovl_errorf("e %d", 1);
	ovl_warn("w\nsecond line");
	ovl_info("i %s", counted());
	CHECK(s.n == 2, "lines: %d", s.n);
	CHECK(s.level[0] == OVL_LOG_ERROR && strcmp(s.msg[0], "e 1") == 0, "error: %s", s.msg[0]);
	CHECK(s.level[1] == OVL_LOG_WARNING && strcmp(s.msg[1], "w") == 0, "warning: %s", s.msg[1]);
	CHECK(formatted == 0, "info arguments computed: %d", formatted);
	ovl_log_set_handler(capture, true, &s);
	ovl_info("i %s", counted());
	CHECK(s.n == 3 && s.level[2] == OVL_LOG_INFO && strcmp(s.msg[2], "i x") == 0, "info: %d %s",
	      s.n, s.msg[2]);
	ovl_log_set_handler(NULL, true, NULL);
	ovl_warn("dropped"); /* no handler: nothing, and no crash */
}

static void usual_handler(void)
{
	int p[2];
	if (pipe(p) < 0)
		abort();
	int saved = dup(STDERR_FILENO);
	int q[2];
	if (pipe(q) < 0 || dup2(q[1], STDERR_FILENO) < 0)
		abort();
	ovl_log_init("prog", p[1], false);
	ovl_info("quiet %d", 2);
	ovl_warn("loud");
	dup2(saved, STDERR_FILENO);
	close(p[1]);
	close(q[1]);
	char file[512] = "", err[512] = "";
	ssize_t n = read(p[0], file, sizeof(file) - 1);
	file[n > 0 ? n : 0] = '\0';
	n = read(q[0], err, sizeof(err) - 1);
	err[n > 0 ? n : 0] = '\0';
	CHECK(strcmp(err, "prog: warning: loud\n") == 0, "stderr: %s", err);
	regex_t re;
	regcomp(&re,
		"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z prog: quiet 2\n"
		"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z prog: warning: loud\n$",
		REG_EXTENDED);
	CHECK(regexec(&re, file, 0, NULL, 0) == 0, "log file: %s", file);
	regfree(&re);
	close(p[0]);
	close(q[0]);
	close(saved);
}

int main(void)
{
	custom_handler();
	usual_handler();
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
