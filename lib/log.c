/* Diagnostics: one line each, to stderr and to an optional log file. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ovlbox/log.h"

static const char *log_prog = "ovlbox";
static int log_fd = -1;
static bool log_verbose;

void ovl_log_init(const char *prog, int fd, bool verbose)
{
	log_prog = prog;
	log_fd = fd;
	log_verbose = verbose;
}

static void emit(const char *level, const char *fmt, va_list ap)
{
	char line[4096];
	int n = snprintf(line, sizeof(line), "%s: %s", log_prog, level);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t ignored = write(STDERR_FILENO, line, len);
	if (log_fd >= 0) {
		char stamp[64];
		time_t t = time(NULL);
		struct tm tm;
		size_t s = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ ", gmtime_r(&t, &tm));
		ignored = write(log_fd, stamp, s);
		ignored = write(log_fd, line, len);
	}
	(void)ignored;
}

void ovl_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit("warning: ", fmt, ap);
	va_end(ap);
}

void ovl_errorf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit("", fmt, ap);
	va_end(ap);
}

bool ovl_info_enabled(void)
{
	return log_verbose || log_fd >= 0;
}

void ovl_info_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (log_verbose) {
		emit("", fmt, ap);
	} else {
		/* only to the log file */
		int saved = log_fd;
		char line[4096];
		int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
		if (n > 0 && saved >= 0) {
			size_t len = (size_t)n < sizeof(line) - 1 ? (size_t)n : sizeof(line) - 2;
			line[len++] = '\n';
			ssize_t ignored = write(saved, line, len);
			(void)ignored;
		}
	}
	va_end(ap);
}
