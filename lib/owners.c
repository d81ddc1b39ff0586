/* Workspace entries whose owner a rootless run cannot map (see include/ovlbox/owners.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/owners.h"

struct owner_walk {
	char *path; /* the entry being looked at, relative to the workspace */
	size_t cap;
	uid_t uid;
	gid_t gid;
	bool refuse;		/* fail at the first entry found, and at an unreadable dir */
	size_t max;		/* collecting: entries to keep */
	struct ovl_owners *out; /* collecting */
};

/* Appends name to w->path at len; returns the new length. */
static size_t path_push(struct owner_walk *w, size_t len, const char *name)
{
	size_t sub = len + strlen(name) + (len ? 1 : 0);
	if (sub + 1 > w->cap) {
		w->cap = (sub + 1) * 2;
		w->path = xrealloc(w->path, w->cap);
	}
	if (len)
		w->path[len] = '/';
	memcpy(w->path + len + (len ? 1 : 0), name, sub - len - (len ? 1 : 0) + 1);
	return sub;
}

/* An entry owned by ids the run cannot map: -1 to stop the walk (refusing), else 0. */
static int found(struct owner_walk *w, const struct stat *st, ovl_error_t *err)
{
	if (w->refuse)
		return ovl_error(err, 0,
				 "workspace entry %s is owned by %u:%u; a non-root run maps only "
				 "%u:%u into its user namespace, so the action could not change "
				 "it (chown the workspace, or run as root)",
				 ovl_qp(w->path), (unsigned)st->st_uid, (unsigned)st->st_gid,
				 (unsigned)w->uid, (unsigned)w->gid);
	struct ovl_owners *o = w->out;
	if (o->n < w->max) {
		o->first = xrealloc(o->first, (o->n + 1) * sizeof(*o->first));
		o->first[o->n++] =
		    (struct ovl_owner_entry){xstrdup(w->path), st->st_uid, st->st_gid};
	}
	o->total++;
	return 0;
}

static int walk_at(int dfd, struct owner_walk *w, size_t len, ovl_error_t *err)
{
	cleanup_dir DIR *d = ovl_opendir_dup(dfd);
	if (d == NULL)
		return ovl_error(err, errno, "open workspace dir %s", ovl_qp(len ? w->path : "."));
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		size_t sub = path_push(w, len, de->d_name);
		struct stat st;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return ovl_error(err, errno, "stat workspace entry %s", ovl_qp(w->path));
		if ((st.st_uid != w->uid || st.st_gid != w->gid) && found(w, &st, err) < 0)
			return -1;
		if (S_ISDIR(st.st_mode)) {
			cleanup_close int c = openat(
			    dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (c < 0 && (w->refuse || errno != EACCES))
				return ovl_error(err, errno, "open workspace dir %s",
						 ovl_qp(w->path));
			if (c >= 0 && walk_at(c, w, sub, err) < 0)
				return -1;
		}
		w->path[len] = '\0';
	}
	return 0;
}

static int walk(int ws_fd, struct owner_walk *w, ovl_error_t *err)
{
	w->cap = 256;
	w->path = xcalloc(1, w->cap);
	int r = walk_at(ws_fd, w, 0, err);
	free(w->path);
	return r;
}

int ovl_owners_check_root(int ws_fd, const char *ws, uid_t uid, gid_t gid, ovl_error_t *err)
{
	struct stat st;
	if (fstat(ws_fd, &st) < 0)
		return ovl_error(err, errno, "workspace %s", ovl_qp(ws));
	if (st.st_uid != uid || st.st_gid != gid)
		return ovl_error(err, 0,
				 "workspace %s is owned by %u:%u; a non-root run maps only %u:%u "
				 "into its user namespace (chown the workspace, or run as root)",
				 ovl_qp(ws), (unsigned)st.st_uid, (unsigned)st.st_gid,
				 (unsigned)uid, (unsigned)gid);
	return 0;
}

int ovl_owners_refuse(int ws_fd, uid_t uid, gid_t gid, ovl_error_t *err)
{
	struct owner_walk w = {.uid = uid, .gid = gid, .refuse = true};
	return walk(ws_fd, &w, err);
}

int ovl_owners_collect(int ws_fd, const char *ws, uid_t uid, gid_t gid, size_t max,
		       struct ovl_owners *out, ovl_error_t *err)
{
	memset(out, 0, sizeof(*out));
	struct owner_walk w = {.uid = uid, .gid = gid, .max = max, .out = out};
	if (walk(ws_fd, &w, err) < 0)
		return ovl_error_wrap(err, "look for unmapped owners in %s", ovl_qp(ws));
	return 0;
}

void ovl_owners_free(struct ovl_owners *o)
{
	while (o->n > 0)
		free(o->first[--o->n].path);
	free(o->first);
	o->first = NULL;
	o->total = 0;
}
