/* Which workspace a container asks for, from its annotations and mounts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hook.h"
#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/log.h"
#include "ovlbox/owner.h"

/* STAGE_INFER when the state does not tell. */
static enum hook_stage infer_stage(const struct ovl_oci_state *s)
{
	if (s->status && strcmp(s->status, "stopped") == 0)
		return STAGE_POSTSTOP;
	if (s->status && strcmp(s->status, "running") == 0)
		/* No runtime runs a hook for a running container: the executor does, and must
		 * say which stage (a mount stage would put a second overlay on the first). */
		return STAGE_RUNNING;
	if (!s->has_pid)
		/* Every runtime gives a pid before the container stops (the host's at
		 * createRuntime, 1 or 0 inside at createContainer): without one, guessing
		 * createContainer would mount in whatever namespace the caller is in. */
		return STAGE_INFER;
	if (s->pid <= 1)
		/* Inside the container already: its pid as seen from there (runc), or none (crun).
		 */
		return STAGE_CREATE_CONTAINER;
	return STAGE_CREATE_RUNTIME;
}

/* config.json of the state's bundle. 0 when a poststop finds it gone. */
static int load_config(struct hook_ctx *ctx, enum hook_stage stage, ovl_error_t *err)
{
	if (ovl_oci_config_load(ctx->state.bundle, &ctx->config, err) == 0)
		return 1;
	if (stage == STAGE_POSTSTOP && ovl_error_errno(*err) == ENOENT) {
		/* podman may run poststop again after removing the container: whatever the
		 * first run left (an upper to apply) stays for `ovlbox apply`. */
		ovl_info("bundle %s: config.json is gone: nothing to do",
			 ovl_qp(ctx->state.bundle));
		ovl_error_free(err);
		return 0;
	}
	return -1;
}

/* The org.ovlbox.workspace annotation: 0 when there is none (nothing to do). */
static int read_workspace(struct hook_ctx *ctx, enum hook_stage stage, ovl_error_t *err)
{
	int r =
	    ovl_oci_annotation(&ctx->config, &ctx->state, ANN_WORKSPACE, &ctx->destination, err);
	if (r == 0 && ctx->running)
		/* the executor asked for a workspace: that there is none is an error */
		return ovl_error(err, 0, "container %s asks for no workspace",
				 ovl_qp(ctx->state.id ? ctx->state.id : ""));
	if (r <= 0)
		return r;
	if (stage == STAGE_INFER)
		return ovl_error(err, 0,
				 "state: pid: missing (status %s): cannot tell the stage; pass "
				 "STAGE",
				 ctx->state.status ? ovl_qp(ctx->state.status) : "(none)");
	if (ovl_oci_workspace_path(ctx->destination, "annotation " ANN_WORKSPACE, &ctx->dest_rel,
				   err) < 0)
		return -1;
	return 1;
}

/* The workspace's bind mount in config.json: its source is the lower layer. */
static int find_workspace_mount(const struct hook_ctx *ctx, struct ovl_oci_mount *m,
				ovl_error_t *err)
{
	int r = ovl_oci_find_mount(&ctx->config, ctx->destination, m, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return ovl_error(err, 0,
				 "annotation %s: no mount in config.json has destination %s",
				 ANN_WORKSPACE, ovl_qp(ctx->destination));
	if (!m->bind)
		return ovl_error(
		    err, 0,
		    "config.json: mounts[%zu] (%s): not a bind mount (type %s): the "
		    "workspace must be a host directory bind-mounted into the container",
		    m->index, ovl_qp(m->destination), m->type ? ovl_qp(m->type) : "none");
	if (m->source == NULL || m->source[0] == '\0')
		return ovl_error(err, 0, "config.json: mounts[%zu] (%s): source: missing", m->index,
				 ovl_qp(m->destination));
	if (m->source[0] != '/')
		return ovl_error(err, 0,
				 "config.json: mounts[%zu] (%s): source: not an absolute path: %s",
				 m->index, ovl_qp(m->destination), ovl_qp(m->source));
	return 0;
}

/* The layers: lower the workspace mount's source, upper and work as the request says; opened
 * read-only (ovl_layers_open). */
static int open_layers(struct hook_ctx *ctx, const char *layers_under, ovl_error_t *err)
{
	struct ovl_oci_mount m;
	if (find_workspace_mount(ctx, &m, err) < 0)
		return -1;
	const struct ovl_oci_request *q = &ctx->request;
	if (ovl_layers_init(&ctx->layers, m.source, q->upperdir, q->workdir, err) < 0)
		return -1;
	/* Where the annotations come from whoever writes the pod (CRI-O), upper and work could
	 * otherwise be any host directory the hook (root) would create and the action write into
	 * while it runs. */
	if (layers_under && ovl_layers_anchor(&ctx->layers, layers_under, err) < 0)
		return ovl_error_wrap(err, "--layers-under");
	return ovl_layers_open(&ctx->layers, err);
}

int hook_ctx_load(struct hook_ctx *ctx, int state_fd, enum hook_stage *stage,
		  const char *layers_under, ovl_error_t *err)
{
	memset(ctx, 0, sizeof(*ctx));
	if (ovl_oci_state_read(state_fd, &ctx->state, err) < 0)
		return -1;
	if (*stage == STAGE_INFER)
		*stage = infer_stage(&ctx->state);
	if (*stage == STAGE_RUNNING) {
		ovl_error(err, 0,
			  "state: status running: a running container's workspace is mounted and "
			  "unmounted with STAGE mount or unmount");
		return HOOK_USAGE;
	}
	ctx->running = *stage == STAGE_MOUNT || *stage == STAGE_UNMOUNT;
	int r = load_config(ctx, *stage, err);
	if (r > 0)
		r = read_workspace(ctx, *stage, err);
	if (r <= 0)
		return r;
	if (ovl_oci_request_read(&ctx->config, &ctx->state, &ctx->request, err) < 0 ||
	    open_layers(ctx, layers_under, err) < 0)
		return -1;
	return 1;
}

void hook_ctx_free(struct hook_ctx *ctx)
{
	ovl_layers_free(&ctx->layers);
	free(ctx->dest_rel);
	ovl_oci_config_free(&ctx->config);
	ovl_oci_state_free(&ctx->state);
	memset(ctx, 0, sizeof(*ctx));
}

char *hook_ovlbox_cmd(const struct hook_ctx *ctx, const char *verb)
{
	cleanup_free char *words = ovl_layers_shell_words(&ctx->layers, "--upper", "--work");
	return xasprintf("ovlbox %s %s", verb, words);
}

int hook_apply_failed(const struct hook_ctx *ctx, ovl_error_t *err)
{
	const struct ovl_layers *l = &ctx->layers;
	bool devices = ovl_error_reason(*err) == OVL_REASON_DEVICE_NODE;
	cleanup_free char *cmd = hook_ovlbox_cmd(ctx, devices ? "apply --allow-devices" : "apply");
	return ovl_error_wrap(err, "changes to %s not applied, kept in %s; run `%s`",
			      ovl_qp(l->lower), ovl_qp(l->upper), cmd);
}

int hook_lock(const struct hook_ctx *ctx, ovl_error_t *err)
{
	/* Another ovlbox (a poststop podman runs twice at once, an `ovlbox apply`) may hold the
	 * lock for a moment: wait a little before giving up. Other errors fail at once. */
	for (int waited_ms = 0;; waited_ms += 50) {
		int fd = ovl_layers_lock(&ctx->layers, err);
		if (fd >= 0 || ovl_error_errno(*err) != EWOULDBLOCK ||
		    waited_ms >= HOOK_LOCK_WAIT_MS)
			return fd;
		ovl_error_free(err);
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}
