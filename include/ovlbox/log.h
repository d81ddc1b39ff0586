/* Diagnostics. The library never decides where they go: every line goes to the handler the
 * front-end set (none set: dropped). lib/ never writes to stdout. */
#ifndef OVLBOX_LOG_H
#define OVLBOX_LOG_H

#include <stdbool.h>

enum ovl_log_level {
	OVL_LOG_ERROR,
	OVL_LOG_WARNING,
	OVL_LOG_INFO,
};

/* msg: one line, no newline. */
typedef void (*ovl_log_handler)(enum ovl_log_level level, const char *msg, void *data);

/* Sets the handler; info: whether OVL_LOG_INFO lines are wanted at all (they are not even
 * formatted otherwise). */
void ovl_log_set_handler(ovl_log_handler handler, bool info, void *data);

/* The front-ends' usual handler (data: a struct ovl_log_stderr_file): "PROG: MSG" on stderr
 * ("PROG: warning: MSG" for warnings; info lines only when verbose), and, when fd >= 0, every line
 * also to fd as "TIME PROG: ..." with TIME in UTC, 2006-01-02T15:04:05Z. */
struct ovl_log_stderr_file {
	const char *prog;
	int fd;
	bool verbose;
};
void ovl_log_stderr_file(enum ovl_log_level level, const char *msg, void *data);

/* Installs ovl_log_stderr_file with these settings (kept in a static struct). fd < 0: stderr
 * only; info lines are wanted when verbose or logging to a file. */
void ovl_log_init(const char *prog, int log_fd, bool verbose);

void ovl_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ovl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A macro, so that its arguments (quoted paths) are not even computed when no info is wanted. */
bool ovl_info_enabled(void);
void ovl_info_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define ovl_info(...)                                                                              \
	do {                                                                                       \
		if (ovl_info_enabled())                                                            \
			ovl_info_(__VA_ARGS__);                                                    \
	} while (0)

#endif
