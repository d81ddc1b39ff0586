/* Error objects (see include/ovlbox/error.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovlbox/alloc.h"
#include "ovlbox/error.h"

static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort(); /* out of memory, as xasprintf */
	return s;
}

/* *err = the message (with ": strerror(errnum)" when told to) and errnum. */
static int set_error(ovl_error_t *err, int errnum, bool with_strerror, const char *fmt, va_list ap)
{
	if (err == NULL)
		return -1;
	ovl_error_free(err);
	struct ovl_error *e = xcalloc(1, sizeof(*e));
	char *head = vformat(fmt, ap);
	if (errnum != 0 && with_strerror) {
		e->msg = xasprintf("%s: %s", head, strerror(errnum));
		free(head);
	} else {
		e->msg = head;
	}
	e->errnum = errnum;
	*err = e;
	return -1;
}

int ovl_error(ovl_error_t *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_error(err, errnum, true, fmt, ap);
	va_end(ap);
	return -1;
}

int ovl_error_code(ovl_error_t *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_error(err, code, false, fmt, ap);
	va_end(ap);
	return -1;
}

int ovl_error_wrap(ovl_error_t *err, const char *fmt, ...)
{
	if (err == NULL || *err == NULL)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	char *head = vformat(fmt, ap);
	va_end(ap);
	char *msg = xasprintf("%s: %s", head, (*err)->msg);
	free(head);
	free((*err)->msg);
	(*err)->msg = msg;
	return -1;
}

void ovl_error_free(ovl_error_t *err)
{
	if (err == NULL || *err == NULL)
		return;
	free((*err)->msg);
	free(*err);
	*err = NULL;
}

int ovl_error_errno(ovl_error_t err)
{
	return err ? err->errnum : 0;
}

const char *ovl_qp(const char *path)
{
	static __thread char slots[4][1024];
	static __thread unsigned next;
	char *out = slots[next++ % 4];
	size_t o = 0, cap = sizeof(slots[0]) - 8;
	if (path == NULL)
		return "(null)";
	if (*path == '\0')
		return ".";
	for (const unsigned char *p = (const unsigned char *)path; *p && o < cap; p++) {
		if (*p == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
		} else if (*p >= 0x20 && *p < 0x7f) {
			out[o++] = (char)*p;
		} else {
			o += (size_t)snprintf(out + o, 5, "\\x%02x", *p);
		}
	}
	if (o >= cap) {
		memcpy(out + o, "...", 4);
		return out;
	}
	out[o] = '\0';
	return out;
}
