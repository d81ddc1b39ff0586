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
#include "ovlbox/alloc.h"
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

/* The command line. */
struct hook_args {
	enum hook_stage stage;
	const char *log_path;
	const char *layers_under;
	bool verbose;
	struct hook_unmount_opts uo;
	const char *unmount_flag; /* the first flag only unmount takes */
};

/* The value of "--NAME VALUE" (*i moves past it) or "--NAME=VALUE"; NULL when a is not it. */
static const char *value_option(int argc, char **argv, int *i, const char *name)
{
	const char *a = argv[*i];
	size_t n = strlen(name);
	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

/* STAGE: 0, or 2 (a usage error, said). */
static int parse_stage(const char *a, enum hook_stage *stage)
{
	for (size_t k = 0; k < N_ELEMENTS(stages); k++)
		if (strcmp(a, stages[k].name) == 0) {
			*stage = stages[k].stage;
			return 0;
		}
	ovl_errorf("unknown stage %s (prestart, createRuntime, createContainer, poststop, mount "
		   "or unmount)",
		   ovl_qp(a));
	return 2;
}

/* The flags only unmount takes: 1 when argv[*i] is one, 0 when not, 2 on a usage error (said). */
static int unmount_option(int argc, char **argv, int *i, struct hook_args *h)
{
	const char *a = argv[*i];
	const char *v;
	if (strcmp(a, "--kill") == 0) {
		h->uo.kill = true;
	} else if (strcmp(a, "--on-exit") == 0 && *i + 1 < argc) {
		v = argv[++*i];
		if (ovl_on_exit_parse(v, &h->uo.on_exit) < 0) {
			ovl_errorf("--on-exit %s: not one of apply, discard, keep", ovl_qp(v));
			return 2;
		}
		h->uo.has_on_exit = true;
	} else if (strcmp(a, "--stats") == 0 && *i + 1 < argc) {
		h->uo.stats = argv[++*i];
	} else {
		return 0;
	}
	h->unmount_flag = h->unmount_flag ? h->unmount_flag : a;
	return 1;
}

/* -1 to go on, or the exit status: 0 after --help or --version, 2 on a usage error (said). */
static int parse_args(int argc, char **argv, struct hook_args *h)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		int u;
		if ((v = value_option(argc, argv, &i, "--log"))) {
			h->log_path = v;
		} else if ((v = value_option(argc, argv, &i, "--layers-under"))) {
			h->layers_under = v;
		} else if ((u = unmount_option(argc, argv, &i, h)) != 0) {
			if (u == 2)
				return 2;
		} else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
			h->verbose = true;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf(PROG " " OVLBOX_VERSION "\n");
			return 0;
		} else if (a[0] != '-' && h->stage == STAGE_INFER) {
			if (parse_stage(a, &h->stage) != 0)
				return 2;
		} else {
			ovl_errorf("unexpected argument %s", ovl_qp(a));
			usage(stderr);
			return 2;
		}
	}
	return -1;
}

/* --log FILE besides stderr. */
static void open_log(const struct hook_args *h)
{
	int log_fd = -1;
	if (h->log_path)
		log_fd =
		    open(h->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	ovl_log_init(PROG, log_fd, h->verbose);
	if (h->log_path && log_fd < 0)
		/* A log that cannot be written must not keep a workspace from being applied. */
		ovl_warn("open log %s: %s; logging to stderr only", ovl_qp(h->log_path),
			 strerror(errno));
}

int main(int argc, char **argv)
{
	struct hook_args h = {.stage = STAGE_INFER};
	ovl_log_init(PROG, -1, false);
	int status = parse_args(argc, argv, &h);
	if (status >= 0)
		return status;
	open_log(&h);
	if (h.unmount_flag && h.stage != STAGE_UNMOUNT) {
		ovl_errorf("%s: only the unmount stage takes it", h.unmount_flag);
		return 2;
	}
	if (h.layers_under && h.layers_under[0] != '/') {
		ovl_errorf("--layers-under %s: not an absolute path", ovl_qp(h.layers_under));
		return 2;
	}
	cleanup_error ovl_error_t err = NULL;
	int r = run(h.stage, h.layers_under, &h.uo, &err);
	if (r < 0)
		ovl_errorf("%s", err ? err->msg : "failed");
	return r == HOOK_BUSY ? 3 : r == HOOK_USAGE ? 2 : r < 0 ? 1 : 0;
}
