/* Readying a layer set (include/ovlbox/ready.h). */
#include <fcntl.h>
#include <string.h>

#include "ovlbox/cleanup.h"
#include "ovlbox/holders.h"
#include "ovlbox/owner.h"
#include "ovlbox/prepare.h"
#include "ovlbox/ready.h"
#include "ovlbox/registry.h"

/* Carries out the on-exit a gone owner recorded: what its poststop would have done. */
static int recover(struct ovl_layers *l, const struct ovl_mark *m,
		   const struct ovl_apply_opts *opts, ovl_error_t *err)
{
	static const struct ovl_apply_opts defaults;
	switch (m->on_exit) {
	case OVL_ON_EXIT_APPLY:
		return ovl_apply(l, opts ? opts : &defaults, NULL, err);
	case OVL_ON_EXIT_DISCARD:
		return ovl_layers_discard(l, err);
	case OVL_ON_EXIT_KEEP:
		return ovl_layers_clear_mark(l, err);
	}
	return 0;
}

/* Whether a running owner's overlay is still mounted in its init's mount namespace, as its
 * mark says: an `ovlbox-hook unmount` killed after the overlay came off leaves the mark saying
 * mounted. Unknown counts as mounted. */
static bool overlay_still_mounted(const struct ovl_layers *l, const struct ovl_mark *m)
{
	cleanup_close int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct ovl_overlay_mount ov;
	ovl_error_t e = NULL;
	int r = proc >= 0 ? ovl_overlay_find(proc, m->init.pid, l->upper, l->work, &ov, &e) : -1;
	ovl_error_free(&e);
	return r != 0;
}

/* 1 if the mark's owner still runs. A mark of ovlbox 0.1 names no process: taken as running
 * for a mount, as gone for an apply or discard (as ovlbox 0.1 did). */
static int owner_alive(const struct ovl_mark *m, enum ovl_ready_purpose purpose, ovl_error_t *err)
{
	if (m->legacy)
		return purpose == OVL_READY_FOR_MOUNT;
	return ovl_proc_id_alive(&m->init, err);
}

static int check_owner(struct ovl_layers *l, enum ovl_ready_purpose purpose, const char *self,
		       const struct ovl_apply_opts *opts, struct ovl_ready_info *info,
		       ovl_error_t *err)
{
	int r = ovl_layers_mark(l, &info->mark, err);
	if (r <= 0)
		return r;
	info->has_mark = true;
	if (self && strcmp(info->mark.id, self) == 0)
		return OVL_READY_OK;
	if (!ovl_layers_match_mark(l, &info->mark))
		return OVL_READY_SWAPPED;
	int alive = owner_alive(&info->mark, purpose, err);
	if (alive < 0)
		return -1;
	if (alive && (purpose == OVL_READY_FOR_MOUNT ||
		      (info->mark.mounted && overlay_still_mounted(l, &info->mark))))
		return OVL_READY_IN_USE;
	if (info->mark.legacy || purpose == OVL_READY_FOR_DISCARD)
		return OVL_READY_OK; /* an old mark's layers are applied as before marks knew more
				      */
	if (recover(l, &info->mark, opts, err) < 0)
		return ovl_error_wrap(err, "carry out the on-exit %s of gone container %s",
				      ovl_on_exit_name(info->mark.on_exit), ovl_qp(info->mark.id));
	if (alive)
		info->unmount_finished = true;
	else
		info->recovered = true;
	/* its registry entry goes with it; failing that, the next claim drops it as stale */
	ovl_error_t rerr = NULL;
	if (ovl_registry_release(info->mark.id, &rerr) < 0)
		ovl_error_free(&rerr);
	return ovl_layers_reopen(l, err) < 0 ? -1 : OVL_READY_OK;
}

int ovl_layers_ready(struct ovl_layers *l, enum ovl_ready_purpose purpose, const char *self,
		     const struct ovl_apply_opts *opts, struct ovl_ready_info *info,
		     ovl_error_t *err)
{
	memset(info, 0, sizeof(*info));
	int st = ovl_layers_state(l, err);
	if (st < 0)
		return -1;
	if (st == OVL_STATE_JOURNAL) {
		info->journal = true;
		/* a half-applied workspace is worse than either end: finish it whoever owned it
		 * (only an apply writes a journal, and only with no overlay mounted) */
		static const struct ovl_apply_opts as_planned; /* options count at planning only */
		if (ovl_apply(l, &as_planned, NULL, err) < 0 || ovl_layers_reopen(l, err) < 0)
			return -1;
	}
	int r = check_owner(l, purpose, self, opts, info, err);
	if (r != OVL_READY_OK)
		return r;
	if (purpose != OVL_READY_FOR_MOUNT)
		return OVL_READY_OK;
	st = ovl_layers_state(l, err);
	if (st < 0)
		return -1;
	return st == OVL_STATE_CLEAN ? OVL_READY_OK : OVL_READY_PENDING;
}

int ovl_layers_refuse_swapped(const struct ovl_layers *l, const char *id, ovl_error_t *err)
{
	return ovl_error(err, 0,
			 "the layers of %s are not the directories container %s marked (upper %s "
			 "or work %s was replaced): refused, nothing changed",
			 ovl_qp(l->lower), ovl_qp(id), ovl_qp(l->upper), ovl_qp(l->work));
}
