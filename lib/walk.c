/* Directory walks of any depth (see include/ovlbox/walk.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/fs.h"
#include "ovlbox/walk.h"

/* A read buffer of a held level: 4 KiB (some 100 short names a getdents call) keeps a whole
 * window within 64 KiB, where a DIR stream takes 32 KiB a level. */
enum { WALK_BUF = 4096 };

struct ovl_walk_level {
	char *name; /* in the parent; NULL for the root */
	dev_t dev;
	ino_t ino;
	int fd;	    /* -1 while the level is outside the window */
	off_t off;  /* getdents cookie after the last entry handed out */
	char *buf;  /* read buffer (held levels only) */
	size_t len; /* bytes in buf */
	size_t pos; /* next entry in buf */
	bool seek;  /* the fd's offset is not yet off: seek before reading */
	bool eof;
};

static void close_keep_errno(int fd)
{
	int e = errno;
	close(fd);
	errno = e;
}

int ovl_walk_init(struct ovl_walk *w, int root_fd, int flags, bool rewind, size_t data_size)
{
	memset(w, 0, sizeof(*w));
	struct stat st;
	if (fstat(root_fd, &st) < 0)
		return -1;
	w->flags = flags;
	w->rewind = rewind;
	w->data_size = data_size;
	w->cap = 8;
	w->lv = xcalloc(w->cap, sizeof(*w->lv));
	w->data = xcalloc(w->cap, data_size ? data_size : 1);
	w->lv[0] = (struct ovl_walk_level){
	    .dev = st.st_dev, .ino = st.st_ino, .fd = root_fd, .off = 0, .seek = true};
	w->n = 1;
	w->lo = 1;
	return 0;
}

static void level_release(struct ovl_walk_level *l)
{
	free(l->buf);
	l->buf = NULL;
	l->len = l->pos = 0;
}

void ovl_walk_free(struct ovl_walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		if (i > 0 && w->lv[i].fd >= 0)
			close(w->lv[i].fd);
		level_release(&w->lv[i]);
		free(w->lv[i].name);
	}
	free(w->lv);
	free(w->data);
	memset(w, 0, sizeof(*w));
}

int ovl_walk_fd(const struct ovl_walk *w)
{
	return w->lv[w->n - 1].fd;
}

void *ovl_walk_data(struct ovl_walk *w, size_t level)
{
	return w->data + level * w->data_size;
}

/* Refills the current level's buffer: 1, 0 at the end, -1 on error. */
static int refill(struct ovl_walk_level *l)
{
	if (l->buf == NULL)
		l->buf = xmalloc(WALK_BUF);
	if (l->seek) {
		if (lseek(l->fd, l->off, SEEK_SET) < 0)
			return -1;
		l->seek = false;
	}
	ssize_t n = getdents64(l->fd, l->buf, WALK_BUF);
	if (n < 0)
		return -1;
	l->len = (size_t)n;
	l->pos = 0;
	if (n == 0)
		l->eof = true;
	return n > 0;
}

int ovl_walk_next(struct ovl_walk *w, const char **name, unsigned char *d_type)
{
	struct ovl_walk_level *l = &w->lv[w->n - 1];
	for (;;) {
		if (l->eof)
			return 0;
		if (l->pos >= l->len) {
			int r = refill(l);
			if (r <= 0)
				return r;
		}
		const struct dirent64 *de = (const struct dirent64 *)(l->buf + l->pos);
		l->pos += de->d_reclen;
		l->off = (off_t)de->d_off;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		*name = de->d_name;
		if (d_type)
			*d_type = de->d_type;
		return 1;
	}
}

/* Opens directory dirfd/name as a level (flags as the walk's) and stats it into *st. */
static int open_level(int dirfd, const char *name, int flags, struct stat *st)
{
	int fd = ovl_openat_noatime(dirfd, name, flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, st) < 0) {
		close_keep_errno(fd);
		return -1;
	}
	return fd;
}

/* Closes the shallowest held level below the root once more than the window are held. */
static void shrink_window(struct ovl_walk *w)
{
	if (w->n - w->lo <= OVL_WALK_WINDOW)
		return;
	struct ovl_walk_level *l = &w->lv[w->lo++];
	close(l->fd);
	l->fd = -1;
	level_release(l);
}

int ovl_walk_push(struct ovl_walk *w, const char *name)
{
	struct stat st;
	int fd = open_level(ovl_walk_fd(w), name, w->flags, &st);
	if (fd < 0)
		return -1;
	if (w->n == w->cap) {
		w->cap *= 2;
		w->lv = xrealloc(w->lv, w->cap * sizeof(*w->lv));
		w->data = xrealloc(w->data, w->cap * (w->data_size ? w->data_size : 1));
	}
	char *copy = xstrdup(name);
	w->lv[w->n] = (struct ovl_walk_level){
	    .name = copy, .dev = st.st_dev, .ino = st.st_ino, .fd = fd, .off = 0};
	memset(ovl_walk_data(w, w->n), 0, w->data_size);
	w->n++;
	shrink_window(w);
	return 0;
}

/* Reopens level i (closed) as ".." of level i + 1, checking it is the directory entered. */
static int reopen_parent(struct ovl_walk *w, size_t i)
{
	struct ovl_walk_level *l = &w->lv[i];
	struct stat st;
	int fd = open_level(w->lv[i + 1].fd, "..", w->flags, &st);
	if (fd < 0)
		return -1;
	if (st.st_dev != l->dev || st.st_ino != l->ino) {
		close(fd);
		errno = ESTALE;
		return -1;
	}
	l->fd = fd;
	l->eof = false;
	l->len = l->pos = 0;
	l->seek = true;
	if (w->rewind)
		l->off = 0;
	w->lo = i;
	return 0;
}

int ovl_walk_pop(struct ovl_walk *w, char **name)
{
	size_t top = w->n - 1;
	if (top >= 2 && w->lv[top - 1].fd < 0 && reopen_parent(w, top - 1) < 0)
		return -1;
	struct ovl_walk_level *l = &w->lv[top];
	close(l->fd);
	level_release(l);
	if (name)
		*name = l->name;
	else
		free(l->name);
	l->name = NULL;
	w->n--;
	if (w->lo > w->n)
		w->lo = w->n;
	return 0;
}

char *ovl_walk_path(const struct ovl_walk *w, const char *leaf)
{
	size_t len = 1;
	for (size_t i = 1; i < w->n; i++)
		len += strlen(w->lv[i].name) + 1;
	len += leaf ? strlen(leaf) : 0;
	char *s = xmalloc(len);
	char *p = s;
	for (size_t i = 1; i < w->n; i++) {
		size_t k = strlen(w->lv[i].name);
		if (p > s)
			*p++ = '/';
		memcpy(p, w->lv[i].name, k);
		p += k;
	}
	if (leaf && leaf[0]) {
		if (p > s)
			*p++ = '/';
		memcpy(p, leaf, strlen(leaf));
		p += strlen(leaf);
	}
	*p = '\0';
	return s;
}

size_t ovl_path_push(struct ovl_pathbuf *p, const char *name)
{
	size_t old = p->len, n = strlen(name);
	if (p->len + n + 2 > p->cap) {
		p->cap = (p->len + n + 2) * 2;
		p->s = xrealloc(p->s, p->cap);
	}
	if (p->len)
		p->s[p->len++] = '/';
	memcpy(p->s + p->len, name, n + 1);
	p->len += n;
	return old;
}

void ovl_path_pop(struct ovl_pathbuf *p, size_t old)
{
	p->len = old;
	p->s[old] = '\0';
}
