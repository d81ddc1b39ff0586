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
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (unshare(CLONE_NEWUSER) < 0)
		return ovl_error(err, errno, "create user namespace (needed as non-root)");
	if (ovl_ns_map_root(0, uid, gid, err) < 0)
		return -1;
	entered = true;
	return 0;
}

int cli_name_xattr_ns_flags(int r, ovl_error_t *err)
{
	if (r == OVL_XATTR_NS_AMBIGUOUS)
		ovl_error_append(err, ": name it with --userxattr or --no-userxattr");
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

char *cli_layers_cmd(const struct ovl_layers *l, const char *verb)
{
	cleanup_free char *words = ovl_layers_shell_words(l, "--upper", "--work");
	return xasprintf("ovlbox %s %s", verb, words);
}

void cli_apply_advice(const struct ovl_layers *l, ovl_error_t *err)
{
	switch (ovl_error_reason(*err)) {
	case OVL_REASON_DEVICE_NODE:
		ovl_error_append(err, " (use --allow-devices)");
		break;
	case OVL_REASON_JOURNAL_KEPT: {
		cleanup_free char *cmd = cli_layers_cmd(l, "apply");
		ovl_error_append(err, "; run `%s` to finish", cmd);
		break;
	}
	case OVL_REASON_NONE:
		break;
	}
}

int refuse_owned(const struct ovl_layers *l, int why, const struct ovl_mark *m, ovl_error_t *err)
{
	if (why == OVL_READY_SWAPPED)
		return ovl_layers_refuse_swapped(l, m->id, err);
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
