/* ovlbox: command dispatch and the layer commands (apply, diff, discard). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ovlbox/alloc.h"
#include "ovlbox/apply.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/diff.h"
#include "ovlbox/fs.h"
#include "ovlbox/json.h"
#include "ovlbox/log.h"

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

void report(ovl_error_t *err)
{
	if (err && *err) {
		ovl_errorf("%s", (*err)->msg);
		ovl_error_free(err);
	}
}

static int write_file(const char *path, const char *text, ovl_error_t *err)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ovl_write_all(fd, text, strlen(text)) < 0)
		return ovl_error(err, errno, "write %s", path);
	return 0;
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
	char map[64];
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	if (write_file("/proc/self/uid_map", map, err) < 0 ||
	    write_file("/proc/self/setgroups", "deny", err) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
	return write_file("/proc/self/gid_map", map, err);
}

/* r: what ovl_apply or ovl_diff returned. An upper whose xattr namespace cannot be told gets a
 * message that names the flags that tell it. */
static int name_xattr_ns_flags(int r, ovl_error_t *err)
{
	if (r == OVL_XATTR_NS_AMBIGUOUS) {
		cleanup_free char *msg = xstrdup((*err)->msg);
		ovl_error(err, 0, "%s: name it with --userxattr or --no-userxattr", msg);
	}
	return r;
}

static int apply_with(struct ovl_layers *l, const struct ovl_apply_opts *opts,
		      struct ovl_change_counts *counts, ovl_error_t *err)
{
	int r = name_xattr_ns_flags(ovl_apply(l, opts, counts, err), err);
	if (r < 0)
		cli_apply_advice(l, err);
	return r;
}

int apply_locked(struct ovl_layers *l, bool keep_setuid, bool allow_devices,
		 struct ovl_change_counts *counts, ovl_error_t *err)
{
	struct ovl_apply_opts opts = {.keep_setuid = keep_setuid, .allow_devices = allow_devices};
	return apply_with(l, &opts, counts, err);
}

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

/* One line of --help for each option of apply/diff/discard. */
static const struct {
	int id;
	const char *text;
} layer_option_help[] = {
    {OPT_UPPER, "  --upper DIR        the upper layer (default DIR.upper)"},
    {OPT_WORK, "  --work DIR         the work dir (default DIR.work)"},
    {OPT_KEEP_SETUID, "  --keep-setuid      keep setuid/setgid bits and file capabilities"},
    {OPT_ALLOW_DEVICES, "  --allow-devices    apply device nodes (default: refused)"},
    {OPT_JSON, "  --json             one JSON array of {path, change, type, size}"},
    {OPT_USERXATTR, "  --userxattr        read the upper's overlay xattrs as user.overlay.*"},
    {OPT_NO_USERXATTR, "  --no-userxattr     read them as trusted.overlay.*"},
};

static void print_layer_help(const char *cmd, const char *synopsis, const int *allowed)
{
	printf("Usage: ovlbox %s %s\n", cmd, synopsis);
	for (size_t i = 0; i < N_ELEMENTS(layer_option_help); i++)
		for (const int *p = allowed; *p; p++)
			if (*p == layer_option_help[i].id)
				puts(layer_option_help[i].text);
	puts("  -h, --help         this help (ovlbox(1) has the long form)");
}

/* Parses the options shared by apply/diff/discard; `allowed` lists the option ids the command
 * takes. Returns 0, 1 for --help (printed), or -1 (message printed). */
static int parse_layer_args(const char *cmd, const char *synopsis, int argc, char **argv,
			    const int *allowed, struct layer_args *a)
{
	static const struct option opts[] = {
	    {"upper", required_argument, NULL, OPT_UPPER},
	    {"work", required_argument, NULL, OPT_WORK},
	    {"keep-setuid", no_argument, NULL, OPT_KEEP_SETUID},
	    {"allow-devices", no_argument, NULL, OPT_ALLOW_DEVICES},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"userxattr", no_argument, NULL, OPT_USERXATTR},
	    {"no-userxattr", no_argument, NULL, OPT_NO_USERXATTR},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof(*a));
	opterr = 0;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h')
			c = OPT_HELP;
		bool ok = c == OPT_HELP;
		for (const int *p = allowed; *p; p++)
			ok |= *p == c;
		if (c == '?' || !ok) {
			ovl_errorf("%s: unknown option %s (see ovlbox %s --help)", cmd,
				   argv[optind - 1], cmd);
			return -1;
		}
		switch (c) {
		case OPT_UPPER:
			a->upper = optarg;
			break;
		case OPT_WORK:
			a->work = optarg;
			break;
		case OPT_KEEP_SETUID:
			a->keep_setuid = true;
			break;
		case OPT_ALLOW_DEVICES:
			a->allow_devices = true;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case OPT_USERXATTR:
		case OPT_NO_USERXATTR:
			if (set_xattr_ns(cmd, c, a) < 0)
				return -1;
			break;
		case OPT_HELP:
			print_layer_help(cmd, synopsis, allowed);
			return 1;
		}
	}
	if (argc - optind != 1) {
		ovl_errorf("%s: expected exactly one workspace DIR (see ovlbox %s --help)", cmd,
			   cmd);
		return -1;
	}
	a->dir = argv[optind];
	return 0;
}

char *cli_absolute(const char *p)
{
	if (p == NULL || p[0] == '/')
		return p ? strdup(p) : NULL;
	cleanup_free char *cwd = getcwd(NULL, 0);
	char *s = NULL;
	if (cwd == NULL || asprintf(&s, "%s/%s", cwd, p) < 0)
		return NULL;
	return s;
}

/* Names the layers and opens them (ovl_layers_open): every step after goes through the fds.
 * On failure l is freed. */
static int init_layers(const struct layer_args *a, struct ovl_layers *l, ovl_error_t *err)
{
	cleanup_free char *dir = cli_absolute(a->dir);
	cleanup_free char *upper = cli_absolute(a->upper);
	cleanup_free char *work = cli_absolute(a->work);
	if (ovl_layers_init(l, dir, upper, work, err) < 0)
		return -1;
	if (ovl_layers_open(l, err) < 0) {
		ovl_layers_free(l);
		return -1;
	}
	return 0;
}

/* Refuses layers a running container owns (its overlay mounted on them) or whose mark names
 * other directories; for an apply, carries out the on-exit of an owner that is gone. */
static int check_owner(struct ovl_layers *l, enum ovl_ready_purpose purpose,
		       struct ovl_ready_info *info, ovl_error_t *err)
{
	int r = ovl_layers_ready(l, purpose, NULL, info, err);
	if (r < 0)
		return -1;
	report_recovered(l, info);
	if (r != OVL_READY_OK)
		return refuse_owned(l, r, &info->mark, err);
	return 0;
}

static int cmd_apply(int argc, char **argv)
{
	static const int allowed[] = {
	    OPT_UPPER,	      OPT_WORK, OPT_KEEP_SETUID, OPT_ALLOW_DEVICES, OPT_USERXATTR,
	    OPT_NO_USERXATTR, 0};
	struct layer_args a;
	int r = parse_layer_args("apply",
				 "[--upper DIR] [--work DIR] [--keep-setuid] "
				 "[--allow-devices] [--userxattr|--no-userxattr] DIR",
				 argc, argv, allowed, &a);
	if (r != 0)
		return r > 0 ? 0 : EXIT_USAGE;
	cleanup_error ovl_error_t err = NULL;
	struct ovl_layers l;
	if (init_layers(&a, &l, &err) < 0) {
		report(&err);
		return EXIT_FAILED;
	}
	struct ovl_ready_info info;
	cleanup_close int lock = ovl_layers_lock(&l, &err);
	if (lock < 0 || enter_rootless_userns(&err) < 0 ||
	    check_owner(&l, OVL_READY_FOR_APPLY, &info, &err) < 0 ||
	    apply_with(&l,
		       &(struct ovl_apply_opts){.keep_setuid = a.keep_setuid,
						.allow_devices = a.allow_devices,
						.xattr_ns = a.xattr_ns},
		       NULL, &err) < 0) {
		report(&err);
		ovl_layers_free(&l);
		return EXIT_FAILED;
	}
	release_owner(&info);
	ovl_layers_free(&l);
	return 0;
}

static int cmd_discard(int argc, char **argv)
{
	/* The namespace flags are taken so that one set of layer options serves apply, diff
	 * and discard; removing the layers does not depend on it. */
	static const int allowed[] = {OPT_UPPER, OPT_WORK, OPT_USERXATTR, OPT_NO_USERXATTR, 0};
	struct layer_args a;
	int r = parse_layer_args("discard",
				 "[--upper DIR] [--work DIR] [--userxattr|--no-userxattr] DIR",
				 argc, argv, allowed, &a);
	if (r != 0)
		return r > 0 ? 0 : EXIT_USAGE;
	cleanup_error ovl_error_t err = NULL;
	struct ovl_layers l;
	if (init_layers(&a, &l, &err) < 0) {
		report(&err);
		return EXIT_FAILED;
	}
	int status = EXIT_FAILED;
	struct ovl_ready_info info;
	cleanup_close int lock = ovl_layers_lock(&l, &err);
	if (lock < 0 || enter_rootless_userns(&err) < 0)
		goto out;
	int state = ovl_layers_state(&l, &err);
	if (state < 0)
		goto out;
	if (state == OVL_STATE_JOURNAL) {
		cleanup_free char *cmd = cli_layers_cmd(&l, "apply");
		ovl_error(&err, 0,
			  "workspace %s: an apply was interrupted and is half done; finish it with "
			  "`%s` instead of discarding",
			  ovl_qp(l.lower), cmd);
		goto out;
	}
	if (check_owner(&l, OVL_READY_FOR_DISCARD, &info, &err) < 0 ||
	    ovl_layers_discard(&l, &err) < 0)
		goto out;
	release_owner(&info);
	status = 0;
out:
	report(&err);
	ovl_layers_free(&l);
	return status;
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

static int cmd_diff(int argc, char **argv)
{
	static const int allowed[] = {OPT_UPPER,     OPT_WORK,	       OPT_JSON,
				      OPT_USERXATTR, OPT_NO_USERXATTR, 0};
	struct layer_args a;
	int r = parse_layer_args(
	    "diff", "[--upper DIR] [--work DIR] [--json] [--userxattr|--no-userxattr] DIR", argc,
	    argv, allowed, &a);
	if (r != 0)
		return r > 0 ? 0 : EXIT_USAGE;
	cleanup_error ovl_error_t err = NULL;
	struct ovl_layers l;
	struct ovl_diff d = {0};
	if (init_layers(&a, &l, &err) < 0 || enter_rootless_userns(&err) < 0 ||
	    name_xattr_ns_flags(ovl_diff(&l, a.xattr_ns, &d, &err), &err) < 0) {
		report(&err);
		if (l.lower)
			ovl_layers_free(&l);
		return EXIT_FAILED;
	}
	if (a.json && print_diff_json(&d, &err) < 0) {
		report(&err);
		ovl_diff_free(&d);
		ovl_layers_free(&l);
		return EXIT_FAILED;
	} else if (!a.json) {
		for (size_t i = 0; i < d.n; i++) {
			printf("%c ", d.entries[i].change);
			print_escaped(stdout, d.entries[i].path);
			putchar('\n');
		}
	}
	ovl_diff_free(&d);
	ovl_layers_free(&l);
	if (fflush(stdout) != 0) {
		ovl_errorf("diff: write output: %s", strerror(errno));
		return EXIT_FAILED;
	}
	return 0;
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
	if (!strcmp(cmd, "apply"))
		return cmd_apply(argc - 1, argv + 1);
	if (!strcmp(cmd, "diff"))
		return cmd_diff(argc - 1, argv + 1);
	if (!strcmp(cmd, "discard"))
		return cmd_discard(argc - 1, argv + 1);
	ovl_errorf("unknown command %s (see ovlbox --help)", ovl_qp(cmd));
	return EXIT_USAGE;
}
