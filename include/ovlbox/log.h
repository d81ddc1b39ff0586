/* Diagnostics to stderr (and optionally a log file). lib/ never writes to stdout. */
#ifndef OVLBOX_LOG_H
#define OVLBOX_LOG_H

#include <stdbool.h>

/* prog prefixes every line ("ovlbox: ..."). fd < 0 keeps only stderr. */
void ovl_log_init(const char *prog, int log_fd, bool verbose);
void ovl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ovl_info(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* only when verbose */
void ovl_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
