/* The registry of layer sets in use (include/ovlbox/registry.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/ns.h"
#include "ovlbox/registry.h"

static const char *const layer_names[3] = {"workspace", "upper dir", "work dir"};

struct entry {
	char id[OVL_MARK_ID_MAX];
	struct ovl_proc_id init;
	struct ovl_devino chain[3][OVL_CHAIN_MAX + 1]; /* + a 0:0 link for a layer not made */
	size_t n[3];
};

static bool registry_kept(void)
{
	bool in_userns = geteuid() != 0;
	ovl_error_t e = NULL;
	if (!in_userns && ovl_ns_in_child_userns(&in_userns, &e) < 0) {
		ovl_error_free(&e);
		return false;
	}
	return !in_userns;
}

/* The registry dir, made if missing (root's only: mode 0700), locked while fd is open. */
static int open_locked(ovl_error_t *err)
{
	if (mkdir("/run/ovlbox", 0700) < 0 && errno != EEXIST)
		return ovl_error(err, errno, "create /run/ovlbox");
	if (mkdir(OVL_REGISTRY_DIR, 0700) < 0 && errno != EEXIST)
		return ovl_error(err, errno, "create %s", OVL_REGISTRY_DIR);
	cleanup_close int fd =
	    open(OVL_REGISTRY_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ovl_error(err, errno, "open %s", OVL_REGISTRY_DIR);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return ovl_error(err, errno, "lock %s", OVL_REGISTRY_DIR);
	return ovl_steal_fd(&fd);
}

/* A file name for id: ids are untrusted bytes, so their 64-bit FNV-1a hash (the entry holds the
 * id itself). */
static void entry_name(const char *id, char name[32])
{
	uint64_t h = 14695981039346656037ull;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	snprintf(name, 32, "%016" PRIx64, h);
}

/* Bytes an entry may take: a mark and three chains of up to OVL_CHAIN_MAX + 1 " dev:ino" links
 * (42 bytes at most each) and their newlines. */
#define ENTRY_MAX (OVL_MARK_MAX + 3 * ((OVL_CHAIN_MAX + 1) * 42 + 1))

/* Appends " dev:ino" for each link and a newline at buf + len; returns the new length, within
 * ENTRY_MAX for a mark and three chains. */
static size_t put_chain(char *buf, size_t len, const struct ovl_devino *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, ENTRY_MAX - len, " %" PRIu64 ":%" PRIu64,
					c[i].dev, c[i].ino);
	buf[len++] = '\n';
	return len;
}

static int write_entry(int dir, const struct entry *e, ovl_error_t *err)
{
	char name[32], tmp[40];
	entry_name(e->id, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	/* the id as the mark writes it: escaped, one word */
	struct ovl_mark m = {.init = e->init};
	snprintf(m.id, sizeof(m.id), "%s", e->id);
	cleanup_free char *text = xmalloc(ENTRY_MAX);
	size_t len = ovl_mark_format(&m, text);
	for (int i = 0; i < 3; i++)
		len = put_chain(text, len, e->chain[i], e->n[i]);
	struct ovl_replace how = {.tmp = tmp, .mode = 0600};
	if (ovl_replace_file(dir, name, &how, text, len, err) < 0)
		return ovl_error_wrap(err, "%s", OVL_REGISTRY_DIR);
	return 0;
}

static bool parse_chain(const char *line, struct ovl_devino *c, size_t *n)
{
	*n = 0;
	for (const char *p = line; *p == ' ';) {
		int used = 0;
		if (*n == OVL_CHAIN_MAX + 1 ||
		    sscanf(p, " %" SCNu64 ":%" SCNu64 "%n", &c[*n].dev, &c[*n].ino, &used) != 2)
			return false;
		(*n)++;
		p += used;
	}
	return *n > 0;
}

/* An entry as written by write_entry: the mark's text (id and init used), then three chains,
 * the last three lines, so that the reader needs to know nothing of the mark's own lines.
 * false for anything else (skipped: only root writes here). */
static bool read_entry(int dir, const char *name, struct entry *e)
{
	cleanup_close int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	cleanup_free char *text = xmalloc(ENTRY_MAX + 1);
	size_t len = 0;
	while (len <= ENTRY_MAX) {
		ssize_t n = read(fd, text + len, ENTRY_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == 0 || len > ENTRY_MAX || text[len - 1] != '\n')
		return false;
	text[len] = '\0';
	/* the chains: the three lines before the end, cut off from the back */
	char *end = text + len - 1;
	for (int i = 2; i >= 0; i--) {
		*end = '\0';
		char *start = memrchr(text, '\n', (size_t)(end - text));
		if (start == NULL || !parse_chain(start + 1, e->chain[i], &e->n[i]))
			return false;
		end = start;
	}
	struct ovl_mark m;
	ovl_error_t perr = NULL;
	if (ovl_mark_parse(text, (size_t)(end - text) + 1, &m, &perr) < 0) {
		ovl_error_free(&perr);
		return false;
	}
	memcpy(e->id, m.id, sizeof(e->id));
	e->init = m.init;
	return true;
}

/* Whether one of ours is, lies in or contains one of theirs. A layer not made yet (first link
 * 0:0) lies where its parent's chain says and contains nothing. */
static bool overlaps(const struct entry *ours, const struct entry *theirs,
		     struct ovl_registry_conflict *c)
{
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++) {
			const struct ovl_devino *o = ours->chain[i], *t = theirs->chain[j];
			size_t on = ours->n[i], tn = theirs->n[j];
			bool same = o[0].ino && ovl_devino_equal(&o[0], &t[0]);
			bool in = t[0].ino && ovl_devino_in(o, on, &t[0]);
			bool contains = o[0].ino && ovl_devino_in(t, tn, &o[0]);
			if (!same && !in && !contains)
				continue;
			memcpy(c->id, theirs->id, sizeof(c->id));
			c->ours = layer_names[i];
			c->theirs = layer_names[j];
			c->how = same ? "is" : in ? "lies in" : "contains";
			return true;
		}
	return false;
}

/* Our chains: of each layer, or of its parent behind a 0:0 link where it is not made yet. */
static int our_chains(const struct ovl_layers *l, struct entry *e, ovl_error_t *err)
{
	int fds[3] = {l->lower_fd, l->upper_fd >= 0 ? l->upper_fd : l->upper_parent,
		      l->work_fd >= 0 ? l->work_fd : l->work_parent};
	bool missing[3] = {false, l->upper_fd < 0, l->work_fd < 0};
	for (int i = 0; i < 3; i++) {
		struct ovl_devino *c = e->chain[i] + (missing[i] ? 1 : 0);
		if (ovl_dir_chain(fds[i], c, &e->n[i], err) < 0)
			return ovl_error_wrap(err, "%s", layer_names[i]);
		if (missing[i]) {
			e->chain[i][0] = (struct ovl_devino){0, 0};
			e->n[i]++;
		}
	}
	return 0;
}

/* Checks ours against each entry of another container, dropping those whose init is gone.
 * 1 on a conflict. */
static int scan(int dir, const struct entry *ours, struct entry *buf,
		struct ovl_registry_conflict *c, ovl_error_t *err)
{
	cleanup_dir DIR *d = ovl_opendir_dup(dir);
	if (d == NULL)
		return ovl_error(err, errno, "read %s", OVL_REGISTRY_DIR);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strchr(de->d_name, '.'))
			continue;
		if (!read_entry(dir, de->d_name, buf) || strcmp(buf->id, ours->id) == 0)
			continue;
		int alive = ovl_proc_id_alive(&buf->init, err);
		if (alive < 0)
			return -1;
		if (!alive) {
			unlinkat(dir, de->d_name, 0); /* its layers are recovered where they lie */
			continue;
		}
		if (overlaps(ours, buf, c))
			return 1;
	}
	return 0;
}

int ovl_registry_claim(const struct ovl_layers *l, const struct ovl_mark *m,
		       struct ovl_registry_conflict *c, ovl_error_t *err)
{
	if (!registry_kept())
		return 0;
	struct entry *e = xcalloc(2, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", m->id);
	e->init = m->init;
	int r = our_chains(l, e, err);
	cleanup_close int dir = r < 0 ? -1 : open_locked(err);
	if (r == 0 && dir < 0)
		r = -1;
	if (r == 0)
		r = scan(dir, e, &e[1], c, err);
	if (r == 0 && write_entry(dir, e, err) < 0)
		r = -1;
	free(e);
	return r;
}

int ovl_registry_release(const char *id, ovl_error_t *err)
{
	if (!registry_kept())
		return 0;
	cleanup_close int dir = open(OVL_REGISTRY_DIR, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return errno == ENOENT ? 0 : ovl_error(err, errno, "open %s", OVL_REGISTRY_DIR);
	char name[32];
	entry_name(id, name);
	if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
		return ovl_error(err, errno, "remove %s/%s", OVL_REGISTRY_DIR, name);
	return 0;
}
