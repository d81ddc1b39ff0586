/* The command line: the wrapper's own --ovlbox-* options, then runc's, read the way runc reads
 * them (Go's flag package under urfave/cli: "-name" and "--name", "=value" or the next argument;
 * a command's options may follow its arguments), so that the bundle found is the one the runtime
 * will use. Anything that could be read two ways is refused, never guessed. */
#include <stdlib.h>
#include <string.h>

#include "ovlbox/alloc.h"
#include "runtime.h"

/* The wrapper's own options: --ovlbox-NAME. */
#define OWN_PREFIX "--ovlbox-"

static int own_value(int argc, char **argv, int *i, const char *inline_value, const char *name,
		     const char **out, ovl_error_t *err)
{
	if (inline_value) {
		*out = inline_value;
	} else if (*i + 1 < argc) {
		*out = argv[++*i];
	} else {
		return ovl_error(err, 0, OWN_PREFIX "%s: needs a value", name);
	}
	if ((*out)[0] == '\0')
		return ovl_error(err, 0, OWN_PREFIX "%s: empty value", name);
	return 0;
}

static void replace(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

int rt_own_options(int argc, char **argv, struct rt_settings *s, int *next, ovl_error_t *err)
{
	int i = 1;
	for (; i < argc && strncmp(argv[i], OWN_PREFIX, strlen(OWN_PREFIX)) == 0; i++) {
		const char *opt = argv[i] + strlen(OWN_PREFIX);
		const char *eq = strchr(opt, '=');
		size_t n = eq ? (size_t)(eq - opt) : strlen(opt);
		const char *inline_value = eq ? eq + 1 : NULL;
		static const char *const with_value[] = {"config",	 "runtime",  "hook",
							 "layers-under", "hook-log", NULL};
		size_t k = 0;
		for (; with_value[k]; k++)
			if (strlen(with_value[k]) == n && strncmp(opt, with_value[k], n) == 0)
				break;
		if (with_value[k]) {
			const char *v = NULL;
			if (own_value(argc, argv, &i, inline_value, with_value[k], &v, err) < 0)
				return -1;
			switch (k) {
			case 0:
				s->config = v;
				break;
			case 1:
				replace(&s->runtime, v);
				break;
			case 2:
				replace(&s->hook, v);
				break;
			case 3:
				replace(&s->layers_under, v);
				break;
			default:
				replace(&s->hook_log, v);
				break;
			}
			continue;
		}
		bool *flag = n == 3 && strncmp(opt, "env", 3) == 0	 ? &s->env
			     : n == 4 && strncmp(opt, "help", 4) == 0	 ? &s->help
			     : n == 7 && strncmp(opt, "version", 7) == 0 ? &s->version
									 : NULL;
		if (flag == NULL)
			return ovl_error(err, 0, "unknown option %s", ovl_qp(argv[i]));
		if (inline_value)
			return ovl_error(err, 0, "%s: takes no value", ovl_qp(argv[i]));
		*flag = true;
	}
	*next = i;
	return 0;
}

/* ---- runc's options ---- */

enum kind { BOOL, VALUE };

struct flag {
	const char *name;
	enum kind kind;
};

/* runc's global options, and crun's that runc lacks (a wrapped crun reads the same line). */
static const struct flag global_flags[] = {
    {"debug", BOOL},	  {"log", VALUE},  {"log-format", VALUE},
    {"root", VALUE},	  {"criu", VALUE}, {"systemd-cgroup", BOOL},
    {"rootless", VALUE},  {"help", BOOL},  {"h", BOOL},
    {"version", BOOL},	  {"v", BOOL},	   {"cgroup-manager", VALUE},
    {"log-level", VALUE}, {NULL, BOOL},
};

/* runc create's options; run has these and more. */
static const struct flag create_flags[] = {
    {"bundle", VALUE},	     {"b", VALUE},	 {"console-socket", VALUE},
    {"pid-file", VALUE},     {"no-pivot", BOOL}, {"no-new-keyring", BOOL},
    {"preserve-fds", VALUE}, {"help", BOOL},	 {"h", BOOL},
    {"detach", BOOL},	     {"d", BOOL},	 {"keep", BOOL},
    {"no-subreaper", BOOL},  {NULL, BOOL},
};
#define CREATE_ONLY_UNTIL 9 /* create_flags[9..] are run's own */

/* An argument as Go's flag package splits it: "-name", "--name", with "=value" or not. Returns
 * false for one that is not an option ("x", "-", "--" is handled by the callers). */
struct opt {
	char name[64];
	const char *value; /* after "=", or NULL */
	bool bad_syntax;   /* "---x", "-=x": Go refuses it */
};

static bool split_opt(const char *a, struct opt *o)
{
	memset(o, 0, sizeof(*o));
	if (a[0] != '-' || a[1] == '\0')
		return false;
	const char *p = a + 1;
	if (*p == '-')
		p++;
	const char *eq = strchr(p, '=');
	size_t n = eq ? (size_t)(eq - p) : strlen(p);
	if (n == 0 || *p == '-' || n >= sizeof(o->name)) {
		o->bad_syntax = true;
		return true;
	}
	memcpy(o->name, p, n);
	o->value = eq ? eq + 1 : NULL;
	return true;
}

static const struct flag *find_flag(const struct flag *table, size_t limit, const char *name)
{
	for (size_t i = 0; table[i].name && i < limit; i++)
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

/* Go's strconv.ParseBool, as a bool option's "=value" is read; -1 when not a boolean. */
static int go_bool(const char *v)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
	static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False", NULL};
	for (size_t i = 0; t[i]; i++) {
		if (strcmp(v, t[i]) == 0)
			return 1;
		if (strcmp(v, f[i]) == 0)
			return 0;
	}
	return -1;
}

static bool mentions_create(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "create") == 0 || strcmp(argv[i], "run") == 0)
			return true;
	return false;
}

/* The options before the command; *i ends on the command (or argc). Returns 1 when the runtime
 * will only print its help or version (no command runs). */
static int parse_globals(int argc, char **argv, int *i, struct rt_call *c, ovl_error_t *err)
{
	int info = 0;
	for (; *i < argc; ++*i) {
		const char *a = argv[*i];
		if (strcmp(a, "--") == 0) {
			++*i;
			break;
		}
		struct opt o;
		if (!split_opt(a, &o))
			break;
		const struct flag *f =
		    o.bad_syntax ? NULL : find_flag(global_flags, SIZE_MAX, o.name);
		if (f == NULL) {
			if (!mentions_create(argc, argv))
				return 1; /* whatever it means, no container is created */
			return ovl_error(err, 0,
					 "unknown runtime option %s before the command: cannot "
					 "tell whether it takes a value, so which command follows",
					 ovl_qp(a));
		}
		const char *v = o.value;
		if (f->kind == VALUE && v == NULL) {
			if (*i + 1 >= argc)
				return ovl_error(err, 0, "runtime option %s: needs a value",
						 ovl_qp(a));
			v = argv[++*i];
		}
		if (f->kind == BOOL) {
			int b = v ? go_bool(v) : 1;
			if (b < 0)
				return 1; /* the runtime refuses it */
			if (b == 1 &&
			    (strcmp(f->name, "help") == 0 || strcmp(f->name, "h") == 0 ||
			     strcmp(f->name, "version") == 0 || strcmp(f->name, "v") == 0))
				info = 1;
		} else if (strcmp(f->name, "log") == 0) {
			c->log = v;
		} else if (strcmp(f->name, "log-format") == 0) {
			c->log_json = strcmp(v, "json") == 0;
		}
	}
	return info;
}

/* create's or run's options and arguments. Options may come after the container id (urfave/cli
 * moves them before it); "--" ends them. A value that begins with "-" could be read as an option
 * instead: refused. Returns 1 when the runtime will print help or refuse the arguments. */
static int parse_create(int argc, char **argv, int i, bool run, struct rt_call *c, ovl_error_t *err)
{
	int positional = 0;
	size_t limit = run ? SIZE_MAX : CREATE_ONLY_UNTIL;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			positional += argc - i - 1;
			break;
		}
		struct opt o;
		if (!split_opt(a, &o)) {
			positional++;
			continue;
		}
		const struct flag *f = o.bad_syntax ? NULL : find_flag(create_flags, limit, o.name);
		if (f == NULL)
			return ovl_error(err, 0,
					 "%s: unknown option %s: cannot tell where the bundle is",
					 c->command, ovl_qp(a));
		const char *v = o.value;
		if (f->kind == BOOL) {
			int b = v ? go_bool(v) : 1;
			if (b < 0)
				return 1;
			if (b == 1 && (strcmp(f->name, "help") == 0 || strcmp(f->name, "h") == 0))
				return 1;
			continue;
		}
		if (v == NULL) {
			if (i + 1 >= argc)
				return ovl_error(err, 0, "%s: option %s: needs a value", c->command,
						 ovl_qp(a));
			v = argv[++i];
			if (v[0] == '-')
				return ovl_error(
				    err, 0,
				    "%s: option %s: its value %s begins with \"-\": cannot "
				    "tell whether it is an option",
				    c->command, ovl_qp(a), ovl_qp(v));
		}
		if (strcmp(f->name, "bundle") == 0 || strcmp(f->name, "b") == 0)
			c->bundle = v; /* the last one counts */
	}
	/* Not exactly one container id: the runtime refuses the command line. */
	return positional == 1 ? 0 : 1;
}

int rt_parse_call(int argc, char **argv, struct rt_call *c, ovl_error_t *err)
{
	memset(c, 0, sizeof(*c));
	int i = 0;
	int r = parse_globals(argc, argv, &i, c, err);
	if (r != 0 || i >= argc)
		return r < 0 ? -1 : 0;
	c->command = argv[i];
	bool run = strcmp(c->command, "run") == 0;
	if (!run && strcmp(c->command, "create") != 0)
		return 0;
	r = parse_create(argc, argv, i + 1, run, c, err);
	if (r < 0)
		return -1;
	c->creates = r == 0;
	if (c->bundle && c->bundle[0] == '\0')
		c->bundle = NULL; /* runc: an empty --bundle is the current directory */
	return 0;
}
