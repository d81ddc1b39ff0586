/* ovlbox run's command line: flags, defaults and their validation. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/log.h"
#include "runopts.h"

extern char **environ;

static const char run_usage[] =
    "Usage: ovlbox run --workspace DIR [OPTIONS] -- CMD [ARG...]\n"
    "\n"
    "Layers:\n"
    "  --workspace DIR          the workspace (lower layer); the action's cwd\n"
    "  --upper DIR, --work DIR  layer dirs (default DIR.upper, DIR.work)\n"
    "  --on-exit apply|discard|keep   what to do with the changes (default apply)\n"
    "  --check-owners           as non-root, refuse up front a workspace entry of an owner\n"
    "                           the run cannot map (walks the whole workspace; without it,\n"
    "                           a failed action is followed by a note naming such entries)\n"
    "Namespaces:\n"
    "  --hostname NAME          hostname in the sandbox (default ovlbox)\n"
    "  --net private|host       a network namespace with only lo (default), or the host's\n"
    "Filesystem (the host root is read-only; /proc, /dev, /tmp are private):\n"
    "  --bind SRC[:DST]         bind SRC writable at DST (default: the same path)\n"
    "  --ro-bind SRC[:DST]      bind SRC read-only at DST\n"
    "  --tmpfs DIR              a private tmpfs at DIR\n"
    "  --writable DIR           make the host's DIR writable in the sandbox\n"
    "Privileges:\n"
    "  --cap-add CAP            keep capability CAP (repeatable; ALL keeps every one)\n"
    "  --seccomp FILE|default|none   seccomp profile (OCI or Docker JSON; default: built-in)\n"
    "Process:\n"
    "  --timeout SECONDS        send SIGTERM after SECONDS (exit status 124)\n"
    "  --kill-after SECONDS     then SIGKILL the whole sandbox (default 10)\n"
    "  --env K=V                set a variable (repeatable)\n"
    "  --clear-env              start from an empty environment\n"
    "  --cwd DIR                working directory in the sandbox (default the workspace)\n"
    "  --rlimit NAME=SOFT[:HARD]  set a resource limit (e.g. nofile=1024, as=unlimited)\n"
    "  --stats FILE             write a JSON object of exit status, times, memory, changes\n"
    "  --upper-size SIZE        keep the upper layer on a tmpfs of SIZE (e.g. 512m, 2g);\n"
    "                           writes beyond it fail with ENOSPC\n"
    "Apply (as ovlbox apply):\n"
    "  --keep-setuid            keep setuid/setgid bits the action set (default: dropped)\n"
    "  --allow-devices          apply device nodes the action made (default: refused)\n"
    "  -h, --help               this help (ovlbox(1) has the long form)\n";

static int parse_seconds(const char *flag, const char *v, double *out)
{
	char *end = NULL;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(d) || d <= 0 || d > 1e7) {
		ovl_errorf("run: %s %s: expected a positive number of seconds", flag, ovl_qp(v));
		return -1;
	}
	*out = d;
	return 0;
}

/* A tmpfs size: digits with an optional k, m, g suffix (bytes otherwise). */
static int parse_size(const char *v, const char **out)
{
	size_t n = strspn(v, "0123456789");
	bool ok = n > 0 && (v[n] == '\0' || (strchr("kKmMgG", v[n]) && v[n + 1] == '\0'));
	if (!ok || strspn(v, "0") == n) {
		ovl_errorf("run: --upper-size %s: expected a size such as 65536, 512m or 2g",
			   ovl_qp(v));
		return -1;
	}
	*out = v;
	return 0;
}

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
    {"as", RLIMIT_AS},		 {"core", RLIMIT_CORE},		{"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},	 {"fsize", RLIMIT_FSIZE},	{"locks", RLIMIT_LOCKS},
    {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},	 {"nproc", RLIMIT_NPROC},	{"rss", RLIMIT_RSS},
    {"rtprio", RLIMIT_RTPRIO},	 {"rttime", RLIMIT_RTTIME},	{"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},
};

static int parse_rlim_value(const char *s, rlim_t *out)
{
	if (!strcmp(s, "unlimited") || !strcmp(s, "infinity")) {
		*out = RLIM_INFINITY;
		return 0;
	}
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -1;
	*out = (rlim_t)v;
	return 0;
}

/* NAME=SOFT[:HARD]; a missing HARD keeps the current hard limit (so lowering works without
 * CAP_SYS_RESOURCE). */
static int parse_rlimit(const char *spec, struct run_rlimit *r)
{
	const char *eq = strchr(spec, '=');
	size_t n = eq ? (size_t)(eq - spec) : 0;
	int res = -1;
	for (size_t i = 0; eq && i < N_ELEMENTS(rlimit_names); i++)
		if (strlen(rlimit_names[i].name) == n &&
		    !strncasecmp(spec, rlimit_names[i].name, n))
			res = rlimit_names[i].resource;
	if (res < 0) {
		ovl_errorf("run: --rlimit %s: expected NAME=SOFT[:HARD] with NAME one of as, core, "
			   "cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, "
			   "rtprio, rttime, sigpending, stack",
			   ovl_qp(spec));
		return -1;
	}
	struct rlimit cur;
	if (getrlimit(res, &cur) < 0) {
		ovl_errorf("run: --rlimit %s: read the current limit: %s", ovl_qp(spec),
			   strerror(errno));
		return -1;
	}
	cleanup_free char *vals = xstrdup(eq + 1);
	char *colon = strchr(vals, ':');
	if (colon)
		*colon = '\0';
	r->resource = res;
	r->spec = spec;
	r->lim.rlim_max = cur.rlim_max;
	if (parse_rlim_value(vals, &r->lim.rlim_cur) < 0 ||
	    (colon && parse_rlim_value(colon + 1, &r->lim.rlim_max) < 0)) {
		ovl_errorf("run: --rlimit %s: limits must be numbers or \"unlimited\"",
			   ovl_qp(spec));
		return -1;
	}
	if (r->lim.rlim_cur > r->lim.rlim_max) {
		ovl_errorf("run: --rlimit %s: the soft limit exceeds the hard limit", ovl_qp(spec));
		return -1;
	}
	return 0;
}

static int add_mount(struct run_opts *o, enum mount_kind kind, const char *flag, const char *arg)
{
	struct user_mount m = {.kind = kind};
	char *src = NULL, *dst = NULL;
	if (kind == MNT_TMPFS || kind == MNT_WRITABLE) {
		src = xstrdup(arg);
		dst = xstrdup(arg);
	} else {
		const char *colon = strchr(arg, ':');
		src = colon ? xstrndup(arg, (size_t)(colon - arg)) : xstrdup(arg);
		dst = xstrdup(colon ? colon + 1 : arg);
	}
	if (src[0] != '/' || dst[0] != '/' || strstr(dst, "/../") || !strcmp(dst, "/") ||
	    (strlen(dst) >= 3 && !strcmp(dst + strlen(dst) - 3, "/.."))) {
		ovl_errorf("run: %s %s: paths must be absolute, without \"..\", and not /", flag,
			   ovl_qp(arg));
		free(src);
		free(dst);
		return -1;
	}
	m.src = kind == MNT_TMPFS ? (free(src), NULL) : src;
	m.dst = dst;
	o->mounts = xrealloc(o->mounts, (o->nmounts + 1) * sizeof(*o->mounts));
	o->mounts[o->nmounts++] = m;
	return 0;
}

static void set_env(struct run_opts *o, size_t *n, const char *kv)
{
	size_t klen = strcspn(kv, "=");
	for (size_t i = 0; i < *n; i++)
		if (!strncmp(o->envp[i], kv, klen) && o->envp[i][klen] == '=') {
			o->envp[i] = (char *)kv;
			return;
		}
	o->envp = xrealloc(o->envp, (*n + 2) * sizeof(char *));
	o->envp[(*n)++] = (char *)kv;
	o->envp[*n] = NULL;
}

enum {
	O_WS = 1000,
	O_UP,
	O_WK,
	O_EXIT,
	O_HOST,
	O_NET,
	O_BIND,
	O_ROBIND,
	O_TMPFS,
	O_WRITABLE,
	O_CAP,
	O_SECCOMP,
	O_TIMEOUT,
	O_KILL,
	O_ENV,
	O_CLEARENV,
	O_CWD,
	O_RLIMIT,
	O_STATS,
	O_UPPER_SIZE,
	O_KEEP_SETUID,
	O_ALLOW_DEVICES,
	O_CHECK_OWNERS,
	O_HELP,
};

static const struct option run_options[] = {
    {"workspace", required_argument, NULL, O_WS},
    {"upper", required_argument, NULL, O_UP},
    {"work", required_argument, NULL, O_WK},
    {"on-exit", required_argument, NULL, O_EXIT},
    {"hostname", required_argument, NULL, O_HOST},
    {"net", required_argument, NULL, O_NET},
    {"bind", required_argument, NULL, O_BIND},
    {"ro-bind", required_argument, NULL, O_ROBIND},
    {"tmpfs", required_argument, NULL, O_TMPFS},
    {"writable", required_argument, NULL, O_WRITABLE},
    {"cap-add", required_argument, NULL, O_CAP},
    {"seccomp", required_argument, NULL, O_SECCOMP},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"kill-after", required_argument, NULL, O_KILL},
    {"env", required_argument, NULL, O_ENV},
    {"clear-env", no_argument, NULL, O_CLEARENV},
    {"cwd", required_argument, NULL, O_CWD},
    {"rlimit", required_argument, NULL, O_RLIMIT},
    {"stats", required_argument, NULL, O_STATS},
    {"upper-size", required_argument, NULL, O_UPPER_SIZE},
    {"keep-setuid", no_argument, NULL, O_KEEP_SETUID},
    {"allow-devices", no_argument, NULL, O_ALLOW_DEVICES},
    {"check-owners", no_argument, NULL, O_CHECK_OWNERS},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

/* What parsing gathers beyond run_opts: the --env values, set over the environment (or none,
 * with --clear-env) once every option is read. */
struct run_parse {
	struct run_opts *o;
	const char **envs;
	size_t nenvs;
	bool clear_env;
};

/* --workspace, --upper, --work: the absolute path (the last one given counts). */
static int set_path(const char *flag, const char *arg, char **out)
{
	cleanup_error ovl_error_t err = NULL;
	free(*out);
	if (cli_absolute(flag, arg, out, &err) < 0) {
		ovl_errorf("run: %s", err->msg);
		return -1;
	}
	return 0;
}

static int parse_on_exit(const char *arg, enum ovl_on_exit *out)
{
	if (ovl_on_exit_parse(arg, out) < 0) {
		ovl_errorf("run: --on-exit %s: expected apply, discard or keep", ovl_qp(arg));
		return -1;
	}
	return 0;
}

static int parse_hostname(const char *arg, const char **out)
{
	if (arg[0] == '\0' || strlen(arg) > 64) {
		ovl_errorf("run: --hostname: expected 1 to 64 characters");
		return -1;
	}
	*out = arg;
	return 0;
}

static int parse_net(const char *arg, bool *host)
{
	if (strcmp(arg, "host") && strcmp(arg, "private")) {
		ovl_errorf("run: --net %s: expected private or host", ovl_qp(arg));
		return -1;
	}
	*host = !strcmp(arg, "host");
	return 0;
}

static int add_cap(struct run_opts *o, const char *arg)
{
	cleanup_error ovl_error_t err = NULL;
	if (ovl_capset_add(&o->caps, arg, &err) < 0) {
		ovl_errorf("run: --cap-add: %s", err->msg);
		return -1;
	}
	return 0;
}

static int add_env(struct run_parse *p, const char *arg)
{
	if (strchr(arg, '=') == NULL || arg[0] == '=') {
		ovl_errorf("run: --env %s: expected NAME=VALUE", ovl_qp(arg));
		return -1;
	}
	p->envs = xrealloc(p->envs, (p->nenvs + 1) * sizeof(char *));
	p->envs[p->nenvs++] = arg;
	return 0;
}

static int add_rlimit(struct run_opts *o, const char *arg)
{
	o->rlimits = xrealloc(o->rlimits, (o->nrlimits + 1) * sizeof(*o->rlimits));
	return parse_rlimit(arg, &o->rlimits[o->nrlimits++]);
}

/* The field of an option that only stores its value; NULL for the others. */
static const char **value_field(struct run_opts *o, int c)
{
	return c == O_SECCOMP ? &o->seccomp
	       : c == O_CWD   ? &o->cwd
	       : c == O_STATS ? &o->stats
			      : NULL;
}

/* The field of an option that only switches something on; NULL for the others. */
static bool *switch_field(struct run_parse *p, int c)
{
	return c == O_KEEP_SETUID     ? &p->o->keep_setuid
	       : c == O_ALLOW_DEVICES ? &p->o->allow_devices
	       : c == O_CHECK_OWNERS  ? &p->o->check_owners
	       : c == O_CLEARENV      ? &p->clear_env
				      : NULL;
}

/* One option (given: the argument as written, for the error about an unknown one). Returns 0,
 * 1 after --help, or -1 (message printed). */
static int parse_one(struct run_parse *p, int c, const char *arg, const char *given)
{
	struct run_opts *o = p->o;
	const char **value = value_field(o, c);
	bool *on = switch_field(p, c);
	if (value)
		*value = arg;
	else if (on)
		*on = true;
	if (value || on)
		return 0;
	switch (c) {
	case O_WS:
		return set_path("--workspace", arg, &o->workspace_abs);
	case O_UP:
		return set_path("--upper", arg, &o->upper_abs);
	case O_WK:
		return set_path("--work", arg, &o->work_abs);
	case O_EXIT:
		return parse_on_exit(arg, &o->on_exit);
	case O_UPPER_SIZE:
		return parse_size(arg, &o->upper_size);
	case O_HOST:
		return parse_hostname(arg, &o->hostname);
	case O_NET:
		return parse_net(arg, &o->net_host);
	case O_BIND:
		return add_mount(o, MNT_BIND, "--bind", arg);
	case O_ROBIND:
		return add_mount(o, MNT_RO_BIND, "--ro-bind", arg);
	case O_TMPFS:
		return add_mount(o, MNT_TMPFS, "--tmpfs", arg);
	case O_WRITABLE:
		return add_mount(o, MNT_WRITABLE, "--writable", arg);
	case O_CAP:
		return add_cap(o, arg);
	case O_TIMEOUT:
		return parse_seconds("--timeout", arg, &o->timeout);
	case O_KILL:
		return parse_seconds("--kill-after", arg, &o->kill_after);
	case O_ENV:
		return add_env(p, arg);
	case O_RLIMIT:
		return add_rlimit(o, arg);
	case O_HELP:
		fputs(run_usage, stdout);
		return 1;
	}
	ovl_errorf("run: unknown option or missing value: %s (see ovlbox run --help)",
		   ovl_qp(given));
	return -1;
}

/* The checks that need every option. */
static int check_opts(const struct run_opts *o, int argc)
{
	if (o->workspace_abs == NULL || optind >= argc) {
		ovl_errorf("run: %s (ovlbox run --workspace DIR [OPTIONS] -- CMD [ARG...])",
			   o->workspace_abs ? "no command given" : "--workspace DIR is required");
		return -1;
	}
	if (o->upper_size && (o->upper_abs || o->work_abs)) {
		ovl_errorf(
		    "run: --upper-size puts upper and work on a tmpfs: it cannot be combined "
		    "with --upper or --work");
		return -1;
	}
	return 0;
}

/* The action's environment: ovlbox's own (unless --clear-env), then each --env over it. */
static void build_env(struct run_parse *p)
{
	size_t n = 0;
	p->o->envp = xmalloc(sizeof(char *));
	p->o->envp[0] = NULL;
	for (char **e = environ; !p->clear_env && e && *e; e++)
		set_env(p->o, &n, *e);
	for (size_t i = 0; i < p->nenvs; i++)
		set_env(p->o, &n, p->envs[i]);
}

int run_opts_parse(int argc, char **argv, struct run_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->hostname = "ovlbox";
	o->seccomp = "default";
	o->kill_after = 10;
	struct run_parse p = {.o = o};
	opterr = 0;
	optind = 1;
	int c, r = 0;
	while (r == 0 && (c = getopt_long(argc, argv, "+h", run_options, NULL)) != -1)
		r = parse_one(&p, c == 'h' ? O_HELP : c, optarg, argv[optind - 1]);
	if (r == 0 && check_opts(o, argc) < 0)
		r = -1;
	if (r == 0) {
		build_env(&p);
		o->argv = argv + optind;
	} else {
		run_opts_free(o);
	}
	free(p.envs);
	return r;
}

void run_opts_free(struct run_opts *o)
{
	free(o->exec_path);
	free(o->workspace_abs);
	free(o->upper_abs);
	free(o->work_abs);
	for (size_t i = 0; i < o->nmounts; i++) {
		free((char *)o->mounts[i].src);
		free((char *)o->mounts[i].dst);
	}
	free(o->mounts);
	free(o->rlimits);
	free(o->envp);
	memset(o, 0, sizeof(*o));
}
