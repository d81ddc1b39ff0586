/* Mount stages (prestart, createRuntime, createContainer): overlay over the workspace bind mount
 * inside the container's mount namespace. Fails closed: any error leaves no mount and removes
 * the layer directories this run created. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hook.h"
#include "ovlbox/apply.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/log.h"
#include "ovlbox/ns.h"
#include "ovlbox/overlay.h"
#include "ovlbox/owner.h"
#include "ovlbox/prepare.h"
#include "ovlbox/ready.h"
#include "ovlbox/registry.h"

int hook_open_rootfs(const struct hook_ctx *ctx, ovl_error_t *err)
{
	/* A running container has pivoted: entering its mount namespace made its root the
	 * caller's, and config.json's root.path means nothing in there any more. */
	const char *path = ctx->running ? "/" : ctx->config.rootfs;
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ovl_error(err, errno, "open the container rootfs %s", ovl_qp(path));
	return fd;
}

/* In the container's mount namespace: the workspace destination inside the rootfs, which must be
 * the workspace's bind mount (the same inode as lower_st, the workspace as the hook sees it). */
static int open_destination(struct hook_ctx *ctx, const struct stat *lower_st, ovl_error_t *err)
{
	cleanup_close int rootfs = hook_open_rootfs(ctx, err);
	if (rootfs < 0)
		return -1;
	cleanup_close int target = ovl_ns_open_in_rootfs(rootfs, ctx->dest_rel, err);
	if (target < 0)
		return ovl_error_wrap(err, "workspace destination %s", ovl_qp(ctx->destination));
	struct stat got;
	if (fstat(target, &got) < 0)
		return ovl_error(err, errno, "stat workspace destination %s",
				 ovl_qp(ctx->destination));
	if (lower_st->st_dev != got.st_dev || lower_st->st_ino != got.st_ino)
		return ovl_error(err, 0,
				 "workspace destination %s in the container is not the bind mount "
				 "of %s",
				 ovl_qp(ctx->destination), ovl_qp(ctx->layers.lower));
	return ovl_steal_fd(&target);
}

/* In the container's mount namespace: the workspace's bind mount at the destination becomes
 * read-only there (the host's stays writable), so that with the overlay off it, between two
 * actions or after a crash, the container cannot write into the workspace. */
static int seal_destination(const struct hook_ctx *ctx, int target, ovl_error_t *err)
{
	if (ovl_mount_set_readonly(target, err) < 0)
		return ovl_error_wrap(err, "workspace destination %s", ovl_qp(ctx->destination));
	return 0;
}

/* In the container's mount namespace: find the destination, mount. fds are the layers opened
 * again in the container's namespace (an overlay made there must take its layers from mounts of
 * that namespace; before pivot_root the host tree is still there), which must be the
 * directories the hook opened in its own. */
static int mount_layers_in_container(struct hook_ctx *ctx, const struct ovl_ns_target *t,
				     const struct ovl_layer_fds *fds, bool userxattr,
				     ovl_error_t *err)
{
	const struct ovl_layers *l = &ctx->layers;
	if (ovl_layers_same_fds(l, fds, err) < 0)
		return ovl_error_wrap(err, "in the container's mount namespace");
	struct stat want;
	if (fstat(fds->lower, &want) < 0)
		return ovl_error(err, errno, "stat workspace %s", ovl_qp(l->lower));
	cleanup_close int target = open_destination(ctx, &want, err);
	if (target < 0)
		return -1;
	if (ovl_ns_enter_user(t, err) < 0 || seal_destination(ctx, target, err) < 0)
		return -1;
	if (ovl_layers_mount(fds, target, userxattr, err) < 0)
		return ovl_error_wrap(err, "mount the overlay on %s in the container",
				      ovl_qp(ctx->destination));
	return 0;
}

/* Enters the container's mount namespace and mounts there (see mount_layers_in_container). */
static int mount_in_container(struct hook_ctx *ctx, const struct ovl_ns_target *t, bool userxattr,
			      ovl_error_t *err)
{
	if (ovl_ns_enter_mnt(t, err) < 0)
		return -1;
	struct ovl_layer_fds fds;
	if (ovl_layers_open_paths(&ctx->layers, &fds, err) < 0)
		return ovl_error_wrap(err, "in the container's mount namespace");
	int r = mount_layers_in_container(ctx, t, &fds, userxattr, err);
	ovl_layer_fds_close(&fds);
	return r;
}

/* Comes back from the container's mount namespace: setns() moved root and cwd to its root, so
 * the hook's own are put back too. Failing to come back would leave the hook working with host
 * paths in the container's tree: it stops there, and the runtime refuses to start the
 * container. */
static void come_back(const struct ovl_ns_target *t, int root, int cwd)
{
	if (setns(t->home_mnt_fd, CLONE_NEWNS) < 0 || fchdir(root) < 0 || chroot(".") < 0 ||
	    fchdir(cwd) < 0) {
		ovl_errorf("return to the hook's mount namespace: %s", strerror(errno));
		_exit(1);
	}
}

/* The workspace destination, opened and checked in the container's mount namespace (the hook's
 * own at createContainer, t->mnt_fd < 0), before anything is made: bad input stops here. */
static int check_destination(struct hook_ctx *ctx, const struct ovl_ns_target *t, int root, int cwd,
			     ovl_error_t *err)
{
	struct stat want;
	if (fstat(ctx->layers.lower_fd, &want) < 0)
		return ovl_error(err, errno, "stat workspace %s", ovl_qp(ctx->layers.lower));
	if (ovl_ns_enter_mnt(t, err) < 0)
		return -1;
	int target = open_destination(ctx, &want, err);
	if (t->mnt_fd >= 0)
		come_back(t, root, cwd);
	return target;
}

/* Without a user namespace to enter, the hook goes into the container's mount namespace itself
 * and comes back, as libnvidia-container does: no child to fork and wait for on each
 * container start, which it delays. It goes in twice: to check the destination, then to attach the
 * overlay, which it makes in between in its own namespace as a detached mount (in no namespace,
 * nothing appears in the host's) from the layers as it opened them, so that no layer is opened
 * twice. Where fsopen fails (before Linux 5.2, or a seccomp filter refuses it): mount(2) inside,
 * from the layers opened again there (mount_in_container). */
static int mount_and_return(struct hook_ctx *ctx, const struct ovl_ns_target *t, bool userxattr,
			    ovl_error_t *err)
{
	struct ovl_layer_fds host = ovl_layers_fds(&ctx->layers);
	bool away = t->mnt_fd >= 0; /* else already there (createContainer) */
	cleanup_close int root = away ? open("/", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	cleanup_close int cwd = away ? open(".", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	if (away && (root < 0 || cwd < 0))
		return ovl_error(err, errno, "open the hook's own root and cwd");
	cleanup_close int target = check_destination(ctx, t, root, cwd, err);
	if (target < 0)
		return -1;
	cleanup_close int mfd = ovl_layers_fsmount(&host, userxattr, 0, err);
	if (mfd == -1)
		return ovl_error_wrap(err, "mount the overlay on %s in the container",
				      ovl_qp(ctx->destination));
	int r;
	if (mfd == -2) {
		mfd = -1;
		ovl_error_free(err);
		r = mount_in_container(ctx, t, userxattr, err);
	} else if (ovl_ns_enter_mnt(t, err) < 0) {
		return -1;
	} else if ((r = seal_destination(ctx, target, err)) == 0 &&
		   (r = ovl_layers_attach(mfd, target, err)) < 0) {
		ovl_error_wrap(err, "mount the overlay on %s in the container",
			       ovl_qp(ctx->destination));
	}
	if (away)
		come_back(t, root, cwd);
	return r;
}

int hook_in_child(int (*fn)(void *arg, ovl_error_t *err), void *arg, ovl_error_t *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return ovl_error(err, errno, "pipe");
	cleanup_close int rd = p[0];
	cleanup_close int wr = p[1];
	pid_t pid = fork();
	if (pid < 0)
		return ovl_error(err, errno, "fork");
	if (pid == 0) {
		close(rd);
		ovl_error_t cerr = NULL;
		int r = fn(arg, &cerr);
		if (r == 0)
			_exit(0);
		const char *msg = cerr ? cerr->msg : "unknown error";
		ssize_t ignored = write(wr, msg, strlen(msg));
		(void)ignored;
		_exit(r == HOOK_BUSY ? 3 : 1);
	}
	close(ovl_steal_fd(&wr));
	char msg[4096];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(rd, msg + len, sizeof(msg) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(msg) - 1)
			break;
	}
	msg[len] = '\0';
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return ovl_error(err, errno, "waitpid");
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (len > 0) {
		ovl_error(err, 0, "%s", msg);
		return WIFEXITED(status) && WEXITSTATUS(status) == 3 ? HOOK_BUSY : -1;
	}
	if (WIFSIGNALED(status))
		return ovl_error(err, 0, "mount helper killed by signal %d", WTERMSIG(status));
	return ovl_error(err, 0, "mount helper failed (exit status %d)", WEXITSTATUS(status));
}

struct mount_job {
	struct hook_ctx *ctx;
	const struct ovl_ns_target *t;
	bool userxattr;
};

static int mount_job_in_container(void *arg, ovl_error_t *err)
{
	struct mount_job *j = arg;
	return mount_in_container(j->ctx, j->t, j->userxattr, err);
}

/* A running container's user namespace is entered first (an unprivileged caller, the owner
 * of a rootless podman's, may enter the mount namespace only from in there), then a copy of
 * the caller's mount namespace is made that the container's root owns, to open the layers in
 * and make the overlay from as a detached mount; it is attached in the container's (which
 * has pivoted: the layers' paths lead nowhere in there). */
static int mount_job_running(void *arg, ovl_error_t *err)
{
	struct mount_job *j = arg;
	struct hook_ctx *ctx = j->ctx;
	struct stat want;
	if (fstat(ctx->layers.lower_fd, &want) < 0)
		return ovl_error(err, errno, "stat workspace %s", ovl_qp(ctx->layers.lower));
	if (ovl_ns_enter_user(j->t, err) < 0)
		return -1;
	if (unshare(CLONE_NEWNS) < 0)
		return ovl_error(err, errno,
				 "unshare a mount namespace in the container's user "
				 "namespace");
	struct ovl_layer_fds fds;
	if (ovl_layers_open_paths(&ctx->layers, &fds, err) < 0)
		return -1;
	int r = ovl_layers_same_fds(&ctx->layers, &fds, err);
	cleanup_close int mfd = r < 0 ? -1 : ovl_layers_fsmount(&fds, j->userxattr, 0, err);
	ovl_layer_fds_close(&fds);
	if (mfd < 0)
		return ovl_error_wrap(err, "mount the overlay on %s in the container",
				      ovl_qp(ctx->destination));
	if (ovl_ns_enter_mnt(j->t, err) < 0)
		return -1;
	cleanup_close int target = open_destination(ctx, &want, err);
	if (target < 0 || seal_destination(ctx, target, err) < 0)
		return -1;
	if (ovl_layers_attach(mfd, target, err) < 0)
		return ovl_error_wrap(err, "mount the overlay on %s in the container",
				      ovl_qp(ctx->destination));
	return 0;
}

/* Forks a child for the namespace changes (a user namespace cannot be left; the hook itself
 * stays where it is, so it can clean up with host paths). */
static int mount_via_child(struct hook_ctx *ctx, const struct ovl_ns_target *t, bool userxattr,
			   ovl_error_t *err)
{
	struct mount_job j = {ctx, t, userxattr};
	return hook_in_child(ctx->running ? mount_job_running : mount_job_in_container, &j, err);
}

/* Fail closed: the layer directories this stage created go away again, the mark and the
 * registry entry it made too. */
static void undo_prepare(struct hook_ctx *ctx, unsigned created, bool marked)
{
	struct ovl_layers *l = &ctx->layers;
	cleanup_error ovl_error_t rerr = NULL;
	if (marked && !(created & OVL_CREATED_WORK) && ovl_layers_clear_mark(l, &rerr) < 0) {
		ovl_warn("%s", rerr->msg);
		ovl_error_free(&rerr);
	}
	if (ovl_layers_remove_created(l, created, &rerr) < 0) {
		ovl_warn("could not remove the layers this stage made: %s", rerr->msg);
		ovl_error_free(&rerr);
	}
	if (ovl_registry_release(ctx->state.id, &rerr) < 0)
		ovl_warn("%s", rerr->msg);
}

/* Words what ovl_layers_ready() found, as one line. */
static int refuse_not_ready(const struct hook_ctx *ctx, int why, const struct ovl_mark *m,
			    ovl_error_t *err)
{
	const struct ovl_layers *l = &ctx->layers;
	cleanup_free char *apply = hook_ovlbox_cmd(ctx, "apply");
	cleanup_free char *discard = hook_ovlbox_cmd(ctx, "discard");
	switch (why) {
	case OVL_READY_IN_USE:
		return ovl_error(err, 0,
				 "workspace %s is in use by running container %s (its layers are "
				 "%s and %s)",
				 ovl_qp(l->lower), ovl_qp(m->id), ovl_qp(l->upper),
				 ovl_qp(l->work));
	case OVL_READY_SWAPPED:
		return ovl_layers_refuse_swapped(&ctx->layers, m->id, err);
	default:
		return ovl_error(err, 0,
				 "workspace %s has unapplied changes in %s (an earlier on-exit "
				 "keep?): run `%s` or `%s` first",
				 ovl_qp(l->lower), ovl_qp(l->upper), apply, discard);
	}
}

/* Finishes an interrupted apply, recovers the layers of a container that is gone without its
 * poststop, refuses layers in use or not ready (ovl_layers_ready). */
static int ready_for_mount(struct hook_ctx *ctx, ovl_error_t *err)
{
	struct ovl_layers *l = &ctx->layers;
	struct ovl_ready_info info;
	int r = ovl_layers_ready(l, OVL_READY_FOR_MOUNT, ctx->state.id, NULL, &info, err);
	if (r < 0 && info.journal) {
		cleanup_free char *cmd = hook_ovlbox_cmd(ctx, "apply");
		return ovl_error_wrap(
		    err,
		    "finish the interrupted apply of %s (the journal is kept; run "
		    "`%s`)",
		    ovl_qp(l->lower), cmd);
	}
	if (r < 0 && ovl_error_reason(*err) != OVL_REASON_NONE)
		return hook_apply_failed(ctx, err); /* a gone container's on-exit apply */
	if (r < 0)
		return -1;
	if (info.journal)
		ovl_warn("workspace %s: finished an interrupted apply first", ovl_qp(l->lower));
	if (info.recovered)
		ovl_warn("container %s is gone without its poststop: carried out its on-exit %s on "
			 "%s",
			 ovl_qp(info.mark.id), ovl_on_exit_name(info.mark.on_exit),
			 ovl_qp(l->lower));
	if (r != OVL_READY_OK)
		return refuse_not_ready(ctx, r, &info.mark, err);
	return 0;
}

/* The container's init, as its mark records it: the state's pid (the runtime's view: the
 * host's), or at createContainer, where the state gives none, the hook's parent (the container's
 * init runs the hook; /proc here is still the host's). Unknown (0) if it cannot be read. */
static void container_init(const struct hook_ctx *ctx, bool in_place, struct ovl_proc_id *init)
{
	int64_t pid = in_place ? 0 : ctx->state.pid;
	cleanup_error ovl_error_t e = NULL;
	if ((pid > 0 || ovl_proc_parent(&pid, &e) == 0) && ovl_proc_id_of(pid, init, &e) == 0)
		return;
	ovl_info("the container's init cannot be identified (%s): a crash of it will need "
		 "`ovlbox apply`",
		 e ? e->msg : "no pid");
	memset(init, 0, sizeof(*init));
}

/* Claims the layers in the registry of layer sets in use: none may be another's. */
static int claim_layers(struct hook_ctx *ctx, const struct ovl_mark *m, ovl_error_t *err)
{
	struct ovl_registry_conflict c;
	int r = ovl_registry_claim(&ctx->layers, m, &c, err);
	if (r <= 0)
		return r;
	return ovl_error(err, 0,
			 "the %s of %s %s the %s of running container %s: containers do not "
			 "share layers",
			 c.ours, ovl_qp(ctx->layers.lower), c.how, c.theirs, ovl_qp(c.id));
}

int hook_check_state_id(const struct hook_ctx *ctx, ovl_error_t *err)
{
	if (ctx->state.id == NULL || ctx->state.id[0] == '\0')
		return ovl_error(err, 0,
				 "state: id: missing (the hook marks the layers with the "
				 "container's id)");
	if (strlen(ctx->state.id) >= OVL_MARK_ID_MAX)
		/* marked with it, its own poststop could not tell the layers were its own */
		return ovl_error(err, 0, "state: id: longer than %d bytes", OVL_MARK_ID_MAX - 1);
	return 0;
}

int hook_open_target(const struct hook_ctx *ctx, bool in_place, struct ovl_ns_target *t,
		     ovl_error_t *err)
{
	if (in_place)
		return 0;
	if (ovl_ns_open_pid((pid_t)ctx->state.pid, t, err) < 0)
		return ovl_error_wrap(err, "state pid %lld", (long long)ctx->state.pid);
	if (t->mnt_fd < 0)
		/* The overlay would land in the runtime's (the host's) namespace. */
		return ovl_error(err, 0,
				 "the container (state pid %lld) has no mount namespace of "
				 "its own: the hook mounts only in the container's",
				 (long long)ctx->state.pid);
	return 0;
}

/* Prepares and marks the layers (mounted, before the overlay is attached: a crash in between
 * must not leave a mounted overlay on unmarked layers), then mounts. */
static int prepare_and_mount(struct hook_ctx *ctx, const struct ovl_ns_target *t,
			     struct ovl_mark *m, bool userxattr, ovl_error_t *err)
{
	struct ovl_layers *l = &ctx->layers;
	unsigned created = 0;
	bool marked = false;
	if (ovl_layers_prepare(l, userxattr, &created, err) < 0)
		goto fail;
	ovl_layers_mark_identity(l, m);
	if (claim_layers(ctx, m, err) != 0 || ovl_layers_set_mark(l, m, err) < 0)
		goto fail;
	marked = true;
	if (t->user_fd >= 0 && fchownat(l->work_fd, "", t->root_uid, t->root_gid,
					AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		/* The overlay, mounted by the container's root, creates its work entries there. */
		ovl_error(err, errno, "chown %s to the container's root (%u:%u)", ovl_qp(l->work),
			  (unsigned)t->root_uid, (unsigned)t->root_gid);
		goto fail;
	}
	if ((t->user_fd >= 0 ? mount_via_child(ctx, t, userxattr, err)
			     : mount_and_return(ctx, t, userxattr, err)) < 0)
		goto fail;
	return 0;
fail:
	undo_prepare(ctx, created, marked);
	return -1;
}

int hook_mount(struct hook_ctx *ctx, bool in_place, ovl_error_t *err)
{
	if (hook_check_state_id(ctx, err) < 0)
		return -1;
	cleanup_close int lock = hook_lock(ctx, err);
	if (lock < 0)
		return -1;
	return hook_mount_locked(ctx, in_place, err);
}

int hook_mount_locked(struct hook_ctx *ctx, bool in_place, ovl_error_t *err)
{
	const struct ovl_layers *l = &ctx->layers;
	if (ready_for_mount(ctx, err) < 0)
		return -1;
	struct ovl_ns_target t = OVL_NS_TARGET_INIT;
	bool userxattr = false;
	struct ovl_mark m = {.on_exit = ctx->request.on_exit, .mounted = true};
	snprintf(m.id, sizeof(m.id), "%s", ctx->state.id);
	int r = hook_open_target(ctx, in_place, &t, err);
	if (r == 0)
		r = ovl_ns_in_child_userns(&userxattr, err);
	if (r == 0) {
		userxattr = userxattr || t.user_fd >= 0;
		container_init(ctx, in_place, &m.init);
		r = prepare_and_mount(ctx, &t, &m, userxattr, err);
	}
	ovl_ns_target_close(&t);
	if (r < 0)
		return -1;
	ovl_info("mounted the overlay of %s on %s (upper %s)", ovl_qp(l->lower),
		 ovl_qp(ctx->destination), ovl_qp(l->upper));
	return 0;
}
