/* The layer set's mark: text format, and recognising the process it names (include/ovlbox/mark.h).
 */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/mark.h"

#define MARK_MAGIC "ovlbox-mark 1"

static const char *const on_exit_names[] = {"apply", "discard", "keep"};

const char *ovl_on_exit_name(enum ovl_on_exit e)
{
	return on_exit_names[e];
}

int ovl_on_exit_parse(const char *s, enum ovl_on_exit *out)
{
	for (size_t i = 0; i < N_ELEMENTS(on_exit_names); i++)
		if (strcmp(s, on_exit_names[i]) == 0) {
			*out = (enum ovl_on_exit)i;
			return 0;
		}
	return -1;
}

/* ---- writing ---- */

struct out {
	char *buf;
	size_t len, cap;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n < o->cap - o->len ? (size_t)n : o->cap - o->len - 1;
}

/* Bytes a reader splits on (space, newline) or would misread, as \xNN. */
static void put_escaped(struct out *o, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p > 0x20 && *p < 0x7f && *p != '\\')
			put(o, "%c", *p);
		else
			put(o, "\\x%02x", *p);
	}
}

size_t ovl_mark_format(const struct ovl_mark *m, char buf[OVL_MARK_MAX])
{
	struct out o = {buf, 0, OVL_MARK_MAX};
	buf[0] = '\0';
	put(&o, MARK_MAGIC "\nid ");
	put_escaped(&o, m->id);
	put(&o, "\nworkspace %" PRIu64 " %" PRIu64 "\n", m->workspace.dev, m->workspace.ino);
	put(&o, "upper %" PRIu64 " %" PRIu64 "\n", m->upper.dev, m->upper.ino);
	put(&o, "work %" PRIu64 " %" PRIu64 "\n", m->work.dev, m->work.ino);
	put(&o, "on-exit %s\nstate %s\n", ovl_on_exit_name(m->on_exit),
	    m->mounted ? "mounted" : "unmounted");
	put(&o, "init %" PRId64 " %" PRIu64 " ", m->init.pid, m->init.starttime);
	put_escaped(&o, m->init.boot_id[0] ? m->init.boot_id : "-");
	put(&o, "\n");
	return o.len;
}

/* ---- reading ---- */

struct in {
	const char *p, *end;
	unsigned line;
};

static int damaged(struct in *in, const char *why, ovl_error_t *err)
{
	return ovl_error(err, 0, "damaged mark: line %u: %s", in->line, why);
}

/* The next line, without its newline, as [*s, *s + *n). */
static int next_line(struct in *in, const char **s, size_t *n, ovl_error_t *err)
{
	in->line++;
	const char *nl = memchr(in->p, '\n', (size_t)(in->end - in->p));
	if (nl == NULL)
		return damaged(in, "missing or unterminated", err);
	*s = in->p;
	*n = (size_t)(nl - in->p);
	in->p = nl + 1;
	if (memchr(*s, '\0', *n))
		return damaged(in, "a NUL byte", err);
	return 0;
}

/* Line "KEY REST": *rest points after the space. */
static int keyed_line(struct in *in, const char *key, const char **rest, size_t *n,
		      ovl_error_t *err)
{
	const char *s = NULL;
	size_t len = 0, klen = strlen(key);
	if (next_line(in, &s, &len, err) < 0)
		return -1;
	if (len <= klen || memcmp(s, key, klen) != 0 || s[klen] != ' ') {
		char why[64];
		snprintf(why, sizeof(why), "expected \"%s\"", key);
		return damaged(in, why, err);
	}
	*rest = s + klen + 1;
	*n = len - klen - 1;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* An escaped word (no space) of n bytes into out (size bytes with the NUL). */
static int unescape(struct in *in, const char *s, size_t n, char *out, size_t size,
		    ovl_error_t *err)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f)
			return damaged(in, "a byte that should be escaped", err);
		if (c == '\\') {
			int hi = i + 3 < n && s[i + 1] == 'x' ? hexval(s[i + 2]) : -1;
			int lo = hi >= 0 ? hexval(s[i + 3]) : -1;
			if (lo < 0 || hi * 16 + lo == 0)
				return damaged(in, "a bad \\x escape", err);
			c = (unsigned char)(hi * 16 + lo);
			i += 3;
		}
		if (o + 1 >= size)
			return damaged(in, "too long", err);
		out[o++] = (char)c;
	}
	if (o == 0)
		return damaged(in, "empty", err);
	out[o] = '\0';
	return 0;
}

/* A whole decimal number (no sign, no leading zero but "0"), below max. */
static int number(struct in *in, const char **s, const char *end, uint64_t max, uint64_t *out,
		  ovl_error_t *err)
{
	const char *p = *s;
	uint64_t v = 0;
	if (p == end || !isdigit((unsigned char)*p) || (*p == '0' && p + 1 < end && p[1] != ' '))
		return damaged(in, "a bad number", err);
	for (; p < end && isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (max - d) / 10)
			return damaged(in, "a number out of range", err);
		v = v * 10 + d;
	}
	*s = p;
	*out = v;
	return 0;
}

/* "N M" exactly, as two numbers. */
static int devino_line(struct in *in, const char *key, struct ovl_devino *d, ovl_error_t *err)
{
	const char *s;
	size_t n;
	if (keyed_line(in, key, &s, &n, err) < 0)
		return -1;
	const char *end = s + n;
	if (number(in, &s, end, UINT64_MAX, &d->dev, err) < 0)
		return -1;
	if (s == end || *s++ != ' ')
		return damaged(in, "expected two numbers", err);
	if (number(in, &s, end, UINT64_MAX, &d->ino, err) < 0)
		return -1;
	return s == end ? 0 : damaged(in, "expected two numbers", err);
}

static int word_line(struct in *in, const char *key, char *out, size_t size, ovl_error_t *err)
{
	const char *s;
	size_t n;
	if (keyed_line(in, key, &s, &n, err) < 0)
		return -1;
	return unescape(in, s, n, out, size, err);
}

static int init_line(struct in *in, struct ovl_proc_id *p, ovl_error_t *err)
{
	const char *s;
	size_t n;
	if (keyed_line(in, "init", &s, &n, err) < 0)
		return -1;
	const char *end = s + n;
	uint64_t pid;
	if (number(in, &s, end, INT32_MAX, &pid, err) < 0 || s == end || *s++ != ' ' ||
	    number(in, &s, end, UINT64_MAX, &p->starttime, err) < 0 || s == end || *s++ != ' ')
		return err && *err ? -1 : damaged(in, "expected PID STARTTIME BOOT-ID", err);
	p->pid = (int64_t)pid;
	if (unescape(in, s, (size_t)(end - s), p->boot_id, sizeof(p->boot_id), err) < 0)
		return -1;
	if (strcmp(p->boot_id, "-") == 0)
		p->boot_id[0] = '\0';
	return 0;
}

/* A mark of ovlbox 0.1: the id alone, as written (no newline). */
static int parse_legacy(const char *text, size_t len, struct ovl_mark *m, ovl_error_t *err)
{
	if (len == 0 || len >= sizeof(m->id) || memchr(text, '\0', len) || memchr(text, '\n', len))
		return ovl_error(err, 0, "damaged mark: not a container id");
	memcpy(m->id, text, len);
	m->id[len] = '\0';
	m->legacy = true;
	m->mounted = true;
	return 0;
}

int ovl_mark_parse(const char *text, size_t len, struct ovl_mark *m, ovl_error_t *err)
{
	memset(m, 0, sizeof(*m));
	size_t magic = strlen(MARK_MAGIC);
	if (len < magic + 1 || memcmp(text, MARK_MAGIC "\n", magic + 1) != 0)
		return parse_legacy(text, len, m, err);
	struct in in = {text + magic + 1, text + len, 1};
	char word[16];
	if (word_line(&in, "id", m->id, sizeof(m->id), err) < 0 ||
	    devino_line(&in, "workspace", &m->workspace, err) < 0 ||
	    devino_line(&in, "upper", &m->upper, err) < 0 ||
	    devino_line(&in, "work", &m->work, err) < 0 ||
	    word_line(&in, "on-exit", word, sizeof(word), err) < 0)
		return -1;
	if (ovl_on_exit_parse(word, &m->on_exit) < 0)
		return damaged(&in, "on-exit is not apply, discard or keep", err);
	if (word_line(&in, "state", word, sizeof(word), err) < 0)
		return -1;
	if (strcmp(word, "mounted") != 0 && strcmp(word, "unmounted") != 0)
		return damaged(&in, "state is not mounted or unmounted", err);
	m->mounted = word[0] == 'm';
	if (init_line(&in, &m->init, err) < 0)
		return -1;
	if (in.p != in.end) {
		in.line++;
		return damaged(&in, "text after the last field", err);
	}
	return 0;
}

/* ---- processes ---- */

static int read_boot_id(char out[OVL_BOOT_ID_MAX], ovl_error_t *err)
{
	static const char path[] = "/proc/sys/kernel/random/boot_id";
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, out, OVL_BOOT_ID_MAX - 1) : -1;
	if (n <= 0)
		return ovl_error(err, n < 0 ? errno : EIO, "read %s", path);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		n--;
	out[n] = '\0';
	return 0;
}

/* Field 22 of /proc/PID/stat (after the command name, which may hold spaces and parentheses).
 * 1 and *start, 0 if there is no such process, -1 on error. */
static int read_starttime(int64_t pid, uint64_t *start, ovl_error_t *err)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%" PRId64 "/stat", pid);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? 0
							 : ovl_error(err, errno, "open %s", path);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return errno == ESRCH ? 0 : ovl_error(err, errno, "read %s", path);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	/* after ")": state is field 3, starttime field 22 */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%" SCNu64, start) != 1)
		return ovl_error(err, 0, "%s: no start time", path);
	return 1;
}

int ovl_proc_id_of(int64_t pid, struct ovl_proc_id *out, ovl_error_t *err)
{
	memset(out, 0, sizeof(*out));
	int r = read_starttime(pid, &out->starttime, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return ovl_error(err, ESRCH, "process %" PRId64, pid);
	out->pid = pid;
	return read_boot_id(out->boot_id, err);
}

int ovl_proc_id_alive(const struct ovl_proc_id *p, ovl_error_t *err)
{
	if (p->pid <= 0)
		return 1;
	char boot[OVL_BOOT_ID_MAX];
	if (read_boot_id(boot, err) < 0)
		return -1;
	if (strcmp(boot, p->boot_id) != 0)
		return 0; /* the machine rebooted since */
	uint64_t start;
	int r = read_starttime(p->pid, &start, err);
	if (r <= 0)
		return r;
	return start == p->starttime;
}

int ovl_proc_parent(int64_t *ppid, ovl_error_t *err)
{
	static const char path[] = "/proc/self/stat";
	char buf[1024];
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n < 0)
		return ovl_error(err, errno, "read %s", path);
	buf[n] = '\0';
	/* after the command name: state, then ppid */
	const char *p = strrchr(buf, ')');
	long long v;
	if (p == NULL || sscanf(p + 1, " %*c %lld", &v) != 1 || v <= 0)
		return ovl_error(err, 0, "%s: no parent pid", path);
	*ppid = v;
	return 0;
}
