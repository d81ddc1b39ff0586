/* Diagnostics: formatted here, delivered by the front-end's handler (include/ovlbox/log.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ovlbox/log.h"

static ovl_log_handler handler;
static void *handler_data;
static bool want_info;

void ovl_log_set_handler(ovl_log_handler h, bool info, void *data)
{
	handler = h;
	handler_data = data;
	want_info = info;
}

static void deliver(enum ovl_log_level level, const char *fmt, va_list ap)
{
	if (handler == NULL)
		return;
	char msg[4096];
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	/* one line, whatever the arguments held */
	msg[strcspn(msg, "\n")] = '\0';
	handler(level, msg, handler_data);
}

void ovl_errorf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	deliver(OVL_LOG_ERROR, fmt, ap);
	va_end(ap);
}

void ovl_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	deliver(OVL_LOG_WARNING, fmt, ap);
	va_end(ap);
}

bool ovl_info_enabled(void)
{
	return handler != NULL && want_info;
}

void ovl_info_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	deliver(OVL_LOG_INFO, fmt, ap);
	va_end(ap);
}

/* ---- the front-ends' usual handler ---- */

static void write_line(int fd, const char *stamp, const char *prog, const char *level,
		       const char *msg)
{
	char line[4096 + 128];
	int n = snprintf(line, sizeof(line), "%s%s: %s%s\n", stamp, prog, level, msg);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	if ((size_t)n >= sizeof(line))
		line[len - 1] = '\n';
	ssize_t ignored = write(fd, line, len); /* nowhere left to report a failure */
	(void)ignored;
}

void ovl_log_stderr_file(enum ovl_log_level level, const char *msg, void *data)
{
	const struct ovl_log_stderr_file *s = data;
	const char *tag = level == OVL_LOG_WARNING ? "warning: " : "";
	if (level != OVL_LOG_INFO || s->verbose)
		write_line(STDERR_FILENO, "", s->prog, tag, msg);
	if (s->fd < 0)
		return;
	char stamp[64];
	time_t t = time(NULL);
	struct tm tm;
	if (strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ ", gmtime_r(&t, &tm)) == 0)
		stamp[0] = '\0';
	write_line(s->fd, stamp, s->prog, tag, msg);
}

void ovl_log_init(const char *prog, int log_fd, bool verbose)
{
	static struct ovl_log_stderr_file settings;
	settings = (struct ovl_log_stderr_file){.prog = prog, .fd = log_fd, .verbose = verbose};
	ovl_log_set_handler(ovl_log_stderr_file, verbose || log_fd >= 0, &settings);
}
