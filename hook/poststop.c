/* poststop: the container is gone, and with its mount namespace the overlay; apply the upper
 * layer onto the workspace, discard it, or keep it. Runs with any environment (podman gives an
 * empty one), possibly twice, possibly for a container that never started: with nothing to do it
 * does nothing. A failing poststop hook is only logged by the runtime, so it never loses data:
 * an apply that cannot finish leaves its journal and upper for `ovlbox apply`. */
#include <inttypes.h>
#include <string.h>

#include "hook.h"
#include "ovlbox/apply.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/diff.h"
#include "ovlbox/log.h"
#include "ovlbox/owner.h"
#include "ovlbox/prepare.h"
#include "ovlbox/registry.h"

static int finish_apply(struct hook_ctx *ctx, struct hook_outcome *out, ovl_error_t *err)
{
	struct ovl_layers *l = &ctx->layers;
	struct ovl_apply_opts opts = {0};
	struct ovl_change_counts c = {0};
	/* Nothing is lost: the upper (and the journal, if the apply had started) stay. */
	if (ovl_apply(l, &opts, &c, err) < 0)
		return hook_apply_failed(ctx, err);
	ovl_info("applied %s to %s: %" PRIu64 " added, %" PRIu64 " modified, %" PRIu64
		 " deleted, %" PRIu64 " bytes",
		 ovl_qp(l->upper), ovl_qp(l->lower), c.added, c.modified, c.deleted, c.bytes);
	if (out) {
		out->changes = c;
		out->applied = true;
	}
	return 0;
}

static int keep(struct hook_ctx *ctx, ovl_error_t *err)
{
	/* The layers now wait for `ovlbox apply`, no container's any more: the next container's
	 * mount stage then refuses them as unapplied changes, not as in use. */
	if (ovl_layers_clear_mark(&ctx->layers, err) < 0)
		return -1;
	cleanup_free char *cmd = hook_ovlbox_cmd(ctx, "apply");
	ovl_info("kept the changes to %s in %s; apply them with `%s`", ovl_qp(ctx->layers.lower),
		 ovl_qp(ctx->layers.upper), cmd);
	return 0;
}

/* Whether the layers are this container's: its mount stage marked them, for these very
 * directories. Otherwise they are another container's, one that may still run (this one's start
 * was refused because of them), or an earlier keep's waiting for `ovlbox apply`, or no layers at
 * all (a container that never started; a second poststop): not this poststop's to apply or
 * remove. A mark of its own on other directories than the ones found now (a layer replaced
 * under the same name) is refused. 1 if they are, 0 if not, -1 on error. */
static int own_layers(struct hook_ctx *ctx, struct ovl_mark *mark, ovl_error_t *err)
{
	const struct ovl_layers *l = &ctx->layers;
	struct ovl_mark m;
	int r = ovl_layers_mark(l, &m, err);
	if (r < 0)
		return -1;
	if (r == 0) {
		ovl_info("no layers of this container on %s: nothing to do", ovl_qp(l->lower));
		return 0;
	}
	if (ctx->state.id == NULL || strcmp(m.id, ctx->state.id) != 0) {
		ovl_info("the layers of %s belong to container %s: left as they are",
			 ovl_qp(l->lower), ovl_qp(m.id));
		return 0;
	}
	if (!ovl_layers_match_mark(l, &m))
		return ovl_error(err, 0,
				 "the layers of %s are not the directories this container's mount "
				 "stage marked (upper %s or work %s was replaced): nothing changed",
				 ovl_qp(l->lower), ovl_qp(l->upper), ovl_qp(l->work));
	*mark = m;
	return 1;
}

static int carry_out(struct hook_ctx *ctx, int st, enum ovl_on_exit on_exit,
		     struct hook_outcome *out, ovl_error_t *err)
{
	struct ovl_layers *l = &ctx->layers;
	if (out && st != OVL_STATE_CLEAN && on_exit != OVL_ON_EXIT_APPLY &&
	    ovl_diff_counts(l, OVL_XATTR_NS_AUTO, &out->changes, err) < 0)
		return -1;
	if (st == OVL_STATE_CLEAN || on_exit == OVL_ON_EXIT_DISCARD) {
		/* Nothing to apply (a container that never started or did not write, or a second
		 * poststop), or nothing wanted: remove the layers, if any. */
		if (ovl_layers_discard(l, err) < 0)
			return ovl_error_wrap(err, "remove the layers of %s", ovl_qp(l->lower));
		if (st != OVL_STATE_CLEAN)
			ovl_info("discarded the changes to %s", ovl_qp(l->lower));
		else
			ovl_info("no changes to %s", ovl_qp(l->lower));
		return 0;
	}
	if (on_exit == OVL_ON_EXIT_KEEP)
		return keep(ctx, err);
	return finish_apply(ctx, out, err);
}

int hook_carry_out(struct hook_ctx *ctx, enum ovl_on_exit on_exit, struct hook_outcome *out,
		   ovl_error_t *err)
{
	struct ovl_layers *l = &ctx->layers;
	if (out)
		memset(out, 0, sizeof(*out));
	int st = ovl_layers_state(l, err);
	if (st < 0)
		return -1;
	if (st == OVL_STATE_JOURNAL) {
		/* A half-applied workspace is worse than either end: whatever on-exit says,
		 * finish it. */
		if (on_exit != OVL_ON_EXIT_APPLY)
			ovl_warn("workspace %s: an apply was interrupted; finishing it",
				 ovl_qp(l->lower));
		if (finish_apply(ctx, out, err) < 0)
			return -1;
	} else if (carry_out(ctx, st, on_exit, out, err) < 0) {
		return -1;
	}
	/* the layers are no longer in use: another container may name them now */
	cleanup_error ovl_error_t rerr = NULL;
	if (ovl_registry_release(ctx->state.id, &rerr) < 0)
		ovl_warn("%s", rerr->msg);
	return 0;
}

int hook_poststop(struct hook_ctx *ctx, ovl_error_t *err)
{
	struct ovl_layers *l = &ctx->layers;
	cleanup_close int lock = hook_lock(ctx, err);
	if (lock < 0) {
		cleanup_free char *cmd = hook_ovlbox_cmd(ctx, "apply");
		return ovl_error_wrap(err, "poststop (nothing was changed; run `%s` later)", cmd);
	}
	int st = ovl_layers_state(l, err);
	if (st < 0)
		return -1;
	if (st == OVL_STATE_JOURNAL)
		/* whoever's: only an apply writes a journal, with no overlay mounted */
		return hook_carry_out(ctx, OVL_ON_EXIT_APPLY, NULL, err);
	struct ovl_mark m = {0};
	int own = own_layers(ctx, &m, err);
	if (own <= 0)
		return own;
	/* The on-exit the mark records: the annotation's, or the one an `unmount` that was
	 * interrupted after its unmount asked for (it records it before unmounting). */
	return hook_carry_out(ctx, m.legacy ? ctx->request.on_exit : m.on_exit, NULL, err);
}
