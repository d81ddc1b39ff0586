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
#include "ovlbox/owners.h"
#include "ovlbox/walk.h"

struct owner_walk {
	uid_t uid;
	gid_t gid;
	bool refuse;		/* fail at the first entry found, and at an unreadable dir */
	size_t max;		/* collecting: entries to keep */
	struct ovl_owners *out; /* collecting */
};

/* An entry (path: relative to the workspace) owned by ids the run cannot map: -1 to stop the
 * walk (refusing), else 0. */
static int found(struct owner_walk *o, const char *path, const struct stat *st, ovl_error_t *err)
{
	if (o->refuse)
		return ovl_error(err, 0,
				 "workspace entry %s is owned by %u:%u; a non-root run maps only "
				 "%u:%u into its user namespace, so the action could not change "
				 "it (chown the workspace, or run as root)",
				 ovl_qp(path), (unsigned)st->st_uid, (unsigned)st->st_gid,
				 (unsigned)o->uid, (unsigned)o->gid);
	struct ovl_owners *out = o->out;
	if (out->n < o->max) {
		out->first = xrealloc(out->first, (out->n + 1) * sizeof(*out->first));
		out->first[out->n++] =
		    (struct ovl_owner_entry){xstrdup(path), st->st_uid, st->st_gid};
	}
	out->total++;
	return 0;
}

/* Entry name of the walk's current directory: its owner checked, entered if a directory. */
static int visit(struct ovl_walk *w, struct owner_walk *o, const char *name, ovl_error_t *err)
{
	struct stat st;
	if (fstatat(ovl_walk_fd(w), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		cleanup_free char *path = ovl_walk_path(w, name);
		return ovl_error(err, errno, "stat workspace entry %s", ovl_qp(path));
	}
	if (st.st_uid != o->uid || st.st_gid != o->gid) {
		cleanup_free char *path = ovl_walk_path(w, name);
		if (found(o, path, &st, err) < 0)
			return -1;
	}
	if (S_ISDIR(st.st_mode) && ovl_walk_push(w, name) < 0 && (o->refuse || errno != EACCES)) {
		cleanup_free char *path = ovl_walk_path(w, name);
		return ovl_error(err, errno, "open workspace dir %s", ovl_qp(path));
	}
	return 0;
}

/* The whole workspace as a walk (walk.h): a bounded number of fds at any depth. */
static int walk(int ws_fd, struct owner_walk *o, ovl_error_t *err)
{
	struct ovl_walk w;
	if (ovl_walk_init(&w, ws_fd, O_RDONLY, false, 0) < 0)
		return ovl_error(err, errno, "open workspace dir .");
	int r = 0;
	while (r == 0) {
		const char *name;
		int n = ovl_walk_next(&w, &name, NULL);
		if (n < 0) {
			cleanup_free char *path = ovl_walk_path(&w, NULL);
			r = ovl_error(err, errno, "read workspace dir %s", ovl_qp(path));
		} else if (n == 0) {
			if (ovl_walk_depth(&w) == 0)
				break;
			if (ovl_walk_pop(&w, NULL) < 0)
				r = ovl_error(err, errno, "walk back up the workspace");
		} else {
			r = visit(&w, o, name, err);
		}
	}
	ovl_walk_free(&w);
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
