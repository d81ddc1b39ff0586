/* ovlbox-runtime [--ovlbox-OPTION...] RUNTIME-ARGS...: runc's command line. Exits 1 with one line
 * on stderr (and one error entry in the caller's --log) when the request cannot be served, before
 * the runtime runs; otherwise the runtime replaces this process. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "runtime.h"

extern char **environ;

static void usage(void)
{
	printf("usage: " PROG " [--ovlbox-OPTION...] RUNC-ARGS...\n"
	       "  A runc-compatible runtime: runs the real runtime with the same arguments; for\n"
	       "  create and run of a container that asks for a workspace (annotation\n"
	       "  " ANN_WORKSPACE ", or with env on the variable " ENV_WORKSPACE ")\n"
	       "  first adds " HOOK_NAME "'s createRuntime and poststop stages to config.json.\n"
	       "  --ovlbox-config FILE       settings (default " DEFAULT_SETTINGS ")\n"
	       "  --ovlbox-runtime PATH      the real runtime (default " DEFAULT_RUNTIME ")\n"
	       "  --ovlbox-hook PATH         " HOOK_NAME " (default: the one beside " PROG ")\n"
	       "  --ovlbox-layers-under DIR  passed to the hook as --layers-under\n"
	       "  --ovlbox-hook-log FILE     passed to the hook as --log\n"
	       "  --ovlbox-env               read " ENV_WORKSPACE " and " ENV_ON_EXIT
	       " from process.env\n"
	       "  --ovlbox-help, --ovlbox-version\n");
}

/* RFC 3339 with nanoseconds, as logrus writes it. */
static void log_time(char *stamp, size_t size)
{
	struct timespec ts;
	struct tm tm;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || gmtime_r(&ts.tv_sec, &tm) == NULL) {
		/* an entry without its true time is better than none */
		snprintf(stamp, size, "1970-01-01T00:00:00.000000000Z");
		return;
	}
	size_t n = strftime(stamp, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, size - n, ".%09ldZ", ts.tv_nsec);
}

/* The entry as logrus' JSON formatter writes it. */
static char *json_entry(const char *msg, const char *stamp)
{
	ovl_jw *w = ovl_jw_new(false);
	ovl_jw_object_open(w);
	ovl_jw_key(w, "level");
	ovl_jw_string(w, "error");
	ovl_jw_key(w, "msg");
	ovl_jw_string(w, msg);
	ovl_jw_key(w, "time");
	ovl_jw_string(w, stamp);
	ovl_jw_object_close(w);
	cleanup_error ovl_error_t e = NULL;
	const char *text = ovl_jw_text(w, NULL, &e);
	/* the entry cannot be written as JSON: say so as the entry (stderr has msg) */
	char *line = xasprintf("%s\n", text ? text
					    : "{\"level\":\"error\",\"msg\":\"" PROG
					      ": log entry not written\"}");
	ovl_jw_free(w);
	return line;
}

/* The entry as logrus' text formatter writes it. */
static char *text_entry(const char *msg, const char *stamp)
{
	/* msg is one printable line (ovl_qp escapes what it quotes): only " and \ need escaping
	 * inside logrus' quotes */
	size_t len = strlen(msg), o = 0;
	cleanup_free char *q = xmalloc(2 * len + 1);
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '"' || msg[i] == '\\')
			q[o++] = '\\';
		q[o++] = msg[i];
	}
	q[o] = '\0';
	return xasprintf("time=\"%s\" level=error msg=\"%s\"\n", stamp, q);
}

/* The caller's --log, as runc writes it. A log that cannot be written is said on stderr: the
 * caller may look for the error only there. */
static void log_entry(const struct rt_call *c, const char *msg)
{
	char stamp[64];
	log_time(stamp, sizeof(stamp));
	cleanup_free char *line = c->log_json ? json_entry(msg, stamp) : text_entry(msg, stamp);
	cleanup_close int fd =
	    open(c->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0 || ovl_write_all(fd, line, strlen(line)) < 0)
		fprintf(stderr, PROG ": %s log %s: %s\n", fd < 0 ? "open" : "write", ovl_qp(c->log),
			strerror(errno));
}

static int fail(const struct rt_call *c, const char *what)
{
	cleanup_free char *msg = xasprintf(PROG ": %s", what);
	fprintf(stderr, "%s\n", msg);
	if (c && c->log)
		log_entry(c, msg);
	return 1;
}

int main(int argc, char **argv)
{
	__attribute__((cleanup(rt_settings_free))) struct rt_settings s = {0};
	struct rt_call call = {0};
	cleanup_error ovl_error_t err = NULL;
	int first;
	if (rt_own_options(argc, argv, &s, &first, &err) < 0)
		return fail(NULL, err->msg);
	if (s.help) {
		usage();
		return 0;
	}
	if (s.version) {
		printf(PROG " " OVLBOX_VERSION "\n");
		return 0;
	}
	if (rt_parse_call(argc - first, argv + first, &call, &err) < 0)
		return fail(&call, err->msg);
	if (rt_settings_load(&s, &err) < 0)
		return fail(&call, err->msg);
	if (call.creates && rt_config_update(call.bundle, &s, &err) < 0)
		return fail(&call, err->msg);

	/* argv[first - 1] becomes the runtime's argv[0]: the same arguments follow */
	char **args = argv + first - 1;
	args[0] = s.runtime;
	execve(args[0], args, environ);
	cleanup_free char *msg = xasprintf("exec %s: %s", ovl_qp(s.runtime), strerror(errno));
	return fail(&call, msg);
}
