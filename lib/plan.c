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

#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/plan.h"

const char *ovl_overlay_prefix(int userxattr)
{
	return userxattr ? "user.overlay." : "trusted.overlay.";
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
		heap = malloc((size_t)need + 1);
		if (heap == NULL)
			abort();
		n = llistxattr(path, heap, (size_t)need);
		list = heap;
	}
	if (n < 0) {
		if (errno == ENOTSUP)
			return 0;
		return ovl_error(err, errno, "listxattr %s", ovl_qp(name));
	}
	const char *prefix = ovl_overlay_prefix(userxattr);
	size_t plen = strlen(prefix);
	for (const char *a = list; a < list + n; a += strlen(a) + 1) {
		if (strcmp(a, "security.capability") == 0)
			x->fcaps = true;
		if (strncmp(a, prefix, plen) != 0)
			continue;
		const char *key = a + plen;
		if (strncmp(key, "overlay.", 8) == 0)
			continue; /* escaped: user data, kept as it is */
		if (!strcmp(key, "redirect") || !strcmp(key, "metacopy") || !strcmp(key, "nlink") ||
		    !strcmp(key, "upper")) {
			if (x->forbidden == NULL && (x->forbidden = strdup(a)) == NULL)
				abort();
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
		x->strip = realloc(x->strip, (x->nstrip + 1) * sizeof(char *));
		if (x->strip == NULL || (x->strip[x->nstrip++] = strdup(a)) == NULL)
			abort();
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

/* A path builder: components appended and removed as the scan descends. */
struct pathbuf {
	char *s;
	size_t len, cap;
};

static size_t path_push(struct pathbuf *p, const char *name)
{
	size_t old = p->len, n = strlen(name);
	if (p->len + n + 2 > p->cap) {
		p->cap = (p->len + n + 2) * 2;
		p->s = realloc(p->s, p->cap);
		if (p->s == NULL)
			abort();
	}
	if (p->len)
		p->s[p->len++] = '/';
	memcpy(p->s + p->len, name, n + 1);
	p->len += n;
	return old;
}

static void path_pop(struct pathbuf *p, size_t old)
{
	p->len = old;
	p->s[old] = '\0';
}

struct scan {
	struct ovl_plan *plan;
	struct ovl_plan protect; /* P steps, appended at the very end */
	int userxattr;
	const struct ovl_apply_opts *opts;
	struct pathbuf path;
};

static char *dupstr(const char *s)
{
	char *d = strdup(s);
	if (d == NULL)
		abort();
	return d;
}

static void add_step(struct scan *sc, char op, const char *name)
{
	struct ovl_step s = {
	    .op = op, .path = dupstr(sc->path.s), .name = name ? dupstr(name) : NULL};
	ovl_plan_add(sc->plan, &s);
}

static void add_times(struct scan *sc, char op, const struct stat *st)
{
	struct ovl_step s = {.op = op,
			     .path = dupstr(sc->path.s),
			     .mode = st->st_mode & 07777,
			     .uid = st->st_uid,
			     .gid = st->st_gid,
			     .atime = st->st_atim,
			     .mtime = st->st_mtim};
	ovl_plan_add(sc->plan, &s);
}

static int refuse(struct scan *sc, const char *why, ovl_error_t *err)
{
	return ovl_error(err, 0, "%s: %s", ovl_qp(sc->path.s), why);
}

/* Anything in lower that apply will unlink or rename over must not be immutable/append-only,
 * and neither may the directory holding it. A lower directory to remove is checked whole. */
static int check_lower_removable(struct scan *sc, int lower_dirfd, const char *name,
				 const struct stat *lst, bool prot, ovl_error_t *err)
{
	if (prot)
		return refuse(sc,
			      "the workspace entry is immutable or append-only (chattr +i/+a); "
			      "it cannot be replaced",
			      err);
	if (!S_ISDIR(lst->st_mode))
		return 0;
	cleanup_close int dfd =
	    ovl_openat_noatime(lower_dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return ovl_error(err, errno, "open workspace dir %s", ovl_qp(sc->path.s));
	cleanup_dir DIR *d = ovl_opendir_dup(dfd);
	if (d == NULL)
		return ovl_error(err, errno, "opendir workspace dir %s", ovl_qp(sc->path.s));
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		bool p = false;
		if (ovl_lstat_at(dfd, de->d_name, &st, &p) < 0)
			return ovl_error(err, errno, "stat workspace entry %s/%s",
					 ovl_qp(sc->path.s), ovl_qp(de->d_name));
		size_t old = path_push(&sc->path, de->d_name);
		int r = check_lower_removable(sc, dfd, de->d_name, &st, p, err);
		path_pop(&sc->path, old);
		if (r < 0)
			return -1;
	}
	return 0;
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
	if ((S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) && !sc->opts->allow_devices)
		return refuse(sc, "is a device node; refusing to apply it (use --allow-devices)",
			      err);
	for (size_t i = 0; i < x->nstrip; i++)
		add_step(sc, OVL_STEP_XATTR_STRIP, x->strip[i]);
	if (x->fcaps && !sc->opts->keep_setuid)
		add_step(sc, OVL_STEP_XATTR_STRIP, "security.capability");
	mode_t drop = S_ISDIR(st->st_mode) ? S_ISUID : (S_ISUID | S_ISGID);
	if (!sc->opts->keep_setuid && !S_ISLNK(st->st_mode) && (st->st_mode & drop)) {
		struct ovl_step s = {.op = OVL_STEP_CHMOD,
				     .path = dupstr(sc->path.s),
				     .mode = (uint32_t)(st->st_mode & 07777 & ~drop)};
		ovl_plan_add(sc->plan, &s);
	}
	if (x->protect) {
		struct ovl_step s = {
		    .op = OVL_STEP_PROTECT, .path = dupstr(sc->path.s), .flags = x->protect};
		ovl_plan_add(&sc->protect, &s);
	}
	return 0;
}

static int open_dir_stream(int dirfd, const char *name, int *fd_out, DIR **d_out, ovl_error_t *err)
{
	int fd = ovl_openat_noatime(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ovl_error(err, errno, "open upper dir");
	DIR *d = ovl_opendir_dup(fd);
	if (d == NULL) {
		int e = errno;
		close(fd);
		return ovl_error(err, e, "opendir upper dir");
	}
	*fd_out = fd;
	*d_out = d;
	return 0;
}

/* A directory that moves into the workspace whole: every entry below is sanitized, stray
 * whiteouts are dropped and the times of the dirs that held them restored afterwards. */
static int scan_new_subtree(struct scan *sc, int udirfd, const char *name, const struct stat *dst,
			    ovl_error_t *err)
{
	cleanup_close int ufd = -1;
	cleanup_dir DIR *d = NULL;
	if (open_dir_stream(udirfd, name, &ufd, &d, err) < 0)
		return ovl_error_wrap(err, "%s", ovl_qp(sc->path.s));
	bool had_whiteouts = false;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		size_t old = path_push(&sc->path, de->d_name);
		struct stat st;
		int r = 0;
		if (ovl_lstat_at(ufd, de->d_name, &st, NULL) < 0) {
			r = ovl_error(err, errno, "stat upper entry %s", ovl_qp(sc->path.s));
		} else {
			struct xinfo x;
			r = read_xinfo(ufd, de->d_name, sc->userxattr, &x, err);
			if (r == 0 && entry_kind(&st, &x, NULL) == OVL_ENTRY_WHITEOUT) {
				add_step(sc, OVL_STEP_UNLINK, NULL);
				had_whiteouts = true;
			} else if (r == 0) {
				r = sanitize_entry(sc, &st, &x, err);
				if (r == 0 && S_ISDIR(st.st_mode))
					r = scan_new_subtree(sc, ufd, de->d_name, &st, err);
			}
			xinfo_free(&x);
		}
		path_pop(&sc->path, old);
		if (r < 0)
			return -1;
		errno = 0;
	}
	if (errno != 0)
		return ovl_error(err, errno, "readdir upper dir %s", ovl_qp(sc->path.s));
	if (had_whiteouts)
		add_times(sc, OVL_STEP_TIMES, dst);
	return 0;
}

static int scan_merge_dir(struct scan *sc, int ufd, DIR *d, int lfd, ovl_error_t *err);

static int scan_entry(struct scan *sc, int ufd, int lfd, const char *name, ovl_error_t *err)
{
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
		cleanup_close int cufd = -1;
		cleanup_dir DIR *cd = NULL;
		if (open_dir_stream(ufd, name, &cufd, &cd, err) < 0)
			return ovl_error_wrap(err, "%s", ovl_qp(sc->path.s));
		cleanup_close int clfd =
		    openat(lfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (clfd < 0)
			return ovl_error(err, errno, "open workspace dir %s", ovl_qp(sc->path.s));
		if (scan_merge_dir(sc, cufd, cd, clfd, err) < 0)
			return -1;
		if (x.protect) {
			struct ovl_step s = {
			    .op = OVL_STEP_PROTECT, .path = dupstr(sc->path.s), .flags = x.protect};
			ovl_plan_add(&sc->protect, &s);
		}
		st.st_mode &= ~(mode_t)(sc->opts->keep_setuid ? 0 : S_ISUID);
		add_times(sc, OVL_STEP_DIR, &st);
		return 0;
	}
	/* Replace: a non-directory, or a directory that comes in whole. */
	if (lower_exists && check_lower_removable(sc, lfd, name, &lst, lprot, err) < 0)
		return -1;
	if (sanitize_entry(sc, &st, &x, err) < 0)
		return -1;
	if (S_ISDIR(st.st_mode) && scan_new_subtree(sc, ufd, name, &st, err) < 0)
		return -1;
	struct ovl_step s = {
	    .op = OVL_STEP_REPLACE, .path = dupstr(sc->path.s), .is_dir = S_ISDIR(st.st_mode)};
	ovl_plan_add(sc->plan, &s);
	return 0;
}

static int scan_merge_dir(struct scan *sc, int ufd, DIR *d, int lfd, ovl_error_t *err)
{
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		size_t old = path_push(&sc->path, de->d_name);
		int r = scan_entry(sc, ufd, lfd, de->d_name, err);
		path_pop(&sc->path, old);
		if (r < 0)
			return -1;
		errno = 0;
	}
	if (errno != 0)
		return ovl_error(err, errno, "readdir upper dir %s", ovl_qp(sc->path.s));
	return 0;
}

int ovl_plan_build(int lower_fd, int upper_fd, int userxattr, const struct ovl_apply_opts *opts,
		   struct ovl_plan *plan, ovl_error_t *err)
{
	struct scan sc = {.plan = plan, .userxattr = userxattr, .opts = opts};
	memset(plan, 0, sizeof(*plan));
	plan->userxattr = userxattr;
	path_push(&sc.path, "");
	int r = -1;

	struct xinfo x __attribute__((cleanup(xinfo_free)));
	struct stat ust, lst;
	bool lprot = false;
	cleanup_dir DIR *d = NULL;
	if (read_xinfo(upper_fd, ".", userxattr, &x, err) < 0)
		goto out;
	for (size_t i = 0; i < x.nstrip; i++)
		if (strcmp(x.strip[i] + strlen(ovl_overlay_prefix(userxattr)), "origin") == 0 &&
		    x.forbidden == NULL)
			x.forbidden = dupstr(x.strip[i]);
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
	d = ovl_opendir_dup(upper_fd);
	if (d == NULL) {
		ovl_error(err, errno, "opendir upper root");
		goto out;
	}
	if (lprot) {
		ovl_error(err, 0, "the workspace root is immutable or append-only (chattr +i/+a)");
		goto out;
	}
	if (scan_merge_dir(&sc, upper_fd, d, lower_fd, err) < 0)
		goto out;
	ust.st_mode &= ~(mode_t)(opts->keep_setuid ? 0 : S_ISUID);
	add_times(&sc, OVL_STEP_DIR, &ust);
	add_step(&sc, OVL_STEP_END, NULL);
	for (size_t i = 0; i < sc.protect.n; i++)
		ovl_plan_add(plan, &sc.protect.steps[i]);
	free(sc.protect.steps);
	sc.protect.steps = NULL;
	sc.protect.n = 0;
	r = 0;
out:
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
