/* Error objects (see include/ovlbox/error.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovlbox/alloc.h"
#include "ovlbox/error.h"

/* *err = the message (with ": strerror(errnum)" when told to) and errnum. */
static int set_error(ovl_error_t *err, int errnum, bool with_strerror, const char *fmt, va_list ap)
{
	if (err == NULL)
		return -1;
	ovl_error_free(err);
	struct ovl_error *e = xcalloc(1, sizeof(*e));
	char *head = xvasprintf(fmt, ap);
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

/* (*err)->msg = "TEXT: msg" (prefix) or "msgTEXT", TEXT formatted; errno and reason kept. */
static void extend(ovl_error_t *err, bool prefix, const char *fmt, va_list ap)
{
	if (err == NULL || *err == NULL)
		return;
	char *text = xvasprintf(fmt, ap);
	char *msg =
	    prefix ? xasprintf("%s: %s", text, (*err)->msg) : xasprintf("%s%s", (*err)->msg, text);
	free(text);
	free((*err)->msg);
	(*err)->msg = msg;
}

int ovl_error_wrap(ovl_error_t *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	extend(err, true, fmt, ap);
	va_end(ap);
	return -1;
}

int ovl_error_append(ovl_error_t *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	extend(err, false, fmt, ap);
	va_end(ap);
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

int ovl_error_set_reason(ovl_error_t *err, enum ovl_reason reason)
{
	if (err != NULL && *err != NULL)
		(*err)->reason = reason;
	return -1;
}

enum ovl_reason ovl_error_reason(ovl_error_t err)
{
	return err ? err->reason : OVL_REASON_NONE;
}

static bool terminal_safe(unsigned char c)
{
	return c >= 0x20 && c < 0x7f;
}

const char *ovl_printable(char *buf, size_t size, const char *s)
{
	const size_t ellipsis = sizeof("...");
	size_t o = 0;
	if (s == NULL)
		return "(null)";
	if (*s == '\0')
		return ".";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char one[5];
		size_t n;
		if (*p == '\\')
			n = (size_t)snprintf(one, sizeof(one), "\\\\");
		else if (terminal_safe(*p))
			n = (size_t)snprintf(one, sizeof(one), "%c", *p);
		else
			n = (size_t)snprintf(one, sizeof(one), "\\x%02x", *p);
		if (o + n + ellipsis > size) {
			memcpy(buf + o, "...", ellipsis);
			return buf;
		}
		memcpy(buf + o, one, n);
		o += n;
	}
	buf[o] = '\0';
	return buf;
}

static bool shell_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("/._-+,:@%=", c) != NULL;
}

char *ovl_shell_quote(const char *s)
{
	bool plain = *s != '\0', safe = true;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		plain = plain && shell_plain(*p);
		safe = safe && terminal_safe(*p);
	}
	if (plain)
		return xstrdup(s);
	/* Worst case: every byte as \xNN (or '\'' for a quote), plus $'' and the NUL. */
	char *out = xmalloc(strlen(s) * 4 + 4);
	size_t o = 0;
	if (!safe)
		out[o++] = '$';
	out[o++] = '\'';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\'')
			o += (size_t)sprintf(out + o, safe ? "'\\''" : "\\'");
		else if (!safe && *p == '\\')
			o += (size_t)sprintf(out + o, "\\\\");
		else if (terminal_safe(*p))
			out[o++] = (char)*p;
		else
			o += (size_t)sprintf(out + o, "\\x%02x", *p);
	}
	out[o++] = '\'';
	out[o] = '\0';
	return out;
}
