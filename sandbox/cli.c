/* What the sandbox's commands share: the words for layers another container owns. */
#include "cli.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/log.h"
#include "ovlbox/registry.h"

int refuse_owned(const struct ovl_layers *l, int why, const struct ovl_mark *m, ovl_error_t *err)
{
	if (why == OVL_READY_SWAPPED)
		return ovl_error(err, 0,
				 "the layers of %s are not the directories container %s marked "
				 "(upper %s or work %s was replaced): refused, nothing changed",
				 ovl_qp(l->lower), ovl_qp(m->id), ovl_qp(l->upper),
				 ovl_qp(l->work));
	return ovl_error(err, 0, "workspace %s is in use by running container %s", ovl_qp(l->lower),
			 ovl_qp(m->id));
}

void report_recovered(const struct ovl_layers *l, const struct ovl_ready_info *info)
{
	if (info->recovered)
		ovl_warn("container %s is gone without its poststop: carried out its on-exit %s on "
			 "%s",
			 ovl_qp(info->mark.id), ovl_on_exit_name(info->mark.on_exit),
			 ovl_qp(l->lower));
	if (info->unmount_finished)
		ovl_warn("container %s: finished its interrupted unmount (on-exit %s) on %s",
			 ovl_qp(info->mark.id), ovl_on_exit_name(info->mark.on_exit),
			 ovl_qp(l->lower));
}

void release_owner(const struct ovl_ready_info *info)
{
	cleanup_error ovl_error_t e = NULL;
	if (info->has_mark && ovl_registry_release(info->mark.id, &e) < 0)
		ovl_warn("%s", e->msg);
}
