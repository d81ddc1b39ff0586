/* ovlbox run's command line: flags, defaults and their validation; and the --stats file. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/json.h"
#include "ovlbox/stats.h"
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

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL)
		abort();
	return p;
}

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
	for (size_t i = 0; eq && i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++)
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
	getrlimit(res, &cur);
	cleanup_free char *vals = strdup(eq + 1);
	char *colon = vals ? strchr(vals, ':') : NULL;
	if (colon)
		*colon = '\0';
	r->resource = res;
	r->spec = spec;
	r->lim.rlim_max = cur.rlim_max;
	if (vals == NULL || parse_rlim_value(vals, &r->lim.rlim_cur) < 0 ||
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
		src = strdup(arg);
		dst = strdup(arg);
	} else {
		const char *colon = strchr(arg, ':');
		src = colon ? strndup(arg, (size_t)(colon - arg)) : strdup(arg);
		dst = strdup(colon ? colon + 1 : arg);
	}
	if (src == NULL || dst == NULL)
		abort();
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

static int parse_one(struct run_opts *o, int c, const char *arg, char **argv, const char ***envs,
		     size_t *nenvs, bool *clear_env)
{
	ovl_error_t err = NULL;
	switch (c) {
	case O_WS:
		o->workspace_abs = cli_absolute(arg);
		return 0;
	case O_UP:
		o->upper_abs = cli_absolute(arg);
		return 0;
	case O_WK:
		o->work_abs = cli_absolute(arg);
		return 0;
	case O_EXIT:
		if (!strcmp(arg, "apply"))
			o->on_exit = ON_EXIT_APPLY;
		else if (!strcmp(arg, "discard"))
			o->on_exit = ON_EXIT_DISCARD;
		else if (!strcmp(arg, "keep"))
			o->on_exit = ON_EXIT_KEEP;
		else {
			ovl_errorf("run: --on-exit %s: expected apply, discard or keep",
				   ovl_qp(arg));
			return -1;
		}
		return 0;
	case O_HOST:
		if (arg[0] == '\0' || strlen(arg) > 64) {
			ovl_errorf("run: --hostname: expected 1 to 64 characters");
			return -1;
		}
		o->hostname = arg;
		return 0;
	case O_NET:
		if (strcmp(arg, "host") && strcmp(arg, "private")) {
			ovl_errorf("run: --net %s: expected private or host", ovl_qp(arg));
			return -1;
		}
		o->net_host = !strcmp(arg, "host");
		return 0;
	case O_BIND:
		return add_mount(o, MNT_BIND, "--bind", arg);
	case O_ROBIND:
		return add_mount(o, MNT_RO_BIND, "--ro-bind", arg);
	case O_TMPFS:
		return add_mount(o, MNT_TMPFS, "--tmpfs", arg);
	case O_WRITABLE:
		return add_mount(o, MNT_WRITABLE, "--writable", arg);
	case O_CAP:
		if (ovl_capset_add(&o->caps, arg, &err) < 0) {
			ovl_errorf("run: --cap-add: %s", err->msg);
			ovl_error_free(&err);
			return -1;
		}
		return 0;
	case O_SECCOMP:
		o->seccomp = arg;
		return 0;
	case O_TIMEOUT:
		return parse_seconds("--timeout", arg, &o->timeout);
	case O_KILL:
		return parse_seconds("--kill-after", arg, &o->kill_after);
	case O_ENV:
		if (strchr(arg, '=') == NULL || arg[0] == '=') {
			ovl_errorf("run: --env %s: expected NAME=VALUE", ovl_qp(arg));
			return -1;
		}
		*envs = xrealloc(*envs, (*nenvs + 1) * sizeof(char *));
		(*envs)[(*nenvs)++] = arg;
		return 0;
	case O_CLEARENV:
		*clear_env = true;
		return 0;
	case O_CWD:
		o->cwd = arg;
		return 0;
	case O_RLIMIT:
		o->rlimits = xrealloc(o->rlimits, (o->nrlimits + 1) * sizeof(*o->rlimits));
		return parse_rlimit(arg, &o->rlimits[o->nrlimits++]);
	case O_STATS:
		o->stats = arg;
		return 0;
	case O_UPPER_SIZE:
		return parse_size(arg, &o->upper_size);
	case O_KEEP_SETUID:
		o->keep_setuid = true;
		return 0;
	case O_ALLOW_DEVICES:
		o->allow_devices = true;
		return 0;
	case O_CHECK_OWNERS:
		o->check_owners = true;
		return 0;
	case O_HELP:
		fputs(run_usage, stdout);
		return 1;
	}
	ovl_errorf("run: unknown option or missing value: %s (see ovlbox run --help)",
		   ovl_qp(argv[optind - 1]));
	return -1;
}

int run_opts_parse(int argc, char **argv, struct run_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->hostname = "ovlbox";
	o->seccomp = "default";
	o->kill_after = 10;
	cleanup_free const char **envs = NULL;
	size_t nenvs = 0, nenv = 0;
	bool clear_env = false;
	opterr = 0;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "+h", run_options, NULL)) != -1) {
		int r =
		    parse_one(o, c == 'h' ? O_HELP : c, optarg, argv, &envs, &nenvs, &clear_env);
		if (r != 0) {
			run_opts_free(o);
			return r;
		}
	}
	if (o->workspace_abs == NULL || optind >= argc) {
		ovl_errorf("run: %s (ovlbox run --workspace DIR [OPTIONS] -- CMD [ARG...])",
			   o->workspace_abs ? "no command given" : "--workspace DIR is required");
		run_opts_free(o);
		return -1;
	}
	if (o->upper_size && (o->upper_abs || o->work_abs)) {
		ovl_errorf(
		    "run: --upper-size puts upper and work on a tmpfs: it cannot be combined "
		    "with --upper or --work");
		run_opts_free(o);
		return -1;
	}
	o->envp = xrealloc(NULL, sizeof(char *));
	o->envp[0] = NULL;
	for (char **e = environ; !clear_env && e && *e; e++)
		set_env(o, &nenv, *e);
	for (size_t i = 0; i < nenvs; i++)
		set_env(o, &nenv, envs[i]);
	o->argv = argv + optind;
	return 0;
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

static long long tv_ms(struct timeval tv)
{
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int run_check_stats_path(const char *path, ovl_error_t *err)
{
	/* access(), not open(): a FIFO such as /dev/fd/N would block an open until its reader
	 * came, and nothing may change on disk before the run. */
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return ovl_error(err, EISDIR, "--stats %s", ovl_qp(path));
	if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0)
		return 0;
	if (errno != ENOENT)
		return ovl_error(err, errno, "--stats %s", ovl_qp(path));
	cleanup_free char *copy = strdup(path);
	if (copy == NULL)
		return ovl_error(err, errno, "--stats %s", ovl_qp(path));
	const char *dir = dirname(copy);
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0)
		return ovl_error(err, errno, "--stats %s: directory %s", ovl_qp(path), ovl_qp(dir));
	return 0;
}

int run_write_stats(const char *path, const struct run_result *res, int status, ovl_error_t *err)
{
	ovl_jw *w = ovl_jw_new(true);
	ovl_jw_object_open(w);
	ovl_jw_key(w, "exit_code");
	ovl_jw_int(w, status);
	ovl_jw_key(w, "signal");
	if (!res->exec_errno && WIFSIGNALED(res->wait_status)) {
		char name[32];
		const char *abbrev = sigabbrev_np(WTERMSIG(res->wait_status));
		snprintf(name, sizeof(name), "SIG%s", abbrev ? abbrev : "UNKNOWN");
		ovl_jw_string(w, name);
	} else {
		ovl_jw_null(w);
	}
	ovl_jw_key(w, "timed_out");
	ovl_jw_bool(w, res->timed_out);
	ovl_jw_key(w, "wall_ms");
	ovl_jw_int(w, (long long)(res->wall_ms + 0.5));
	ovl_jw_key(w, "user_ms");
	ovl_jw_int(w, tv_ms(res->usage.ru_utime));
	ovl_jw_key(w, "sys_ms");
	ovl_jw_int(w, tv_ms(res->usage.ru_stime));
	ovl_jw_key(w, "max_rss_kb");
	ovl_jw_int(w, res->usage.ru_maxrss);
	ovl_stats_changes(w, &res->changes, res->applied);
	ovl_jw_key(w, "unmapped_owners");
	if (res->unmapped_owners >= 0)
		ovl_jw_int(w, res->unmapped_owners);
	else
		ovl_jw_null(w);
	ovl_jw_object_close(w);
	size_t len;
	const char *text = ovl_jw_text(w, &len, err);
	if (text == NULL) {
		ovl_jw_free(w);
		return ovl_error_wrap(err, "--stats %s", ovl_qp(path));
	}
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int r = 0;
	if (fd < 0 || ovl_write_all(fd, text, len) < 0 || ovl_write_all(fd, "\n", 1) < 0)
		r = ovl_error(err, errno, "--stats %s", ovl_qp(path));
	ovl_jw_free(w);
	return r;
}
