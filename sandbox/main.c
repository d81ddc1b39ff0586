/* ovlbox: command dispatch and the layer commands (apply, diff, discard); run is in run.c. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ovlbox/alloc.h"
#include "ovlbox/apply.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/diff.h"
#include "ovlbox/json.h"
#include "ovlbox/log.h"
#include "ovlbox/owner.h"
#include "ovlbox/prepare.h"
#include "run.h"

static const char usage_text[] =
    "Usage: ovlbox COMMAND [OPTIONS]\n"
    "\n"
    "Copy-on-write workspaces for build actions: the workspace becomes an overlayfs lower\n"
    "layer, the action writes into an upper layer, and the changes are applied back.\n"
    "\n"
    "Commands:\n"
    "  run      --workspace DIR [--upper DIR] [--work DIR] [--on-exit apply|discard|keep]\n"
    "           -- CMD [ARG...]       run CMD with DIR copy-on-write, then apply\n"
    "  apply    [--upper DIR] [--work DIR] [--keep-setuid] [--allow-devices]\n"
    "           [--userxattr|--no-userxattr] DIR\n"
    "                                 apply (or finish applying) DIR's upper layer\n"
    "  diff     [--upper DIR] [--work DIR] [--json] [--userxattr|--no-userxattr] DIR\n"
    "                                 list the changes an apply would make\n"
    "  discard  [--upper DIR] [--work DIR] [--userxattr|--no-userxattr] DIR\n"
    "                                 throw the changes away\n"
    "\n"
    "Options: --help (also after a command), --version.\n"
    "Defaults: upper = DIR.upper, work = DIR.work.\n"
    "--userxattr / --no-userxattr: the upper's overlay xattrs are user.overlay.* /\n"
    "trusted.overlay.* (an upper made by another tool; default: the mode ovlbox recorded\n"
    "when it prepared the upper, else what the upper's xattrs show).\n";

struct layer_args {
	const char *upper, *work, *dir;
	bool keep_setuid, allow_devices, json;
	enum ovl_xattr_ns xattr_ns;
};

enum {
	OPT_UPPER = 1000,
	OPT_WORK,
	OPT_KEEP_SETUID,
	OPT_ALLOW_DEVICES,
	OPT_JSON,
	OPT_USERXATTR,
	OPT_NO_USERXATTR,
	OPT_HELP
};

/* --userxattr or --no-userxattr (c); refuses the two together. */
static int set_xattr_ns(const char *cmd, int c, struct layer_args *a)
{
	enum ovl_xattr_ns ns = c == OPT_USERXATTR ? OVL_XATTR_NS_USER : OVL_XATTR_NS_TRUSTED;
	if (a->xattr_ns != OVL_XATTR_NS_AUTO && a->xattr_ns != ns) {
		ovl_errorf("%s: --userxattr and --no-userxattr contradict each other", cmd);
		return -1;
	}
	a->xattr_ns = ns;
	return 0;
}

/* The options of apply/diff/discard, and what --help says of each (those with a value take a
 * DIR). */
static const struct layer_option {
	const char *name;
	int has_arg, id;
	const char *help;
} layer_options[] = {
    {"upper", required_argument, OPT_UPPER, "the upper layer (default DIR.upper)"},
    {"work", required_argument, OPT_WORK, "the work dir (default DIR.work)"},
    {"keep-setuid", no_argument, OPT_KEEP_SETUID, "keep setuid/setgid bits and file capabilities"},
    {"allow-devices", no_argument, OPT_ALLOW_DEVICES, "apply device nodes (default: refused)"},
    {"json", no_argument, OPT_JSON, "one JSON array of {path, change, type, size}"},
    {"userxattr", no_argument, OPT_USERXATTR, "read the upper's overlay xattrs as user.overlay.*"},
    {"no-userxattr", no_argument, OPT_NO_USERXATTR, "read them as trusted.overlay.*"},
};

static bool allows(const int *allowed, int id)
{
	for (const int *p = allowed; *p; p++)
		if (*p == id)
			return true;
	return false;
}

static void print_layer_help(const char *cmd, const char *synopsis, const int *allowed)
{
	printf("Usage: ovlbox %s %s\n", cmd, synopsis);
	for (size_t i = 0; i < N_ELEMENTS(layer_options); i++) {
		const struct layer_option *lo = &layer_options[i];
		if (!allows(allowed, lo->id))
			continue;
		char flag[32];
		snprintf(flag, sizeof(flag), "--%s%s", lo->name,
			 lo->has_arg == required_argument ? " DIR" : "");
		printf("  %-18s %s\n", flag, lo->help);
	}
	puts("  -h, --help         this help (ovlbox(1) has the long form)");
}

/* The field an on/off option sets; NULL for the others. */
static bool *layer_switch(struct layer_args *a, int id)
{
	return id == OPT_KEEP_SETUID	 ? &a->keep_setuid
	       : id == OPT_ALLOW_DEVICES ? &a->allow_devices
	       : id == OPT_JSON		 ? &a->json
					 : NULL;
}

/* Takes option c (one the command allows, not --help) into a. */
static int set_layer_arg(const char *cmd, int c, const char *arg, struct layer_args *a)
{
	bool *on = layer_switch(a, c);
	if (on)
		*on = true;
	else if (c == OPT_UPPER)
		a->upper = arg;
	else if (c == OPT_WORK)
		a->work = arg;
	else
		return set_xattr_ns(cmd, c, a);
	return 0;
}

/* One of apply/diff/discard: its name, synopsis, the option ids it takes (0 ends them) and what
 * it does with the layers, opened (init_layers). */
struct layer_cmd {
	const char *name, *synopsis;
	const int *allowed;
	int (*run)(const struct layer_args *a, struct ovl_layers *l, ovl_error_t *err);
};

/* Parses the options of cmd. Returns 0, 1 for --help (printed), or -1 (message printed). */
static int parse_layer_args(const struct layer_cmd *lc, int argc, char **argv, struct layer_args *a)
{
	const char *cmd = lc->name;
	struct option opts[N_ELEMENTS(layer_options) + 2];
	for (size_t i = 0; i < N_ELEMENTS(layer_options); i++)
		opts[i] = (struct option){layer_options[i].name, layer_options[i].has_arg, NULL,
					  layer_options[i].id};
	opts[N_ELEMENTS(layer_options)] = (struct option){"help", no_argument, NULL, OPT_HELP};
	opts[N_ELEMENTS(layer_options) + 1] = (struct option){0};
	memset(a, 0, sizeof(*a));
	opterr = 0;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h' || c == OPT_HELP) {
			print_layer_help(cmd, lc->synopsis, lc->allowed);
			return 1;
		}
		if (c == '?' || !allows(lc->allowed, c)) {
			ovl_errorf("%s: unknown option %s (see ovlbox %s --help)", cmd,
				   argv[optind - 1], cmd);
			return -1;
		}
		if (set_layer_arg(cmd, c, optarg, a) < 0)
			return -1;
	}
	if (argc - optind != 1) {
		ovl_errorf("%s: expected exactly one workspace DIR (see ovlbox %s --help)", cmd,
			   cmd);
		return -1;
	}
	a->dir = argv[optind];
	return 0;
}

/* Names the layers and opens them (ovl_layers_open): every step after goes through the fds.
 * On failure l is freed (l->lower is NULL). */
static int init_layers(const struct layer_args *a, struct ovl_layers *l, ovl_error_t *err)
{
	memset(l, 0, sizeof(*l));
	cleanup_free char *dir = NULL, *upper = NULL, *work = NULL;
	if (cli_absolute("workspace", a->dir, &dir, err) < 0 ||
	    cli_absolute("--upper", a->upper, &upper, err) < 0 ||
	    cli_absolute("--work", a->work, &work, err) < 0 ||
	    ovl_layers_init(l, dir, upper, work, err) < 0)
		return -1;
	if (ovl_layers_open(l, err) < 0) {
		ovl_layers_free(l);
		return -1;
	}
	return 0;
}

/* Refuses layers a running container owns (its overlay mounted on them) or whose mark names
 * other directories; for an apply, carries out the on-exit of an owner that is gone (with
 * opts). */
static int check_owner(struct ovl_layers *l, enum ovl_ready_purpose purpose,
		       const struct ovl_apply_opts *opts, struct ovl_ready_info *info,
		       ovl_error_t *err)
{
	int r = ovl_layers_ready(l, purpose, NULL, opts, info, err);
	if (r < 0) {
		cli_apply_advice(l, err); /* finishing a journal, or a gone owner's apply */
		return -1;
	}
	report_recovered(l, info);
	if (r != OVL_READY_OK)
		return refuse_owned(l, r, &info->mark, err);
	return 0;
}

static int do_apply(const struct layer_args *a, struct ovl_layers *l, ovl_error_t *err)
{
	struct ovl_apply_opts opts = {.keep_setuid = a->keep_setuid,
				      .allow_devices = a->allow_devices,
				      .xattr_ns = a->xattr_ns};
	struct ovl_ready_info info;
	cleanup_close int lock = ovl_layers_lock(l, err);
	if (lock < 0 || enter_rootless_userns(err) < 0 ||
	    check_owner(l, OVL_READY_FOR_APPLY, &opts, &info, err) < 0 ||
	    cli_apply(l, &opts, NULL, err) < 0)
		return -1;
	release_owner(&info);
	return 0;
}

static int do_discard(const struct layer_args *a, struct ovl_layers *l, ovl_error_t *err)
{
	(void)a;
	struct ovl_ready_info info;
	cleanup_close int lock = ovl_layers_lock(l, err);
	if (lock < 0 || enter_rootless_userns(err) < 0)
		return -1;
	int state = ovl_layers_state(l, err);
	if (state < 0)
		return -1;
	if (state == OVL_STATE_JOURNAL) {
		cleanup_free char *cmd = cli_layers_cmd(l, "apply");
		return ovl_error(
		    err, 0,
		    "workspace %s: an apply was interrupted and is half done; finish it "
		    "with `%s` instead of discarding",
		    ovl_qp(l->lower), cmd);
	}
	if (check_owner(l, OVL_READY_FOR_DISCARD, NULL, &info, err) < 0 ||
	    ovl_layers_discard(l, err) < 0)
		return -1;
	release_owner(&info);
	return 0;
}

static void print_escaped(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

static int print_diff_json(const struct ovl_diff *d, ovl_error_t *err)
{
	ovl_jw *w = ovl_jw_new(false);
	ovl_jw_array_open(w);
	for (size_t i = 0; i < d->n; i++) {
		const struct ovl_diff_entry *e = &d->entries[i];
		char change[2] = {e->change, '\0'};
		ovl_jw_object_open(w);
		ovl_jw_key(w, "path");
		ovl_jw_string(w, e->path);
		ovl_jw_key(w, "change");
		ovl_jw_string(w, change);
		ovl_jw_key(w, "type");
		ovl_jw_string(w, e->type);
		ovl_jw_key(w, "size");
		ovl_jw_int(w, (long long)e->size);
		ovl_jw_object_close(w);
	}
	ovl_jw_array_close(w);
	size_t len;
	const char *text = ovl_jw_text(w, &len, err);
	if (text) {
		fwrite(text, 1, len, stdout);
		fputc('\n', stdout);
	}
	ovl_jw_free(w);
	return text ? 0 : ovl_error_wrap(err, "diff --json");
}

static void print_diff_text(const struct ovl_diff *d)
{
	for (size_t i = 0; i < d->n; i++) {
		printf("%c ", d->entries[i].change);
		print_escaped(stdout, d->entries[i].path);
		putchar('\n');
	}
}

static int do_diff(const struct layer_args *a, struct ovl_layers *l, ovl_error_t *err)
{
	struct ovl_diff d = {0};
	if (enter_rootless_userns(err) < 0 ||
	    cli_name_xattr_ns_flags(ovl_diff(l, a->xattr_ns, &d, err), err) < 0)
		return -1;
	int r = 0;
	if (a->json)
		r = print_diff_json(&d, err);
	else
		print_diff_text(&d);
	ovl_diff_free(&d);
	if (r == 0 && fflush(stdout) != 0)
		r = ovl_error(err, errno, "diff: write output");
	return r;
}

/* The namespace flags are taken by discard too, so that one set of layer options serves apply,
 * diff and discard; removing the layers does not depend on it. */
static const struct layer_cmd layer_cmds[] = {
    {"apply",
     "[--upper DIR] [--work DIR] [--keep-setuid] [--allow-devices] "
     "[--userxattr|--no-userxattr] DIR",
     (const int[]){OPT_UPPER, OPT_WORK, OPT_KEEP_SETUID, OPT_ALLOW_DEVICES, OPT_USERXATTR,
		   OPT_NO_USERXATTR, 0},
     do_apply},
    {"diff", "[--upper DIR] [--work DIR] [--json] [--userxattr|--no-userxattr] DIR",
     (const int[]){OPT_UPPER, OPT_WORK, OPT_JSON, OPT_USERXATTR, OPT_NO_USERXATTR, 0}, do_diff},
    {"discard", "[--upper DIR] [--work DIR] [--userxattr|--no-userxattr] DIR",
     (const int[]){OPT_UPPER, OPT_WORK, OPT_USERXATTR, OPT_NO_USERXATTR, 0}, do_discard},
};

/* Parses lc's command line, opens the layers, runs lc; returns the exit status. */
static int cmd_layers(const struct layer_cmd *lc, int argc, char **argv)
{
	struct layer_args a;
	int r = parse_layer_args(lc, argc, argv, &a);
	if (r != 0)
		return r > 0 ? 0 : EXIT_USAGE;
	cleanup_error ovl_error_t err = NULL;
	struct ovl_layers l;
	int status = 0;
	if (init_layers(&a, &l, &err) < 0 || lc->run(&a, &l, &err) < 0) {
		report(&err);
		status = EXIT_OVLBOX;
	}
	if (l.lower)
		ovl_layers_free(&l);
	return status;
}

int main(int argc, char **argv)
{
	ovl_log_init("ovlbox", -1, getenv("OVLBOX_DEBUG") != NULL);
	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("ovlbox %s\n", OVLBOX_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	for (size_t i = 0; i < N_ELEMENTS(layer_cmds); i++)
		if (!strcmp(cmd, layer_cmds[i].name))
			return cmd_layers(&layer_cmds[i], argc - 1, argv + 1);
	ovl_errorf("unknown command %s (see ovlbox --help)", ovl_qp(cmd));
	return EXIT_USAGE;
}
