/* What the sandbox's commands share: paths from the command line, the error line, the rootless
 * user namespace, the apply and its advice, the words for layers another container owns, the
 * commands a message suggests. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/log.h"
#include "ovlbox/ns.h"
#include "ovlbox/registry.h"

int cli_absolute(const char *what, const char *path, char **out, ovl_error_t *err)
{
	*out = NULL;
	if (path == NULL || path[0] == '/') {
		*out = path ? xstrdup(path) : NULL;
		return 0;
	}
	cleanup_free char *cwd = getcwd(NULL, 0);
	if (cwd == NULL)
		return ovl_error(err, errno, "%s %s: get the current directory", what,
				 ovl_qp(path));
	*out = xasprintf("%s/%s", cwd, path);
	return 0;
}

void report(ovl_error_t *err)
{
	if (err && *err) {
		ovl_errorf("%s", (*err)->msg);
		ovl_error_free(err);
	}
}

int enter_rootless_userns(ovl_error_t *err)
{
	static bool entered;
	if (geteuid() == 0 || entered)
		return 0;
	entered = true;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (unshare(CLONE_NEWUSER) < 0)
		return ovl_error(err, errno, "create user namespace (needed as non-root)");
	return ovl_ns_map_root(0, uid, gid, err);
}

int cli_name_xattr_ns_flags(int r, ovl_error_t *err)
{
	if (r == OVL_XATTR_NS_AMBIGUOUS) {
		cleanup_free char *msg = xstrdup((*err)->msg);
		ovl_error(err, 0, "%s: name it with --userxattr or --no-userxattr", msg);
	}
	return r;
}

int cli_apply(struct ovl_layers *l, const struct ovl_apply_opts *opts,
	      struct ovl_change_counts *counts, ovl_error_t *err)
{
	int r = cli_name_xattr_ns_flags(ovl_apply(l, opts, counts, err), err);
	if (r < 0)
		cli_apply_advice(l, err);
	return r;
}

/* " --FLAG PATH" when path is not lower + suffix (the default), else "". */
static char *layer_flag(const char *flag, const char *path, const char *lower, const char *suffix)
{
	size_t n = strlen(lower);
	if (!strncmp(path, lower, n) && !strcmp(path + n, suffix))
		return xstrdup("");
	cleanup_free char *q = ovl_shell_quote(path);
	return xasprintf(" --%s %s", flag, q);
}

char *cli_layers_cmd(const struct ovl_layers *l, const char *verb)
{
	cleanup_free char *upper = layer_flag("upper", l->upper, l->lower, ".upper");
	cleanup_free char *work = layer_flag("work", l->work, l->lower, ".work");
	cleanup_free char *lower = ovl_shell_quote(l->lower);
	return xasprintf("ovlbox %s%s%s %s", verb, upper, work, lower);
}

void cli_apply_advice(const struct ovl_layers *l, ovl_error_t *err)
{
	cleanup_free char *msg = NULL;
	switch (ovl_error_reason(*err)) {
	case OVL_REASON_DEVICE_NODE:
		msg = xasprintf("%s (use --allow-devices)", (*err)->msg);
		break;
	case OVL_REASON_JOURNAL_KEPT: {
		cleanup_free char *cmd = cli_layers_cmd(l, "apply");
		msg = xasprintf("%s; run `%s` to finish", (*err)->msg, cmd);
		break;
	}
	case OVL_REASON_NONE:
		return;
	}
	free((*err)->msg);
	(*err)->msg = ovl_steal_ptr(&msg);
}

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
