/* Diagnostics to stderr (and optionally a log file). lib/ never writes to stdout. */
#ifndef OVLBOX_LOG_H
#define OVLBOX_LOG_H

#include <stdbool.h>

/* prog prefixes every line ("ovlbox: ..."). fd < 0 keeps only stderr. */
void ovl_log_init(const char *prog, int log_fd, bool verbose);
void ovl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Only when verbose or logging to a file; a macro, so that its arguments (quoted paths) are not
 * even computed otherwise. */
bool ovl_info_enabled(void);
void ovl_info_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define ovl_info(...)                                                                              \
	do {                                                                                       \
		if (ovl_info_enabled())                                                            \
			ovl_info_(__VA_ARGS__);                                                    \
	} while (0)
void ovl_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
