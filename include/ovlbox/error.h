/* Error objects: a message chain plus the errno that started it.
 *
 * A function that fails fills *err with ovl_error() and returns -1; each caller on the way up may
 * prefix context with ovl_error_wrap(); the front-end prints the one line once and frees it. */
#ifndef OVLBOX_ERROR_H
#define OVLBOX_ERROR_H

#include <stdarg.h>
#include <stddef.h>

struct ovl_error {
	int errnum; /* errno of the root cause, 0 if none */
	char *msg;  /* one line, no trailing newline */
};
typedef struct ovl_error *ovl_error_t;

/* Sets *err to "fmt...: strerror(errnum)" (or just "fmt..." when errnum is 0); returns -1.
 * If *err is already set, it is replaced. */
int ovl_error(ovl_error_t *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same with code as the error's errno but not in the message: a condition the caller tests
 * for (EWOULDBLOCK: the workspace lock is held) that the message words itself. */
int ovl_error_code(ovl_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes *err's message with "fmt...: "; returns -1. */
int ovl_error_wrap(ovl_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void ovl_error_free(ovl_error_t *err);

/* errno of the root cause (0 when *err is empty). */
int ovl_error_errno(ovl_error_t err);

/* Renders bytes as a printable, quoted-when-needed one-line string: printable ASCII is kept,
 * anything else (newline, non-UTF-8, control bytes) becomes \xNN, backslash becomes \\.
 * Returns a static-per-slot buffer (4 rotating slots) so a message may quote a few paths. */
const char *ovl_qp(const char *path);

#endif
