/* ovlbox-hook [STAGE] [--log FILE] [--layers-under DIR]: OCI hook giving a container a
 * copy-on-write workspace. Reads the OCI state on stdin; exits 0 on success or when the container
 * asks for nothing, 1 on failure (one line on stderr), 2 on a usage error, 3 when unmount finds
 * the workspace busy. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hook.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/log.h"

#define PROG "ovlbox-hook"

static const struct {
	const char *name;
	enum hook_stage stage;
} stages[] = {
    {"prestart", STAGE_PRESTART},
    {"createRuntime", STAGE_CREATE_RUNTIME},
    {"createContainer", STAGE_CREATE_CONTAINER},
    {"poststop", STAGE_POSTSTOP},
    {"mount", STAGE_MOUNT},
    {"unmount", STAGE_UNMOUNT},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG
		   " [STAGE] [--log FILE] [--verbose] [--layers-under DIR] < state.json\n"
		   "       " PROG " mount|unmount [--kill] [--on-exit apply|discard|keep]\n"
		   "              [--stats FILE] [--log FILE] [--layers-under DIR] < state.json\n"
		   "  STAGE: prestart, createRuntime, createContainer or poststop; without it,\n"
		   "  the state's status decides (\"stopped\": poststop, otherwise mount).\n"
		   "  mount, unmount (called by an executor, with `runc state ID`'s output):\n"
		   "  a fresh overlay on a running container's workspace; or the overlay\n"
		   "  unmounted (exit 3 if busy; --kill: SIGKILL the holders), then the\n"
		   "  on-exit carried out; --stats FILE: the changes as JSON.\n"
		   "  Configured by the container's annotations: org.ovlbox.workspace (a bind\n"
		   "  mount destination), org.ovlbox.upperdir, org.ovlbox.workdir,\n"
		   "  org.ovlbox.on-exit (apply|discard|keep). --layers-under DIR: upper and\n"
		   "  work must lie beneath DIR (for annotations written by untrusted users).\n");
}

static int run(enum hook_stage stage, const char *layers_under, const struct hook_unmount_opts *uo,
	       ovl_error_t *err)
{
	struct hook_ctx ctx;
	int r = hook_ctx_load(&ctx, STDIN_FILENO, &stage, layers_under, err);
	if (r <= 0) {
		hook_ctx_free(&ctx);
		return r;
	}
	switch (stage) {
	case STAGE_POSTSTOP:
		r = hook_poststop(&ctx, err);
		break;
	case STAGE_CREATE_CONTAINER:
		r = hook_mount(&ctx, true, err);
		break;
	case STAGE_MOUNT:
		r = hook_remount(&ctx, err);
		break;
	case STAGE_UNMOUNT:
		r = hook_unmount(&ctx, uo, err);
		break;
	default:
		if (ctx.state.pid <= 1)
			r = ovl_error(err, 0, "state: pid: %lld is not a container process",
				      (long long)ctx.state.pid);
		else
			r = hook_mount(&ctx, false, err);
		break;
	}
	hook_ctx_free(&ctx);
	return r;
}

int main(int argc, char **argv)
{
	enum hook_stage stage = STAGE_INFER;
	const char *log_path = NULL;
	const char *layers_under = NULL;
	bool verbose = false;
	struct hook_unmount_opts uo = {0};
	const char *unmount_flag = NULL; /* the first flag only unmount takes */
	ovl_log_init(PROG, -1, false);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--log") == 0 && i + 1 < argc) {
			log_path = argv[++i];
		} else if (strncmp(a, "--log=", 6) == 0) {
			log_path = a + 6;
		} else if (strcmp(a, "--layers-under") == 0 && i + 1 < argc) {
			layers_under = argv[++i];
		} else if (strncmp(a, "--layers-under=", 15) == 0) {
			layers_under = a + 15;
		} else if (strcmp(a, "--kill") == 0) {
			uo.kill = true;
			unmount_flag = unmount_flag ? unmount_flag : a;
		} else if (strcmp(a, "--on-exit") == 0 && i + 1 < argc) {
			if (ovl_on_exit_parse(argv[++i], &uo.on_exit) < 0) {
				ovl_errorf("--on-exit %s: not one of apply, discard, keep",
					   ovl_qp(argv[i]));
				return 2;
			}
			uo.has_on_exit = true;
			unmount_flag = unmount_flag ? unmount_flag : a;
		} else if (strcmp(a, "--stats") == 0 && i + 1 < argc) {
			uo.stats = argv[++i];
			unmount_flag = unmount_flag ? unmount_flag : a;
		} else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
			verbose = true;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf(PROG " " OVLBOX_VERSION "\n");
			return 0;
		} else if (a[0] != '-' && stage == STAGE_INFER) {
			size_t k;
			for (k = 0; k < sizeof(stages) / sizeof(stages[0]); k++)
				if (strcmp(a, stages[k].name) == 0)
					break;
			if (k == sizeof(stages) / sizeof(stages[0])) {
				ovl_errorf("unknown stage %s (prestart, createRuntime, "
					   "createContainer, poststop, mount or unmount)",
					   ovl_qp(a));
				return 2;
			}
			stage = stages[k].stage;
		} else {
			ovl_errorf("unexpected argument %s", ovl_qp(a));
			usage(stderr);
			return 2;
		}
	}
	int log_fd = -1;
	if (log_path)
		log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	ovl_log_init(PROG, log_fd, verbose);
	if (log_path && log_fd < 0)
		/* A log that cannot be written must not keep a workspace from being applied. */
		ovl_warn("open log %s: %s; logging to stderr only", ovl_qp(log_path),
			 strerror(errno));

	if (unmount_flag && stage != STAGE_UNMOUNT) {
		ovl_errorf("%s: only the unmount stage takes it", unmount_flag);
		return 2;
	}
	if (layers_under && layers_under[0] != '/') {
		ovl_errorf("--layers-under %s: not an absolute path", ovl_qp(layers_under));
		return 2;
	}
	cleanup_error ovl_error_t err = NULL;
	int r = run(stage, layers_under, &uo, &err);
	if (r < 0)
		ovl_errorf("%s", err ? err->msg : "failed");
	return r == HOOK_BUSY ? 3 : r == HOOK_USAGE ? 2 : r < 0 ? 1 : 0;
}
