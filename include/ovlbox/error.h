/* Error objects: a message chain plus the errno that started it.
 *
 * A function that fails fills *err with ovl_error() and returns -1; each caller on the way up may
 * prefix context with ovl_error_wrap(); the front-end prints the one line once and frees it. */
#ifndef OVLBOX_ERROR_H
#define OVLBOX_ERROR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* What a front-end may want to advise on, beyond the message: lib words no command line, so it
 * says why and the front-end says what to do. */
enum ovl_reason {
	OVL_REASON_NONE,
	OVL_REASON_DEVICE_NODE,	 /* apply: the upper holds a device node, and devices are refused */
	OVL_REASON_JOURNAL_KEPT, /* apply: failed once begun; its journal stays for the next apply
				  */
};

struct ovl_error {
	int errnum;		/* errno of the root cause, 0 if none */
	enum ovl_reason reason; /* OVL_REASON_NONE unless set; ovl_error_wrap keeps it */
	char *msg;		/* one line, no trailing newline */
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
/* Appends "fmt..." to *err's message, keeping its errno and reason; returns -1. */
int ovl_error_append(ovl_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void ovl_error_free(ovl_error_t *err);

/* errno of the root cause (0 when *err is empty). */
int ovl_error_errno(ovl_error_t err);

/* Marks *err (set) with a reason; returns -1. */
int ovl_error_set_reason(ovl_error_t *err, enum ovl_reason reason);
/* The reason (OVL_REASON_NONE when err is empty or has none). */
enum ovl_reason ovl_error_reason(ovl_error_t err);

/* Bytes a rendering may take, with its NUL; a longer one ends in "...". */
#define OVL_QP_SIZE 1024

/* Renders s into buf (size bytes) as one printable line for a message: printable ASCII is kept,
 * backslash becomes \\, any other byte (newline, control, non-ASCII) becomes \xNN; NULL reads
 * "(null)" and "" reads ".". It is for reading, not for pasting: see ovl_shell_quote. */
const char *ovl_printable(char *buf, size_t size, const char *s);

/* ovl_printable into a buffer owned by the calling block (a compound literal, alive until that
 * block ends), so that one message may render any number of paths. */
#define ovl_qp(s) ovl_printable((char[OVL_QP_SIZE]){0}, OVL_QP_SIZE, (s))

/* s as one shell word, for a command a message suggests pasting: unchanged when it holds only
 * characters no shell treats specially; in single quotes (a ' as '\'') when it holds others but
 * only printable ASCII; as $'...' (bash, zsh, ksh; \xNN for the other bytes) when it holds bytes
 * a terminal would show wrongly or act on, so that the result is still one printable line that
 * names the path exactly. Allocated (xmalloc). */
char *ovl_shell_quote(const char *s);

#endif
