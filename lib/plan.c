/* Planning an apply: scan the whole upper layer read-only, validate, and emit journal steps in
 * an order where every step is safe to repeat (see include/ovlbox/journal.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/plan.h"
#include "ovlbox/walk.h"

#define ESCAPED_PREFIX "overlay."

const char *ovl_overlay_prefix(int userxattr)
{
	return userxattr ? "user.overlay." : "trusted.overlay.";
}

const char *ovl_overlay_key(const char *name, int userxattr)
{
	const char *prefix = ovl_overlay_prefix(userxattr);
	size_t n = strlen(prefix);
	if (strncmp(name, prefix, n) != 0 ||
	    strncmp(name + n, ESCAPED_PREFIX, sizeof(ESCAPED_PREFIX) - 1) == 0)
		return NULL;
	return name + n;
}

/* What an upper entry's overlay xattrs say. */
struct xinfo {
	bool opaque;	  /* opaque=y: replace the lower entry, do not merge */
	bool whiteout;	  /* overlay.whiteout on a zero-size file */
	bool fcaps;	  /* security.capability: file capabilities, a privilege like setuid */
	uint32_t protect; /* FS_IMMUTABLE_FL / FS_APPEND_FL from protattr */
	char *forbidden;  /* first attribute made by options ovlbox never uses */
	char **strip;	  /* overlay-private names to remove before the entry moves */
	size_t nstrip;
};

static void xinfo_free(struct xinfo *x)
{
	for (size_t i = 0; i < x->nstrip; i++)
		free(x->strip[i]);
	free(x->strip);
	free(x->forbidden);
	memset(x, 0, sizeof(*x));
}

static void entry_path(char buf[static PATH_MAX + 32], int dirfd, const char *name)
{
	snprintf(buf, PATH_MAX + 32, "/proc/self/fd/%d/%s", dirfd, name);
}

/* Reads dirfd/name's overlay xattrs (without following it). */
static int read_xinfo(int dirfd, const char *name, int userxattr, struct xinfo *x, ovl_error_t *err)
{
	memset(x, 0, sizeof(*x));
	char path[PATH_MAX + 32];
	entry_path(path, dirfd, name);
	char stackbuf[1024];
	char *list = stackbuf;
	cleanup_free char *heap = NULL;
	ssize_t n = llistxattr(path, stackbuf, sizeof(stackbuf));
	if (n < 0 && errno == ERANGE) {
		ssize_t need = llistxattr(path, NULL, 0);
		if (need < 0)
			return ovl_error(err, errno, "listxattr %s", ovl_qp(name));
		heap = xmalloc((size_t)need + 1);
		n = llistxattr(path, heap, (size_t)need);
		list = heap;
	}
	if (n < 0) {
		if (errno == ENOTSUP)
			return 0;
		return ovl_error(err, errno, "listxattr %s", ovl_qp(name));
	}
	for (const char *a = list; a < list + n; a += strlen(a) + 1) {
		if (strcmp(a, "security.capability") == 0)
			x->fcaps = true;
		const char *key = ovl_overlay_key(a, userxattr);
		if (key == NULL)
			continue; /* not overlay's, or escaped: user data, kept as it is */
		if (!strcmp(key, "redirect") || !strcmp(key, "metacopy") || !strcmp(key, "nlink") ||
		    !strcmp(key, "upper")) {
			if (x->forbidden == NULL)
				x->forbidden = xstrdup(a);
			continue;
		}
		char val[16] = "";
		if (!strcmp(key, "opaque") || !strcmp(key, "protattr")) {
			ssize_t vl = lgetxattr(path, a, val, sizeof(val) - 1);
			if (vl < 0)
				return ovl_error(err, errno, "getxattr %s on %s", a, ovl_qp(name));
			val[vl] = '\0';
		}
		if (!strcmp(key, "opaque") && !strcmp(val, "y"))
			x->opaque = true;
		if (!strcmp(key, "whiteout"))
			x->whiteout = true;
		if (!strcmp(key, "protattr"))
			for (const char *c = val; *c; c++)
				x->protect |= *c == 'i'	  ? FS_IMMUTABLE_FL
					      : *c == 'a' ? FS_APPEND_FL
							  : 0;
		x->strip = xrealloc(x->strip, (x->nstrip + 1) * sizeof(char *));
		x->strip[x->nstrip++] = xstrdup(a);
	}
	return 0;
}

static bool is_whiteout_dev(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

/* The one place that decides what an upper entry means (lst NULL: no lower entry). */
static enum ovl_entry_kind entry_kind(const struct stat *st, const struct xinfo *x,
				      const struct stat *lst)
{
	if (is_whiteout_dev(st) || (S_ISREG(st->st_mode) && st->st_size == 0 && x->whiteout))
		return OVL_ENTRY_WHITEOUT;
	if (S_ISDIR(st->st_mode) && !x->opaque && lst && S_ISDIR(lst->st_mode))
		return OVL_ENTRY_MERGE;
	return OVL_ENTRY_REPLACE;
}

struct scan {
	struct ovl_plan *plan;
	struct ovl_plan protect; /* P steps, appended at the very end */
	int userxattr;
	const struct ovl_apply_opts *opts;
	struct ovl_pathbuf path;
};

static void add_step(struct scan *sc, char op, const char *name)
{
	struct ovl_step s = {
	    .op = op, .path = xstrdup(sc->path.s), .name = name ? xstrdup(name) : NULL};
	ovl_plan_add(sc->plan, &s);
}

static int refuse(struct scan *sc, const char *why, ovl_error_t *err)
{
	return ovl_error(err, 0, "%s: %s", ovl_qp(sc->path.s), why);
}

static const char *const lower_protected =
    "the workspace entry is immutable or append-only (chattr +i/+a); it cannot be replaced";

/* The entry below the scan's path that a walk of it is at (name: its entry, or NULL), appended
 * to sc->path for a message; returns what ovl_path_pop() takes back. */
static size_t push_walk_path(struct scan *sc, const struct ovl_walk *w, const char *name)
{
	cleanup_free char *rel = ovl_walk_path(w, name);
	return rel[0] ? ovl_path_push(&sc->path, rel) : sc->path.len;
}

/* Walks the lower directory open as dfd (the scan's path): every entry must be removable. */
static int check_lower_tree(struct scan *sc, int dfd, ovl_error_t *err)
{
	struct ovl_walk w;
	if (ovl_walk_init(&w, dfd, O_RDONLY, false, 0) < 0)
		return ovl_error(err, errno, "stat workspace dir %s", ovl_qp(sc->path.s));
	int r = 0;
	for (;;) {
		const char *name;
		int got = ovl_walk_next(&w, &name, NULL);
		if (got == 0 && ovl_walk_depth(&w) == 0)
			break;
		if (got == 0) {
			if (ovl_walk_pop(&w, NULL) == 0)
				continue;
			name = NULL;
		}
		struct stat st;
		bool prot = false;
		const char *what = got < 0 ? "read" : got == 0 ? "reopen" : NULL;
		if (!what && ovl_lstat_at(ovl_walk_fd(&w), name, &st, &prot) < 0)
			what = "stat";
		if (!what && prot) {
			size_t old = push_walk_path(sc, &w, name);
			r = refuse(sc, lower_protected, err);
			ovl_path_pop(&sc->path, old);
			break;
		}
		if (!what && S_ISDIR(st.st_mode) && ovl_walk_push(&w, name) < 0)
			what = "open";
		if (what) {
			size_t old = push_walk_path(sc, &w, got > 0 ? name : NULL);
			r = ovl_error(err, errno, "%s workspace entry %s", what,
				      ovl_qp(sc->path.s));
			ovl_path_pop(&sc->path, old);
			break;
		}
	}
	ovl_walk_free(&w);
	return r;
}

/* Anything in lower that apply will unlink or rename over must not be immutable/append-only,
 * and neither may the directory holding it. A lower directory to remove is checked whole. */
static int check_lower_removable(struct scan *sc, int lower_dirfd, const char *name,
				 const struct stat *lst, bool prot, ovl_error_t *err)
{
	if (prot)
		return refuse(sc, lower_protected, err);
	if (!S_ISDIR(lst->st_mode))
		return 0;
	cleanup_close int dfd =
	    ovl_openat_noatime(lower_dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return ovl_error(err, errno, "open workspace dir %s", ovl_qp(sc->path.s));
	return check_lower_tree(sc, dfd, err);
}

/* Steps that make one upper entry fit to move into the workspace: strip overlay xattrs, drop
 * setuid/setgid, refuse devices; record chattr flags for the end. */
static int sanitize_entry(struct scan *sc, const struct stat *st, const struct xinfo *x,
			  ovl_error_t *err)
{
	if (x->forbidden)
		return ovl_error(
		    err, 0,
		    "%s: has xattr %s, made by overlay options ovlbox never uses; refusing "
		    "to apply this upper dir",
		    ovl_qp(sc->path.s), x->forbidden);
	if ((S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) && !sc->opts->allow_devices) {
		refuse(sc, "is a device node; refusing to apply it", err);
		return ovl_error_set_reason(err, OVL_REASON_DEVICE_NODE);
	}
	for (size_t i = 0; i < x->nstrip; i++)
		add_step(sc, OVL_STEP_XATTR_STRIP, x->strip[i]);
	if (x->fcaps && !sc->opts->keep_setuid)
		add_step(sc, OVL_STEP_XATTR_STRIP, "security.capability");
	mode_t drop = S_ISDIR(st->st_mode) ? S_ISUID : (S_ISUID | S_ISGID);
	if (!sc->opts->keep_setuid && !S_ISLNK(st->st_mode) && (st->st_mode & drop)) {
		struct ovl_step s = {.op = OVL_STEP_CHMOD,
				     .path = xstrdup(sc->path.s),
				     .mode = (uint32_t)(st->st_mode & 07777 & ~drop)};
		ovl_plan_add(sc->plan, &s);
	}
	if (x->protect) {
		struct ovl_step s = {
		    .op = OVL_STEP_PROTECT, .path = xstrdup(sc->path.s), .flags = x->protect};
		ovl_plan_add(&sc->protect, &s);
	}
	return 0;
}

/* What the scan keeps per level of the upper walk: how the directory is taken, and its metadata
 * for the step that ends it. The levels taken as MERGE are the first ones (the root among
 * them), and the lower walk follows those. */
enum level_mode { LEVEL_MERGE, LEVEL_NEW };

struct stat_times {
	uint32_t mode; /* permission bits */
	uid_t uid;
	gid_t gid;
	struct timespec atime, mtime;
};

struct level {
	unsigned char mode;	/* enum level_mode */
	bool subtree_top;	/* LEVEL_NEW under a LEVEL_MERGE: ends with its REPLACE step */
	bool had_whiteouts;	/* stray whiteouts dropped in it: its times are set again */
	uint32_t protect;	/* LEVEL_MERGE: chattr flags to set at the end */
	struct stat_times meta; /* the upper dir's owner, mode and times */
	size_t path_old;	/* the scan's path length before this level's name */
};

static void add_meta(struct scan *sc, char op, const struct stat_times *m)
{
	struct ovl_step s = {.op = op,
			     .path = xstrdup(sc->path.s),
			     .mode = m->mode,
			     .uid = m->uid,
			     .gid = m->gid,
			     .atime = m->atime,
			     .mtime = m->mtime};
	ovl_plan_add(sc->plan, &s);
}

static struct stat_times meta_of(const struct stat *st)
{
	return (struct stat_times){.mode = st->st_mode & 07777,
				   .uid = st->st_uid,
				   .gid = st->st_gid,
				   .atime = st->st_atim,
				   .mtime = st->st_mtim};
}

/* The walks of a scan: the upper one, read; the lower one, following its MERGE levels. */
struct walks {
	struct ovl_walk up, low;
};

/* Enters upper dir name (the scan's path) as a new level of the upper walk. */
static struct level *enter_upper(struct scan *sc, struct walks *w, const char *name,
				 ovl_error_t *err)
{
	if (ovl_walk_push(&w->up, name) < 0) {
		ovl_error(err, errno, "%s: open upper dir", ovl_qp(sc->path.s));
		return NULL;
	}
	return ovl_walk_data(&w->up, ovl_walk_depth(&w->up));
}

/* An entry of a directory that moves into the workspace whole: stray whiteouts are dropped
 * (and the times of their dir restored afterwards), everything else sanitized; a directory is
 * entered. */
static int scan_new_entry(struct scan *sc, struct walks *w, const char *name, bool *entered,
			  ovl_error_t *err)
{
	int ufd = ovl_walk_fd(&w->up);
	struct stat st;
	if (ovl_lstat_at(ufd, name, &st, NULL) < 0)
		return ovl_error(err, errno, "stat upper entry %s", ovl_qp(sc->path.s));
	struct xinfo x __attribute__((cleanup(xinfo_free)));
	if (read_xinfo(ufd, name, sc->userxattr, &x, err) < 0)
		return -1;
	if (entry_kind(&st, &x, NULL) == OVL_ENTRY_WHITEOUT) {
		add_step(sc, OVL_STEP_UNLINK, NULL);
		struct level *cur = ovl_walk_data(&w->up, ovl_walk_depth(&w->up));
		cur->had_whiteouts = true;
		return 0;
	}
	if (sanitize_entry(sc, &st, &x, err) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return 0;
	struct level *l = enter_upper(sc, w, name, err);
	if (l == NULL)
		return -1;
	*l = (struct level){.mode = LEVEL_NEW, .meta = meta_of(&st)};
	*entered = true;
	return 0;
}

/* An entry of a merged directory: a whiteout, a merged dir (entered on both walks), or a
 * replacement (a directory among them entered as a new subtree). */
static int scan_merge_entry(struct scan *sc, struct walks *w, const char *name, bool *entered,
			    ovl_error_t *err)
{
	int ufd = ovl_walk_fd(&w->up), lfd = ovl_walk_fd(&w->low);
	struct stat st, lst;
	bool lprot = false;
	if (ovl_lstat_at(ufd, name, &st, NULL) < 0)
		return ovl_error(err, errno, "stat upper entry %s", ovl_qp(sc->path.s));
	bool lower_exists = ovl_lstat_at(lfd, name, &lst, &lprot) == 0;
	if (!lower_exists && errno != ENOENT)
		return ovl_error(err, errno, "stat workspace entry %s", ovl_qp(sc->path.s));

	struct xinfo x __attribute__((cleanup(xinfo_free)));
	if (read_xinfo(ufd, name, sc->userxattr, &x, err) < 0)
		return -1;

	enum ovl_entry_kind kind = entry_kind(&st, &x, lower_exists ? &lst : NULL);
	if (kind == OVL_ENTRY_WHITEOUT) {
		if (lower_exists && check_lower_removable(sc, lfd, name, &lst, lprot, err) < 0)
			return -1;
		add_step(sc, OVL_STEP_WHITEOUT, NULL);
		return 0;
	}
	if (kind == OVL_ENTRY_MERGE) {
		if (x.forbidden)
			return sanitize_entry(sc, &st, &x, err);
		if (lprot)
			return refuse(sc,
				      "the workspace dir is immutable or append-only (chattr "
				      "+i/+a); its contents cannot change",
				      err);
		if (ovl_walk_push(&w->low, name) < 0)
			return ovl_error(err, errno, "open workspace dir %s", ovl_qp(sc->path.s));
		struct level *l = enter_upper(sc, w, name, err);
		if (l == NULL) {
			ovl_walk_pop(&w->low, NULL);
			return -1;
		}
		st.st_mode &= ~(mode_t)(sc->opts->keep_setuid ? 0 : S_ISUID);
		*l =
		    (struct level){.mode = LEVEL_MERGE, .protect = x.protect, .meta = meta_of(&st)};
		*entered = true;
		return 0;
	}
	/* Replace: a non-directory, or a directory that comes in whole. */
	if (lower_exists && check_lower_removable(sc, lfd, name, &lst, lprot, err) < 0)
		return -1;
	if (sanitize_entry(sc, &st, &x, err) < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		struct level *l = enter_upper(sc, w, name, err);
		if (l == NULL)
			return -1;
		*l = (struct level){.mode = LEVEL_NEW, .subtree_top = true, .meta = meta_of(&st)};
		*entered = true;
		return 0;
	}
	struct ovl_step s = {.op = OVL_STEP_REPLACE, .path = xstrdup(sc->path.s), .is_dir = false};
	ovl_plan_add(sc->plan, &s);
	return 0;
}

/* The steps that end a directory level, once everything in it is planned; then leaves it. */
static int leave_level(struct scan *sc, struct walks *w, ovl_error_t *err)
{
	struct level l = *(struct level *)ovl_walk_data(&w->up, ovl_walk_depth(&w->up));
	if (l.mode == LEVEL_MERGE) {
		if (l.protect) {
			struct ovl_step s = {.op = OVL_STEP_PROTECT,
					     .path = xstrdup(sc->path.s),
					     .flags = l.protect};
			ovl_plan_add(&sc->protect, &s);
		}
		add_meta(sc, OVL_STEP_DIR, &l.meta);
	} else if (l.had_whiteouts) {
		add_meta(sc, OVL_STEP_TIMES, &l.meta);
	}
	if (l.subtree_top) {
		struct ovl_step s = {
		    .op = OVL_STEP_REPLACE, .path = xstrdup(sc->path.s), .is_dir = true};
		ovl_plan_add(sc->plan, &s);
	}
	if (ovl_walk_pop(&w->up, NULL) < 0 ||
	    (l.mode == LEVEL_MERGE && ovl_walk_pop(&w->low, NULL) < 0))
		return ovl_error(err, errno, "back from upper dir %s", ovl_qp(sc->path.s));
	ovl_path_pop(&sc->path, l.path_old);
	return 0;
}

/* Plans the whole upper tree below its root, one level of the walks at a time: no recursion,
 * and a bounded number of fds, whatever the depth. */
static int scan_tree(struct scan *sc, struct walks *w, ovl_error_t *err)
{
	struct level *root = ovl_walk_data(&w->up, 0);
	root->mode = LEVEL_MERGE;
	for (;;) {
		const char *name;
		int got = ovl_walk_next(&w->up, &name, NULL);
		if (got < 0)
			return ovl_error(err, errno, "readdir upper dir %s", ovl_qp(sc->path.s));
		if (got == 0) {
			if (ovl_walk_depth(&w->up) == 0)
				return 0;
			if (leave_level(sc, w, err) < 0)
				return -1;
			continue;
		}
		size_t old = ovl_path_push(&sc->path, name);
		const struct level *cur = ovl_walk_data(&w->up, ovl_walk_depth(&w->up));
		bool entered = false;
		int r = cur->mode == LEVEL_MERGE ? scan_merge_entry(sc, w, name, &entered, err)
						 : scan_new_entry(sc, w, name, &entered, err);
		if (r < 0)
			return -1;
		if (entered)
			((struct level *)ovl_walk_data(&w->up, ovl_walk_depth(&w->up)))->path_old =
			    old;
		else
			ovl_path_pop(&sc->path, old);
	}
}

int ovl_plan_build(int lower_fd, int upper_fd, int userxattr, const struct ovl_apply_opts *opts,
		   struct ovl_plan *plan, ovl_error_t *err)
{
	struct scan sc = {.plan = plan, .userxattr = userxattr, .opts = opts};
	memset(plan, 0, sizeof(*plan));
	plan->userxattr = userxattr;
	ovl_path_push(&sc.path, "");
	int r = -1;

	struct xinfo x __attribute__((cleanup(xinfo_free)));
	struct stat ust, lst;
	bool lprot = false;
	struct walks w = {0};
	bool walking = false;
	if (read_xinfo(upper_fd, ".", userxattr, &x, err) < 0)
		goto out;
	for (size_t i = 0; i < x.nstrip; i++)
		if (strcmp(x.strip[i] + strlen(ovl_overlay_prefix(userxattr)), "origin") == 0 &&
		    x.forbidden == NULL)
			x.forbidden = xstrdup(x.strip[i]);
	if (x.forbidden) {
		ovl_error(err, 0,
			  "upper root has xattr %s, made by overlay options ovlbox never uses; "
			  "refusing to apply it",
			  x.forbidden);
		goto out;
	}
	if (fstat(upper_fd, &ust) < 0 || ovl_lstat_at(lower_fd, "", &lst, &lprot) < 0) {
		ovl_error(err, errno, "stat layer roots");
		goto out;
	}
	if (lprot) {
		ovl_error(err, 0, "the workspace root is immutable or append-only (chattr +i/+a)");
		goto out;
	}
	if (ovl_walk_init(&w.up, upper_fd, O_RDONLY, false, sizeof(struct level)) < 0 ||
	    ovl_walk_init(&w.low, lower_fd, O_PATH, false, 0) < 0) {
		ovl_error(err, errno, "stat layer roots");
		goto out;
	}
	walking = true;
	if (scan_tree(&sc, &w, err) < 0)
		goto out;
	ust.st_mode &= ~(mode_t)(opts->keep_setuid ? 0 : S_ISUID);
	struct stat_times root = meta_of(&ust);
	add_meta(&sc, OVL_STEP_DIR, &root);
	add_step(&sc, OVL_STEP_END, NULL);
	for (size_t i = 0; i < sc.protect.n; i++)
		ovl_plan_add(plan, &sc.protect.steps[i]);
	free(sc.protect.steps);
	sc.protect.steps = NULL;
	sc.protect.n = 0;
	r = 0;
out:
	if (walking) {
		ovl_walk_free(&w.up);
		ovl_walk_free(&w.low);
	}
	ovl_plan_free(&sc.protect);
	free(sc.path.s);
	if (r < 0)
		ovl_plan_free(plan);
	return r;
}

int ovl_classify(int upper_dirfd, const char *name, const struct stat *st, int lower_dirfd,
		 int userxattr, enum ovl_entry_kind *kind, ovl_error_t *err)
{
	struct xinfo x __attribute__((cleanup(xinfo_free)));
	if (read_xinfo(upper_dirfd, name, userxattr, &x, err) < 0)
		return -1;
	struct stat lst;
	bool lower = lower_dirfd >= 0 && ovl_lstat_at(lower_dirfd, name, &lst, NULL) == 0;
	*kind = entry_kind(st, &x, lower ? &lst : NULL);
	return 0;
}
