/* The stages an executor runs on a running container between two actions ("recycled runners"):
 *
 *   unmount  the overlay off the workspace destination in the container (never lazily: a
 *            busy workspace is refused, naming its holders), then the on-exit as poststop
 *            carries it out;
 *   mount    a fresh overlay over the destination, as the mount stage makes it.
 *
 * overlayfs forbids changing its layers while mounted, so the executor reads the outputs and
 * stages the next inputs only in between, while the container sees its workspace read-only
 * (the mount stage sealed the bind mount under the overlay).
 *
 * Crash safety: unmount records the on-exit of the call in the mark before it unmounts, marks
 * the layers unmounted once the overlay is off, and only then applies (journal) or discards.
 * Killed anywhere, it leaves either the overlay mounted with the mark saying so (nothing
 * happened), or no overlay and a mark saying what is left to do, which the next mount,
 * unmount, poststop or `ovlbox apply` does. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hook.h"
#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/holders.h"
#include "ovlbox/json.h"
#include "ovlbox/log.h"
#include "ovlbox/owner.h"
#include "ovlbox/ready.h"
#include "ovlbox/stats.h"

/* How long --kill waits for the holders to exit. */
#define KILL_WAIT_MS 10000
/* Holders named in the busy line. */
#define HOLDERS_SHOWN 5

/* What a running stage found out about the container and its layers. */
struct running {
	struct ovl_ns_target t;
	int proc_fd;   /* the host's /proc */
	bool in_child; /* in a child that entered the container's user namespace (and a copy of
			  the caller's mount namespace) */
	bool has_mark; /* mark holds the layers' mark */
	struct ovl_mark mark;
	bool mounted; /* ov is an overlay of these layers in the container's mount namespace */
	struct ovl_overlay_mount ov;
};

static void running_close(struct running *r)
{
	ovl_ns_target_close(&r->t);
	ovl_closep(&r->proc_fd);
}

static int check_running_state(const struct hook_ctx *ctx, ovl_error_t *err)
{
	const struct ovl_oci_state *s = &ctx->state;
	if (s->status == NULL || strcmp(s->status, "running") != 0)
		return ovl_error(err, 0,
				 "state: status %s: the mount and unmount stages are for a running "
				 "container",
				 s->status ? ovl_qp(s->status) : "missing");
	if (!s->has_pid)
		return ovl_error(err, 0,
				 "state: pid: missing (the container's init, as the "
				 "host numbers it)");
	if (s->pid <= 1)
		return ovl_error(err, 0,
				 "state: pid: %lld is not a container's init as the host "
				 "numbers it",
				 (long long)s->pid);
	return hook_check_state_id(ctx, err);
}

/* The state's pid must be the init of its pid namespace (when it has its own): the last
 * number of NSpid in its status. */
static int check_init_pid(const struct hook_ctx *ctx, int proc_fd, ovl_error_t *err)
{
	long long pid = (long long)ctx->state.pid;
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "%lld/status", pid);
	cleanup_close int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n < 0)
		return ovl_error(err, errno, "state: pid %lld", pid);
	buf[n] = '\0';
	const char *p = strstr(buf, "\nNSpid:");
	if (p == NULL)
		return 0; /* a kernel without pid namespaces */
	p += 7;
	long long first = 0, last = 0;
	int count = 0;
	for (char *end;; p = end) {
		long long v = strtoll(p, &end, 10);
		if (end == p)
			break;
		if (count++ == 0)
			first = v;
		last = v;
	}
	if (count > 1 && last != 1)
		return ovl_error(err, 0,
				 "state: pid %lld is not a container's init (it is pid %lld in its "
				 "pid namespace)",
				 first, last);
	return 0;
}

/* The mark must be this container's, on these directories, naming the state's pid as init. */
static int check_own_mark(const struct hook_ctx *ctx, const struct ovl_mark *m, ovl_error_t *err)
{
	const struct ovl_layers *l = &ctx->layers;
	if (strcmp(m->id, ctx->state.id) != 0)
		return ovl_error(
		    err, 0,
		    "the layers of %s belong to container %s, not %s: refused, nothing "
		    "changed",
		    ovl_qp(l->lower), ovl_qp(m->id), ovl_qp(ctx->state.id));
	if (!ovl_layers_match_mark(l, m))
		return ovl_layers_refuse_swapped(&ctx->layers, m->id, err);
	if (m->legacy || m->init.pid <= 0)
		return 0;
	struct ovl_proc_id now;
	if (ovl_proc_id_of(ctx->state.pid, &now, err) < 0)
		return ovl_error_wrap(err, "state: pid");
	if (now.pid != m->init.pid || now.starttime != m->init.starttime ||
	    strcmp(now.boot_id, m->init.boot_id) != 0)
		return ovl_error(err, 0,
				 "state: pid %lld is not the init of container %s (its mount stage "
				 "recorded pid %lld): refused, nothing changed",
				 (long long)ctx->state.pid, ovl_qp(m->id), (long long)m->init.pid);
	return 0;
}

/* Sets up r: the container's namespaces, the host's /proc, the checks of the state's pid. */
static int open_running(struct hook_ctx *ctx, struct running *r, ovl_error_t *err)
{
	*r = (struct running){.t = OVL_NS_TARGET_INIT, .proc_fd = -1};
	if (check_running_state(ctx, err) < 0)
		return -1;
	r->proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->proc_fd < 0)
		return ovl_error(err, errno, "open /proc");
	if (check_init_pid(ctx, r->proc_fd, err) < 0)
		return -1;
	return hook_open_target(ctx, false, &r->t, err);
}

/* ---- the unmount itself ---- */

struct carry_job {
	struct hook_ctx *ctx;
	struct running *r;
	enum ovl_on_exit on_exit;
};

static int carry_out_in_userns(void *arg, ovl_error_t *err)
{
	struct carry_job *j = arg;
	if (ovl_ns_enter_user(&j->r->t, err) < 0)
		return -1;
	return hook_carry_out(j->ctx, j->on_exit, NULL, err);
}

/* hook_carry_out, as the container's root where the caller is not root (see hook_unmount). */
static int carry_out_as_root(struct hook_ctx *ctx, struct running *r, enum ovl_on_exit on_exit,
			     ovl_error_t *err)
{
	struct carry_job j = {ctx, r, on_exit};
	int c = r->t.user_fd >= 0 && geteuid() != 0 && !r->in_child
		    ? hook_in_child(carry_out_in_userns, &j, err)
		    : hook_carry_out(ctx, on_exit, NULL, err);
	return c < 0 || ovl_layers_reopen(&ctx->layers, err) < 0 ? -1 : 0;
}

/* An apply that was interrupted (an unmount killed while applying) is finished first,
 * whatever else: it ran with no overlay mounted, and the upper may be gone already, so the
 * mark's identities no longer match. */
static int finish_journal(struct hook_ctx *ctx, struct running *r, ovl_error_t *err)
{
	int st = ovl_layers_state(&ctx->layers, err);
	if (st != OVL_STATE_JOURNAL)
		return st < 0 ? -1 : 0;
	ovl_warn("workspace %s: finishing an interrupted apply first", ovl_qp(ctx->layers.lower));
	return carry_out_as_root(ctx, r, OVL_ON_EXIT_APPLY, err);
}

struct away {
	int root, cwd; /* the hook's own, to come back to */
};

static int go_in(const struct running *r, struct away *a, ovl_error_t *err)
{
	a->root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	a->cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (a->root < 0 || a->cwd < 0 || ovl_ns_enter_mnt(&r->t, err) < 0) {
		int e = errno;
		ovl_closep(&a->root);
		ovl_closep(&a->cwd);
		return *err ? -1 : ovl_error(err, e, "open the hook's own root and cwd");
	}
	return 0;
}

/* Back in the hook's own mount namespace (the apply reaches layer entries through the host's
 * /proc/self/fd). Failing that the hook stops there. */
static void come_out(const struct running *r, struct away *a)
{
	if (setns(r->t.home_mnt_fd, CLONE_NEWNS) < 0 || fchdir(a->root) < 0 || chroot(".") < 0 ||
	    fchdir(a->cwd) < 0) {
		ovl_errorf("return to the hook's mount namespace: %s", strerror(errno));
		_exit(1);
	}
	ovl_closep(&a->root);
	ovl_closep(&a->cwd);
}

/* In the container's mount namespace: the destination's parent, and the destination's name in
 * it, where the overlay must be the mount on top. */
static int open_dest_parent(struct hook_ctx *ctx, uint64_t mnt_id, const char **base,
			    ovl_error_t *err)
{
	cleanup_close int rootfs = hook_open_rootfs(ctx, err);
	if (rootfs < 0)
		return -1;
	cleanup_free char *rel = xstrdup(ctx->dest_rel);
	char *slash = strrchr(rel, '/');
	*base = slash ? ctx->dest_rel + (slash - rel) + 1 : ctx->dest_rel;
	if (slash)
		*slash = '\0';
	cleanup_close int parent = ovl_ns_open_in_rootfs(rootfs, slash ? rel : "", err);
	if (parent < 0)
		return ovl_error_wrap(err, "workspace destination %s", ovl_qp(ctx->destination));
	struct statx stx;
	if (statx(parent, *base, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID | STATX_TYPE, &stx) < 0)
		return ovl_error(err, errno, "workspace destination %s", ovl_qp(ctx->destination));
	if (!S_ISDIR(stx.stx_mode) || !(stx.stx_mask & STATX_MNT_ID) || stx.stx_mnt_id != mnt_id)
		return ovl_error(err, 0,
				 "workspace destination %s in the container: the overlay of %s is "
				 "not the mount on top of it: refused, nothing changed",
				 ovl_qp(ctx->destination), ovl_qp(ctx->layers.lower));
	return ovl_steal_fd(&parent);
}

/* Unmounts the overlay from the destination in the container's mount namespace: 0, 1 if it is
 * busy (EBUSY), -1 on error. The name is looked up again from an fd of its parent: an fd of the
 * overlay itself would hold it busy. */
static int umount_overlay(struct hook_ctx *ctx, const struct running *r, ovl_error_t *err)
{
	/* the host's /proc/self/fd: the paths below go through it, from inside too */
	cleanup_close int fd_dir = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd_dir < 0)
		return ovl_error(err, errno, "open /proc/self/fd");
	struct away a;
	if (go_in(r, &a, err) < 0)
		return -1;
	const char *base = NULL;
	int parent = open_dest_parent(ctx, r->ov.mnt_id, &base, err);
	int res = parent < 0 ? -1 : 0;
	if (res == 0) {
		char path[64 + PATH_MAX];
		snprintf(path, sizeof(path), "%d/%s", parent, base);
		if (fchdir(fd_dir) < 0)
			res = ovl_error(err, errno, "enter /proc/self/fd");
		else if (umount2(path, UMOUNT_NOFOLLOW) == 0)
			res = 0;
		else if (errno == EBUSY)
			res = 1;
		else
			res = ovl_error(err, errno, "unmount the overlay from %s in the container",
					ovl_qp(ctx->destination));
		close(parent);
	}
	come_out(r, &a);
	return res;
}

/* Reads the mark and whether an overlay of the layers is mounted in the container. */
static int inspect(struct hook_ctx *ctx, struct running *r, ovl_error_t *err)
{
	const struct ovl_layers *l = &ctx->layers;
	int m = ovl_layers_mark(l, &r->mark, err);
	if (m < 0)
		return -1;
	r->has_mark = m == 1;
	int f = ovl_overlay_find(r->proc_fd, ctx->state.pid, l->upper, l->work, &r->ov, err);
	if (f < 0)
		return ovl_error_wrap(err, "the container's mounts");
	r->mounted = f == 1;
	if (r->has_mark && !r->mounted && l->upper_fd < 0 &&
	    strcmp(r->mark.id, ctx->state.id) == 0) {
		/* an apply (or discard) removed the upper and was stopped before the work dir
		 * went: nothing is left but that */
		ovl_warn("workspace %s: removing the work dir an interrupted apply left",
			 ovl_qp(l->lower));
		r->has_mark = false;
		return carry_out_as_root(ctx, r, OVL_ON_EXIT_DISCARD, err);
	}
	if (!r->has_mark && r->mounted)
		return ovl_error(
		    err, 0,
		    "an overlay of %s is mounted in container %s, but its layers carry "
		    "no mark: refused, nothing changed",
		    ovl_qp(l->lower), ovl_qp(ctx->state.id));
	if (r->has_mark && strcmp(r->mark.id, ctx->state.id) == 0 &&
	    check_own_mark(ctx, &r->mark, err) < 0)
		return -1;
	return 0;
}

/* ---- busy ---- */

/* "pid N (COMM): how, ..." for up to HOLDERS_SHOWN holders; malloc'ed. */
static char *holders_line(const struct ovl_holders *h)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < h->n && i < HOLDERS_SHOWN; i++) {
		char *t = xasprintf("%s%spid %" PRId64 " (%s): %s", s, i ? ", " : "", h->v[i].pid,
				    ovl_qp(h->v[i].comm), ovl_hold_name(h->v[i].how));
		free(s);
		s = t;
	}
	if (h->n > HOLDERS_SHOWN) {
		char *t = xasprintf("%s and %zu more", s, h->n - HOLDERS_SHOWN);
		free(s);
		s = t;
	}
	return s;
}

static int busy(const struct hook_ctx *ctx, const struct ovl_holders *h, ovl_error_t *err)
{
	cleanup_free char *who = holders_line(h);
	ovl_error(err, 0,
		  "workspace %s in container %s is busy: %s; nothing unmounted, nothing applied",
		  ovl_qp(ctx->destination), ovl_qp(ctx->state.id),
		  h->n ? who : "no process of the container holds it (a mount beneath it?)");
	return HOOK_BUSY;
}

/* --kill: the holders, never the container's init. 0 when they are gone. */
static int kill_holders(const struct hook_ctx *ctx, const struct running *r,
			const struct ovl_holders *h, ovl_error_t *err)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].pid == ctx->state.pid) {
			ovl_error(err, 0,
				  "workspace %s in container %s is busy: its init (pid %" PRId64
				  ") holds it (%s): stop the container instead; nothing unmounted, "
				  "nothing applied",
				  ovl_qp(ctx->destination), ovl_qp(ctx->state.id), h->v[i].pid,
				  ovl_hold_name(h->v[i].how));
			return HOOK_BUSY;
		}
	cleanup_free char *who = holders_line(h);
	ovl_warn("killing what holds %s in container %s: %s", ovl_qp(ctx->destination),
		 ovl_qp(ctx->state.id), who);
	int k = ovl_holders_kill(r->proc_fd, h, KILL_WAIT_MS, err);
	if (k < 0)
		return -1;
	if (k > 0)
		return busy(ctx, h, err);
	return 0;
}

/* Copies of the overlay in other mount namespaces of the container's processes: unmounting the
 * container's would leave them writing into the layers. With --kill they are ended first. */
static int check_copies(const struct hook_ctx *ctx, const struct hook_unmount_opts *o,
			const struct running *r, ovl_error_t *err)
{
	for (int round = 0;; round++) {
		struct ovl_holders h = {0};
		int c = ovl_holders_copies(r->proc_fd, ctx->state.pid, r->ov.dev, &h, err);
		if (c == 0 && h.n > 0)
			c = o->kill && round == 0 ? kill_holders(ctx, r, &h, err)
						  : busy(ctx, &h, err);
		bool none = h.n == 0;
		ovl_holders_free(&h);
		if (c < 0 || none)
			return c;
	}
}

/* Unmounts, or finds who holds the overlay; with --kill ends them and tries once more. */
static int unmount_or_busy(const struct hook_ctx *ctx, const struct hook_unmount_opts *o,
			   const struct running *r, ovl_error_t *err)
{
	for (int round = 0;; round++) {
		int u = umount_overlay((struct hook_ctx *)ctx, r, err);
		if (u <= 0)
			return u;
		struct ovl_holders h = {0};
		int f = ovl_holders_find(r->proc_fd, ctx->state.pid, r->ov.mnt_id, &h, err);
		if (f == 0)
			f = o->kill && round == 0 && h.n > 0 ? kill_holders(ctx, r, &h, err)
							     : busy(ctx, &h, err);
		ovl_holders_free(&h);
		if (f < 0)
			return f;
	}
}

/* ---- --stats ---- */

struct stats_file {
	int dir_fd;
	char *name;
};

/* FILE must be writable, checked before anything is done (its outcome would be lost). */
static int open_stats(const char *path, struct stats_file *sf, ovl_error_t *err)
{
	sf->dir_fd = -1;
	sf->name = NULL;
	if (path == NULL)
		return 0;
	cleanup_free char *copy = xstrdup(path);
	char *slash = strrchr(copy, '/');
	const char *name = slash ? slash + 1 : copy;
	const char *dir = slash ? (slash == copy ? "/" : copy) : ".";
	if (slash)
		*slash = '\0';
	if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return ovl_error(err, EISDIR, "--stats %s", ovl_qp(path));
	cleanup_close int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return ovl_error(err, errno, "--stats %s", ovl_qp(path));
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
		return ovl_error(err, EISDIR, "--stats %s", ovl_qp(path));
	if (faccessat(dfd, ".", W_OK, AT_EACCESS) < 0)
		return ovl_error(err, errno, "--stats %s", ovl_qp(path));
	sf->name = xstrdup(name);
	sf->dir_fd = ovl_steal_fd(&dfd);
	return 0;
}

static void stats_close(struct stats_file *sf)
{
	ovl_closep(&sf->dir_fd);
	free(sf->name);
	sf->name = NULL;
}

/* The "changes" object of `ovlbox run --stats` and "applied", written to a temporary name and
 * renamed over FILE: a reader never sees half of it. */
static int write_stats(const struct stats_file *sf, const char *path,
		       const struct hook_outcome *out, ovl_error_t *err)
{
	if (sf->dir_fd < 0)
		return 0;
	ovl_jw *w = ovl_jw_new(true);
	ovl_jw_object_open(w);
	ovl_stats_changes(w, &out->changes, out->applied);
	ovl_jw_object_close(w);
	size_t len;
	const char *text = ovl_jw_text(w, &len, err);
	char tmp[64];
	snprintf(tmp, sizeof(tmp), ".ovlbox-stats.%d", (int)getpid());
	int r = -1;
	if (text != NULL) {
		cleanup_free char *line = xmalloc(len + 1);
		memcpy(line, text, len);
		line[len] = '\n';
		struct ovl_replace how = {.tmp = tmp, .mode = 0644};
		r = ovl_replace_file(sf->dir_fd, sf->name, &how, line, len + 1, err);
	}
	ovl_jw_free(w);
	return r < 0 ? ovl_error_wrap(err, "--stats %s", ovl_qp(path)) : 0;
}

/* ---- unmount ---- */

/* The overlay is off: the mark says so before anything is applied or removed. */
static int mark_unmounted(struct hook_ctx *ctx, struct ovl_mark *m, enum ovl_on_exit on_exit,
			  ovl_error_t *err)
{
	m->mounted = false;
	m->on_exit = on_exit;
	return ovl_layers_set_mark(&ctx->layers, m, err);
}

static int set_mark_on_exit(struct hook_ctx *ctx, struct ovl_mark *m, enum ovl_on_exit on_exit,
			    ovl_error_t *err)
{
	if (m->on_exit == on_exit)
		return 0;
	m->on_exit = on_exit;
	return ovl_layers_set_mark(&ctx->layers, m, err);
}

/* Takes the overlay off (busy: HOOK_BUSY, nothing changed), then marks the layers unmounted. */
static int take_off(struct hook_ctx *ctx, const struct hook_unmount_opts *o, struct running *r,
		    enum ovl_on_exit on_exit, ovl_error_t *err)
{
	struct ovl_mark *m = &r->mark;
	enum ovl_on_exit before = m->on_exit;
	int c = check_copies(ctx, o, r, err);
	if (c != 0)
		return c;
	/* recorded first: a crash right after the unmount must still know what to do */
	if (set_mark_on_exit(ctx, m, on_exit, err) < 0)
		return -1;
	int u = unmount_or_busy(ctx, o, r, err);
	if (u != 0) {
		cleanup_error ovl_error_t rerr = NULL;
		if (set_mark_on_exit(ctx, m, before, &rerr) < 0)
			ovl_warn("%s", rerr->msg);
		return u;
	}
	ovl_info("unmounted the overlay of %s from %s in container %s", ovl_qp(ctx->layers.lower),
		 ovl_qp(ctx->destination), ovl_qp(ctx->state.id));
	return mark_unmounted(ctx, m, on_exit, err);
}

struct unmount_job {
	struct hook_ctx *ctx;
	const struct hook_unmount_opts *o;
	struct running *r;
	const struct stats_file *sf;
};

static int unmount_locked(struct unmount_job *j, ovl_error_t *err)
{
	struct hook_ctx *ctx = j->ctx;
	struct running *r = j->r;
	struct hook_outcome out = {0};
	if (finish_journal(ctx, r, err) < 0 || inspect(ctx, r, err) < 0)
		return -1;
	if (!r->has_mark) {
		ovl_info("no overlay of %s is mounted in container %s: nothing to do",
			 ovl_qp(ctx->layers.lower), ovl_qp(ctx->state.id));
		return write_stats(j->sf, j->o->stats, &out, err);
	}
	if (strcmp(r->mark.id, ctx->state.id) != 0)
		return check_own_mark(ctx, &r->mark, err);
	enum ovl_on_exit on_exit = j->o->has_on_exit ? j->o->on_exit : ctx->request.on_exit;
	if (r->mark.mounted && r->mounted) {
		int t = take_off(ctx, j->o, r, on_exit, err);
		if (t != 0)
			return t;
	} else if (r->mounted) {
		return ovl_error(err, 0,
				 "an overlay of %s is mounted in container %s, but its mark says "
				 "unmounted: refused, nothing changed",
				 ovl_qp(ctx->layers.lower), ovl_qp(ctx->state.id));
	} else {
		/* an unmount was interrupted after the overlay came off: finish it with the
		 * on-exit it recorded, unless this call names one */
		if (!j->o->has_on_exit)
			on_exit = r->mark.on_exit;
		ovl_info("workspace %s: finishing an interrupted unmount (on-exit %s)",
			 ovl_qp(ctx->layers.lower), ovl_on_exit_name(on_exit));
		if (r->mark.mounted && mark_unmounted(ctx, &r->mark, on_exit, err) < 0)
			return -1;
	}
	if (hook_carry_out(ctx, on_exit, &out, err) < 0)
		return -1;
	return write_stats(j->sf, j->o->stats, &out, err);
}

/* In a child: the container's root in its user namespace, in a copy of the caller's mount
 * namespace that this root owns (the caller's own could not be returned to from the
 * container's). */
static int unmount_in_userns(void *arg, ovl_error_t *err)
{
	struct unmount_job *j = arg;
	struct ovl_ns_target *t = &j->r->t;
	if (ovl_ns_enter_user(t, err) < 0)
		return -1;
	if (unshare(CLONE_NEWNS) < 0)
		return ovl_error(err, errno,
				 "unshare a mount namespace in the container's user namespace");
	ovl_closep(&t->home_mnt_fd);
	t->home_mnt_fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (t->home_mnt_fd < 0)
		return ovl_error(err, errno, "open /proc/self/ns/mnt");
	j->r->in_child = true;
	return unmount_locked(j, err);
}

int hook_unmount(struct hook_ctx *ctx, const struct hook_unmount_opts *o, ovl_error_t *err)
{
	struct running r;
	struct stats_file sf;
	int res = open_running(ctx, &r, err);
	if (res == 0)
		res = open_stats(o->stats, &sf, err);
	else
		sf = (struct stats_file){.dir_fd = -1};
	cleanup_close int lock = res == 0 ? hook_lock(ctx, err) : -1;
	if (res == 0 && lock < 0)
		res = -1;
	if (res == 0) {
		struct unmount_job j = {ctx, o, &r, &sf};
		/* Unprivileged (the owner of a rootless podman's user namespace): everything as
		 * the container's root, who may read its processes and owns what it wrote. */
		res = r.t.user_fd >= 0 && geteuid() != 0 ? hook_in_child(unmount_in_userns, &j, err)
							 : unmount_locked(&j, err);
	}
	stats_close(&sf);
	running_close(&r);
	return res;
}

/* ---- mount ---- */

/* A mark of this container's without its overlay: an unmount was interrupted; finish it. */
static int finish_unmount(struct hook_ctx *ctx, struct running *r, ovl_error_t *err)
{
	struct ovl_mark *m = &r->mark;
	ovl_warn("workspace %s: finishing an interrupted unmount (on-exit %s) first",
		 ovl_qp(ctx->layers.lower), ovl_on_exit_name(m->on_exit));
	if (m->mounted && mark_unmounted(ctx, m, m->on_exit, err) < 0)
		return -1;
	return carry_out_as_root(ctx, r, m->on_exit, err);
}

int hook_remount(struct hook_ctx *ctx, ovl_error_t *err)
{
	struct running r;
	int res = open_running(ctx, &r, err);
	cleanup_close int lock = res == 0 ? hook_lock(ctx, err) : -1;
	if (res == 0 && lock < 0)
		res = -1;
	if (res == 0 && finish_journal(ctx, &r, err) < 0)
		res = -1;
	if (res == 0)
		res = inspect(ctx, &r, err);
	bool own = res == 0 && r.has_mark && strcmp(r.mark.id, ctx->state.id) == 0;
	if (own && r.mounted && r.mark.mounted) {
		ovl_info(
		    "the overlay of %s is mounted on %s in container %s already: nothing to do",
		    ovl_qp(ctx->layers.lower), ovl_qp(ctx->destination), ovl_qp(ctx->state.id));
		running_close(&r);
		return 0;
	}
	if (own && r.mounted)
		res = ovl_error(err, 0,
				"an overlay of %s is mounted in container %s, but its mark says "
				"unmounted: refused, nothing changed",
				ovl_qp(ctx->layers.lower), ovl_qp(ctx->state.id));
	else if (own)
		res = finish_unmount(ctx, &r, err);
	running_close(&r);
	if (res < 0)
		return -1;
	return hook_mount_locked(ctx, false, err);
}
