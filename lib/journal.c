/* The apply journal on disk: one step per line, fields separated by spaces, bytes outside
 * printable ASCII (and space and backslash) escaped as \xNN; a final "end N" line proves the
 * file is complete. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/journal.h"
#include "ovlbox/workdir.h"

#define HEADER "ovlbox-journal 1"

void ovl_plan_add(struct ovl_plan *p, const struct ovl_step *s)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->steps = xrealloc(p->steps, p->cap * sizeof(*p->steps));
	}
	p->steps[p->n++] = *s;
}

void ovl_plan_free(struct ovl_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->steps[i].path);
		free(p->steps[i].name);
	}
	free(p->steps);
	memset(p, 0, sizeof(*p));
}

struct buf {
	char *s;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	buf_add(b, tmp, (size_t)n);
}

static void buf_escaped(struct buf *b, const char *s)
{
	buf_add(b, " ", 1);
	if (*s == '\0') {
		buf_add(b, "\\-", 2); /* the root: an empty field would vanish */
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p > 0x20 && *p < 0x7f && *p != '\\')
			buf_add(b, (const char *)p, 1);
		else
			buf_printf(b, "\\x%02x", *p);
	}
}

static void format_step(struct buf *b, const struct ovl_step *s)
{
	buf_add(b, &s->op, 1);
	buf_escaped(b, s->path);
	switch (s->op) {
	case OVL_STEP_XATTR_STRIP:
		buf_escaped(b, s->name);
		break;
	case OVL_STEP_CHMOD:
		buf_printf(b, " %o", s->mode);
		break;
	case OVL_STEP_TIMES:
		buf_printf(b, " %lld.%09ld %lld.%09ld", (long long)s->atime.tv_sec,
			   s->atime.tv_nsec, (long long)s->mtime.tv_sec, s->mtime.tv_nsec);
		break;
	case OVL_STEP_DIR:
		buf_printf(b, " %o %u %u %lld.%09ld %lld.%09ld", s->mode, s->uid, s->gid,
			   (long long)s->atime.tv_sec, s->atime.tv_nsec, (long long)s->mtime.tv_sec,
			   s->mtime.tv_nsec);
		break;
	case OVL_STEP_REPLACE:
		buf_printf(b, " %d", s->is_dir);
		break;
	case OVL_STEP_PROTECT:
		buf_printf(b, " %x", s->flags);
		break;
	default:
		break;
	}
	buf_add(b, "\n", 1);
}

int ovl_journal_write(int work_fd, const struct ovl_plan *p, ovl_error_t *err)
{
	struct buf b = {0};
	buf_printf(&b, "%s %s\n", HEADER, p->userxattr ? "userxattr" : "trusted");
	for (size_t i = 0; i < p->n; i++)
		format_step(&b, &p->steps[i]);
	buf_printf(&b, "end %zu\n", p->n);
	cleanup_free char *text = b.s;
	struct ovl_replace how = {.tmp = OVL_JOURNAL_NAME OVL_WORK_TMP_SUFFIX, .mode = 0600};
	if (ovl_replace_file(work_fd, OVL_JOURNAL_NAME, &how, text, b.len, err) < 0)
		return ovl_error_wrap(err, "journal");
	return 0;
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

static int unescape(const char *field, char **out)
{
	if (strcmp(field, "\\-") == 0) {
		*out = xstrdup("");
		return 0;
	}
	size_t n = strlen(field), o = 0;
	char *s = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		if (field[i] != '\\') {
			s[o++] = field[i];
			continue;
		}
		/* exactly two hex digits (field[i + 2] is the NUL at worst: no read past it) */
		int hi = field[i + 1] == 'x' ? hex_digit(field[i + 2]) : -1;
		int lo = hi >= 0 ? hex_digit(field[i + 3]) : -1;
		if (lo < 0 || (hi | lo) == 0) {
			free(s);
			return -1;
		}
		s[o++] = (char)(hi << 4 | lo);
		i += 3;
	}
	s[o] = '\0';
	*out = s;
	return 0;
}

/* A whole field as an unsigned number in base: digits only (no sign, blank or trailing byte),
 * at most max. sscanf would take "-1", " 7" and "7x". */
static int parse_u32(const char *f, int base, uint32_t max, uint32_t *out)
{
	char *end;
	if (hex_digit(f[0]) < 0) /* a digit (of some base): no sign, no blank */
		return -1;
	errno = 0;
	unsigned long long n = strtoull(f, &end, base);
	if (errno != 0 || *end != '\0' || n > max)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

/* "SEC.NNNNNNNNN" as written: nine digits of nanoseconds, so that a damaged field cannot name
 * UTIME_NOW or UTIME_OMIT (or anything utimensat refuses). */
static int parse_time(const char *f, struct timespec *ts)
{
	const char *dot = strchr(f, '.');
	char *end;
	if (dot == NULL || strlen(dot + 1) != 9 || strspn(dot + 1, "0123456789") != 9 ||
	    !isdigit((unsigned char)f[f[0] == '-']))
		return -1;
	errno = 0;
	long long sec = strtoll(f, &end, 10);
	if (errno != 0 || end != dot)
		return -1;
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = strtol(dot + 1, NULL, 10);
	return 0;
}

static int parse_line(char *line, struct ovl_step *s)
{
	char *fields[8] = {0};
	int nf = 0;
	for (char *save = NULL, *t = strtok_r(line, " ", &save); t && nf < 8;
	     t = strtok_r(NULL, " ", &save))
		fields[nf++] = t;
	memset(s, 0, sizeof(*s));
	if (nf < 2 || strlen(fields[0]) != 1)
		return -1;
	s->op = fields[0][0];
	/* The plan's paths: "" (the root) or clean and relative; anything else is damage, and a
	 * ".." would lead the replay out of the layers. */
	if (unescape(fields[1], &s->path) < 0 ||
	    (s->path[0] != '\0' && !ovl_path_is_clean_relative(s->path)))
		return -1;
	uint32_t is_dir;
	switch (s->op) {
	case OVL_STEP_XATTR_STRIP:
		return nf == 3 && unescape(fields[2], &s->name) == 0 && s->name[0] != '\0' ? 0 : -1;
	case OVL_STEP_CHMOD:
		return nf == 3 && parse_u32(fields[2], 8, 07777, &s->mode) == 0 ? 0 : -1;
	case OVL_STEP_TIMES:
		return nf == 4 && parse_time(fields[2], &s->atime) == 0 &&
			       parse_time(fields[3], &s->mtime) == 0
			   ? 0
			   : -1;
	case OVL_STEP_DIR:
		return nf == 7 && parse_u32(fields[2], 8, 07777, &s->mode) == 0 &&
			       parse_u32(fields[3], 10, UINT32_MAX, &s->uid) == 0 &&
			       parse_u32(fields[4], 10, UINT32_MAX, &s->gid) == 0 &&
			       parse_time(fields[5], &s->atime) == 0 &&
			       parse_time(fields[6], &s->mtime) == 0
			   ? 0
			   : -1;
	case OVL_STEP_REPLACE:
		if (nf != 3 || parse_u32(fields[2], 10, 1, &is_dir) < 0)
			return -1;
		s->is_dir = (int)is_dir;
		return 0;
	case OVL_STEP_PROTECT:
		return nf == 3 && parse_u32(fields[2], 16, UINT32_MAX, &s->flags) == 0 ? 0 : -1;
	case OVL_STEP_UNLINK:
	case OVL_STEP_WHITEOUT:
	case OVL_STEP_END:
		return nf == 2 ? 0 : -1;
	default:
		return -1;
	}
}

/* getline() that stops at max bytes a line: -2 for a longer line, -1 at the end (or an
 * error), else the length (NUL bytes included: the caller refuses them). */
static ssize_t read_line(FILE *f, char **line, size_t *cap, size_t max)
{
	size_t len = 0;
	int c;
	while ((c = getc_unlocked(f)) != EOF) {
		if (len == max)
			return -2;
		if (len + 2 > *cap) {
			*cap = *cap ? *cap * 2 : 256;
			*line = xrealloc(*line, *cap);
		}
		(*line)[len++] = (char)c;
		if (c == '\n')
			break;
	}
	if (len == 0)
		return -1;
	(*line)[len] = '\0';
	return (ssize_t)len;
}

/* Opens the journal as a stream: 1, 0 when there is none, -1. */
static int open_journal(int work_fd, FILE **out, ovl_error_t *err)
{
	cleanup_close int fd = openat(work_fd, OVL_JOURNAL_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return ovl_error(err, errno, "open journal");
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ovl_error(err, errno, "stat journal");
	if ((uint64_t)st.st_size > OVL_JOURNAL_FILE_MAX)
		return ovl_error(err, 0, "journal %s is damaged: larger than %zu bytes",
				 OVL_JOURNAL_NAME, OVL_JOURNAL_FILE_MAX);
	*out = fdopen(fd, "r");
	if (*out == NULL)
		return ovl_error(err, errno, "open journal");
	fd = -1; /* the stream's now */
	return 1;
}

/* One line of the journal (its newline cut) into p: 0, or -1 when the line is not what a
 * journal holds there. */
static int take_line(struct ovl_plan *p, char *line, size_t len, size_t lineno, bool *ended)
{
	/* a NUL byte (a block of zeros after a crash) would hide the rest of the line */
	if (*ended || strlen(line) != len)
		return -1;
	if (lineno == 1) {
		p->userxattr = strcmp(line, HEADER " userxattr") == 0;
		return p->userxattr || strcmp(line, HEADER " trusted") == 0 ? 0 : -1;
	}
	if (strncmp(line, "end ", 4) == 0) {
		char count[32];
		snprintf(count, sizeof(count), "end %zu", p->n);
		*ended = true;
		return strcmp(line, count) == 0 ? 0 : -1;
	}
	struct ovl_step s;
	if (parse_line(line, &s) < 0) {
		free(s.path);
		free(s.name);
		return -1;
	}
	ovl_plan_add(p, &s);
	return 0;
}

static int read_lines(FILE *f, struct ovl_plan *p, ovl_error_t *err)
{
	cleanup_free char *line = NULL;
	size_t cap = 0, lineno = 0, total = 0;
	bool ended = false;
	ssize_t len;
	while ((len = read_line(f, &line, &cap, OVL_JOURNAL_LINE_MAX)) != -1) {
		lineno++;
		if (len == -2)
			return ovl_error(err, 0,
					 "journal %s is damaged at line %zu: longer than %zu bytes",
					 OVL_JOURNAL_NAME, lineno, OVL_JOURNAL_LINE_MAX);
		total += (size_t)len;
		if (total > OVL_JOURNAL_FILE_MAX) /* grown since the fstat */
			return ovl_error(err, 0, "journal %s is damaged: larger than %zu bytes",
					 OVL_JOURNAL_NAME, OVL_JOURNAL_FILE_MAX);
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (take_line(p, line, (size_t)len, lineno, &ended) < 0)
			break;
	}
	if (len != -1 || !ended)
		return ovl_error(err, 0, "journal %s is damaged at line %zu", OVL_JOURNAL_NAME,
				 lineno);
	return 0;
}

int ovl_journal_read(int work_fd, struct ovl_plan *p, ovl_error_t *err)
{
	memset(p, 0, sizeof(*p));
	cleanup_file FILE *f = NULL;
	int r = open_journal(work_fd, &f, err);
	if (r <= 0)
		return r;
	if (read_lines(f, p, err) < 0) {
		ovl_plan_free(p);
		return -1;
	}
	return 1;
}

int ovl_journal_remove(int work_fd, ovl_error_t *err)
{
	/* No sync: everything the journal describes is durable by now, so a journal that comes
	 * back after a crash replays as a no-op. */
	if (unlinkat(work_fd, OVL_JOURNAL_NAME, 0) < 0 && errno != ENOENT)
		return ovl_error(err, errno, "remove journal");
	return 0;
}
