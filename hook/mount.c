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

static int same_inode(int a, int b, const char *what, const char *path, ovl_error_t *err)
{
	struct stat sa, sb;
	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return ovl_error(err, errno, "stat %s %s", what, ovl_qp(path));
	if (sa.st_dev != sb.st_dev || sa.st_ino != sb.st_ino)
		return ovl_error(err, 0,
				 "%s %s is not the same directory in the container's mount "
				 "namespace",
				 what, ovl_qp(path));
	return 0;
}

/* In the container's mount namespace: the workspace destination inside the rootfs, which must be
 * the workspace's bind mount (the same inode as lower_st, the workspace as the hook sees it). */
static int open_destination(struct hook_ctx *ctx, const struct stat *lower_st, ovl_error_t *err)
{
	cleanup_close int rootfs = open(ctx->config.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfs < 0)
		return ovl_error(err, errno, "open the container rootfs %s",
				 ovl_qp(ctx->config.rootfs));
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

/* In the container's mount namespace: find the destination, mount. host holds the layers as
 * opened in the hook's own namespace, fds the same opened again in the container's (an overlay
 * made there must take its layers from mounts of that namespace; before pivot_root the host
 * tree is still there), which must be the same directories. */
static int mount_layers_in_container(struct hook_ctx *ctx, const struct ovl_ns_target *t,
				     const struct ovl_layer_fds *host,
				     const struct ovl_layer_fds *fds, bool userxattr,
				     ovl_error_t *err)
{
	const struct ovl_layers *l = &ctx->layers;
	if (same_inode(host->lower, fds->lower, "workspace", l->lower, err) < 0 ||
	    same_inode(host->upper, fds->upper, "upper dir", l->upper, err) < 0 ||
	    same_inode(host->work, fds->work, "work dir", l->work, err) < 0)
		return -1;
	struct stat want;
	if (fstat(fds->lower, &want) < 0)
		return ovl_error(err, errno, "stat workspace %s", ovl_qp(l->lower));
	cleanup_close int target = open_destination(ctx, &want, err);
	if (target < 0)
		return -1;
	if (ovl_ns_enter_user(t, err) < 0)
		return -1;
	if (ovl_layers_mount(fds, target, userxattr, err) < 0)
		return ovl_error_wrap(err, "mount the overlay on %s in the container",
				      ovl_qp(ctx->destination));
	return 0;
}

/* Enters the container's mount namespace and mounts there (see mount_layers_in_container). */
static int mount_in_container(struct hook_ctx *ctx, const struct ovl_ns_target *t,
			      const struct ovl_layer_fds *host, bool userxattr, ovl_error_t *err)
{
	if (ovl_ns_enter_mnt(t, err) < 0)
		return -1;
	struct ovl_layer_fds fds;
	if (ovl_layers_open(&ctx->layers, &fds, err) < 0)
		return ovl_error_wrap(err, "in the container's mount namespace");
	int r = mount_layers_in_container(ctx, t, host, &fds, userxattr, err);
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
static int check_destination(struct hook_ctx *ctx, const struct ovl_ns_target *t,
			     const struct ovl_layer_fds *host, int root, int cwd, ovl_error_t *err)
{
	struct stat want;
	if (fstat(host->lower, &want) < 0)
		return ovl_error(err, errno, "stat workspace %s", ovl_qp(ctx->layers.lower));
	if (ovl_ns_enter_mnt(t, err) < 0)
		return -1;
	int target = open_destination(ctx, &want, err);
	if (t->mnt_fd >= 0)
		come_back(t, root, cwd);
	return target;
}

/* Without a user namespace to enter, the hook goes into the container's mount namespace itself
 * and comes back, as libnvidia-container does: no child to fork and wait for (~0.4 ms of each
 * container start). It goes in twice: to check the destination, then to attach the overlay,
 * which it makes in between in its own namespace as a detached mount (in no namespace, nothing
 * appears in the host's) from the layers as it opened them, so that no layer is opened twice.
 * Where fsopen fails (before Linux 5.2, or a seccomp filter refuses it): mount(2) inside, from
 * the layers opened again there (mount_in_container). */
static int mount_and_return(struct hook_ctx *ctx, const struct ovl_ns_target *t,
			    const struct ovl_layer_fds *host, bool userxattr, ovl_error_t *err)
{
	bool away = t->mnt_fd >= 0; /* else already there (createContainer) */
	cleanup_close int root = away ? open("/", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	cleanup_close int cwd = away ? open(".", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	if (away && (root < 0 || cwd < 0))
		return ovl_error(err, errno, "open the hook's own root and cwd");
	cleanup_close int target = check_destination(ctx, t, host, root, cwd, err);
	if (target < 0)
		return -1;
	cleanup_close int mfd = ovl_layers_fsmount(host, userxattr, 0, err);
	if (mfd == -1)
		return ovl_error_wrap(err, "mount the overlay on %s in the container",
				      ovl_qp(ctx->destination));
	int r;
	if (mfd == -2) {
		mfd = -1;
		ovl_error_free(err);
		r = mount_in_container(ctx, t, host, userxattr, err);
	} else if (ovl_ns_enter_mnt(t, err) < 0) {
		return -1;
	} else {
		r = ovl_layers_attach(mfd, target, err);
		if (r < 0)
			ovl_error_wrap(err, "mount the overlay on %s in the container",
				       ovl_qp(ctx->destination));
	}
	if (away)
		come_back(t, root, cwd);
	return r;
}

/* Forks a child for the namespace changes (a user namespace cannot be left; the hook itself
 * stays where it is, so it can clean up with host paths); the child's error message comes back
 * through a pipe. */
static int mount_via_child(struct hook_ctx *ctx, const struct ovl_ns_target *t,
			   const struct ovl_layer_fds *fds, bool userxattr, ovl_error_t *err)
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
		if (mount_in_container(ctx, t, fds, userxattr, &cerr) == 0)
			_exit(0);
		const char *msg = cerr ? cerr->msg : "unknown error";
		ssize_t ignored = write(wr, msg, strlen(msg));
		(void)ignored;
		_exit(1);
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
	if (len > 0)
		return ovl_error(err, 0, "%s", msg);
	if (WIFSIGNALED(status))
		return ovl_error(err, 0, "mount helper killed by signal %d", WTERMSIG(status));
	return ovl_error(err, 0, "mount helper failed (exit status %d)", WEXITSTATUS(status));
}

/* Fail closed: a layer directory this run created goes away again. */
static void remove_created(const char *path, bool created)
{
	if (!created)
		return;
	cleanup_error ovl_error_t rerr = NULL;
	if (ovl_remove_tree_at(AT_FDCWD, path, &rerr) < 0)
		ovl_warn("could not remove %s: %s", ovl_qp(path), rerr->msg);
}

/* Takes back the mark of a mount that failed, from a work dir this run did not make. */
static void disown_layers(const struct ovl_layers *l)
{
	cleanup_error ovl_error_t rerr = NULL;
	if (ovl_layers_clear_owner(l, &rerr) < 0)
		ovl_warn("%s", rerr->msg);
}

/* Layers marked by another container are in use by it (its overlay is mounted on them: a second
 * overlay would share its upper and work, and clear its work dir), or that container ended
 * without its poststop: either way they are not this one's to take. */
static int check_not_in_use(const struct hook_ctx *ctx, ovl_error_t *err)
{
	const struct ovl_layers *l = &ctx->layers;
	char owner[OVL_OWNER_MAX];
	if (ovl_layers_owner(l, owner, sizeof(owner), err) < 0)
		return -1;
	if (owner[0] == '\0' || strcmp(owner, ctx->state.id) == 0)
		return 0;
	cleanup_free char *apply = hook_ovlbox_cmd(ctx, "apply");
	cleanup_free char *discard = hook_ovlbox_cmd(ctx, "discard");
	return ovl_error(err, 0,
			 "workspace %s is in use by container %s (its layers are %s and %s), "
			 "or that container stopped without its poststop hook: once it is gone, "
			 "run `%s` or `%s`",
			 ovl_qp(l->lower), ovl_qp(owner), ovl_qp(l->upper), ovl_qp(l->work), apply,
			 discard);
}

int hook_mount(struct hook_ctx *ctx, bool in_place, ovl_error_t *err)
{
	const struct ovl_layers *l = &ctx->layers;
	if (ctx->state.id == NULL || ctx->state.id[0] == '\0')
		return ovl_error(err, 0,
				 "state: id: missing (the hook marks the layers with the "
				 "container's id)");
	if (strlen(ctx->state.id) >= OVL_OWNER_MAX)
		/* marked with it, its own poststop could not tell the layers were its own */
		return ovl_error(err, 0, "state: id: longer than %d bytes", OVL_OWNER_MAX - 1);
	cleanup_close int lock = hook_lock(ctx, err);
	if (lock < 0)
		return -1;

	int st = ovl_layers_state(l, err);
	if (st < 0)
		return -1;
	if (st == OVL_STATE_JOURNAL) {
		ovl_warn("workspace %s: finishing an interrupted apply first", ovl_qp(l->lower));
		struct ovl_apply_opts opts = {0};
		if (ovl_apply(l, &opts, NULL, err) < 0) {
			cleanup_free char *cmd = hook_ovlbox_cmd(ctx, "apply");
			return ovl_error_wrap(err,
					      "finish the interrupted apply of %s (the journal "
					      "is kept; run `%s`)",
					      ovl_qp(l->lower), cmd);
		}
		st = ovl_layers_state(l, err);
		if (st < 0)
			return -1;
	}
	if (check_not_in_use(ctx, err) < 0)
		return -1;
	if (st != OVL_STATE_CLEAN) {
		cleanup_free char *apply = hook_ovlbox_cmd(ctx, "apply");
		cleanup_free char *discard = hook_ovlbox_cmd(ctx, "discard");
		return ovl_error(err, 0,
				 "workspace %s has unapplied changes in %s (an earlier on-exit "
				 "keep?): run `%s` or `%s` first",
				 ovl_qp(l->lower), ovl_qp(l->upper), apply, discard);
	}

	struct ovl_ns_target t = OVL_NS_TARGET_INIT;
	bool userxattr = false;
	if (!in_place) {
		if (ovl_ns_open_pid((pid_t)ctx->state.pid, &t, err) < 0)
			return ovl_error_wrap(err, "state pid %lld", (long long)ctx->state.pid);
		if (t.mnt_fd < 0) {
			/* The overlay would land in the runtime's (the host's) namespace. */
			ovl_ns_target_close(&t);
			return ovl_error(err, 0,
					 "the container (state pid %lld) has no mount namespace of "
					 "its own: the hook mounts only in the container's",
					 (long long)ctx->state.pid);
		}
	}
	if (ovl_ns_in_child_userns(&userxattr, err) < 0)
		goto fail_ns;
	userxattr = userxattr || t.user_fd >= 0;

	unsigned created = 0;
	struct ovl_layer_fds fds;
	if (ovl_layers_prepare(l, userxattr, &created, &fds, err) < 0)
		goto fail_created;
	if (ovl_layers_set_owner(l, ctx->state.id, err) < 0) {
		ovl_layer_fds_close(&fds);
		goto fail_created;
	}
	if (t.user_fd >= 0 && fchownat(fds.work, "", t.root_uid, t.root_gid,
				       AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		/* The overlay, mounted by the container's root, creates its work entries there. */
		ovl_error(err, errno, "chown %s to the container's root (%u:%u)", ovl_qp(l->work),
			  (unsigned)t.root_uid, (unsigned)t.root_gid);
		ovl_layer_fds_close(&fds);
		goto fail_created;
	}
	int r = t.user_fd >= 0 ? mount_via_child(ctx, &t, &fds, userxattr, err)
			       : mount_and_return(ctx, &t, &fds, userxattr, err);
	ovl_layer_fds_close(&fds);
	if (r < 0)
		goto fail_created;
	ovl_ns_target_close(&t);
	ovl_info("mounted the overlay of %s on %s (upper %s)", ovl_qp(l->lower),
		 ovl_qp(ctx->destination), ovl_qp(l->upper));
	return 0;

fail_created:
	remove_created(l->upper, created & OVL_CREATED_UPPER);
	remove_created(l->work, created & OVL_CREATED_WORK);
	if (!(created & OVL_CREATED_WORK))
		disown_layers(l);
fail_ns:
	ovl_ns_target_close(&t);
	return -1;
}
