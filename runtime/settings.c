/* Settings: the file (--ovlbox-config FILE, or DEFAULT_SETTINGS when present), under the
 * --ovlbox-* options, over the defaults. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "runtime.h"

#define SETTINGS_MAX (64u << 10)

/* A string member: sets *field unless an option set it already. */
static int string_key(const ovl_json *v, const char *key, char **field, ovl_error_t *err)
{
	const char *s;
	if (ovl_json_string(v, key, &s, err) < 0)
		return -1;
	if (*field == NULL)
		*field = xstrdup(s);
	return 0;
}

static int apply_file(const ovl_json *root, struct rt_settings *s, bool env_given, ovl_error_t *err)
{
	if (ovl_json_type(root) != OVL_JSON_OBJECT)
		return ovl_error(err, 0, "expected an object, got %s",
				 ovl_json_type_phrase(ovl_json_type(root)));
	for (size_t i = 0; i < ovl_json_len(root); i++) {
		const char *key = ovl_json_key_at(root, i);
		const ovl_json *v = ovl_json_at(root, i), *once;
		if (ovl_json_get_member(root, key, false, &once, err) < 0)
			return -1;
		int r;
		if (strcmp(key, "runtime") == 0) {
			r = string_key(v, key, &s->runtime, err);
		} else if (strcmp(key, "hook") == 0) {
			r = string_key(v, key, &s->hook, err);
		} else if (strcmp(key, "layers_under") == 0) {
			r = string_key(v, key, &s->layers_under, err);
		} else if (strcmp(key, "hook_log") == 0) {
			r = string_key(v, key, &s->hook_log, err);
		} else if (strcmp(key, "env") == 0) {
			bool b;
			r = ovl_json_bool(v, key, &b, err);
			if (r == 0 && !env_given)
				s->env = b;
		} else {
			return ovl_error(err, 0,
					 "unknown key %s (runtime, hook, layers_under, hook_log, "
					 "env)",
					 ovl_qp(key));
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

static int load_file(struct rt_settings *s, ovl_error_t *err)
{
	const char *path = s->config ? s->config : DEFAULT_SETTINGS;
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT && s->config == NULL)
			return 0; /* the default file is optional */
		return ovl_error(err, errno, "settings %s: open", ovl_qp(path));
	}
	cleanup_free char *what = xasprintf("settings %s", ovl_qp(path));
	ovl_json *root = ovl_json_parse_fd(fd, SETTINGS_MAX, what, err);
	if (root == NULL)
		return -1;
	/* --ovlbox-env only ever turns the variables on */
	int r = apply_file(root, s, s->env, err);
	ovl_json_free(root);
	if (r < 0)
		return ovl_error_wrap(err, "settings %s", ovl_qp(path));
	return 0;
}

/* ovlbox-hook installed beside this executable. */
static char *hook_beside_self(ovl_error_t *err)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		ovl_error(err, errno, "readlink /proc/self/exe (to find " HOOK_NAME " beside it)");
		return NULL;
	}
	self[n] = '\0';
	return xasprintf("%s/" HOOK_NAME, dirname(self));
}

static int check_absolute(const char *what, const char *path, ovl_error_t *err)
{
	if (path && path[0] != '/')
		return ovl_error(err, 0, "%s %s: not an absolute path", what, ovl_qp(path));
	return 0;
}

/* The runtime must not be this wrapper: it would execute itself forever. */
static int check_not_self(const char *runtime, ovl_error_t *err)
{
	struct stat a, b;
	if (stat(runtime, &a) == 0 && stat("/proc/self/exe", &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		return ovl_error(err, 0, "runtime %s: is " PROG " itself", ovl_qp(runtime));
	return 0;
}

int rt_settings_load(struct rt_settings *s, ovl_error_t *err)
{
	if (load_file(s, err) < 0)
		return -1;
	if (s->runtime == NULL)
		s->runtime = xstrdup(DEFAULT_RUNTIME);
	if (s->hook == NULL && (s->hook = hook_beside_self(err)) == NULL)
		return -1;
	if (check_absolute("runtime", s->runtime, err) < 0 ||
	    check_absolute("hook", s->hook, err) < 0 ||
	    check_absolute("layers_under", s->layers_under, err) < 0 ||
	    check_absolute("hook_log", s->hook_log, err) < 0)
		return -1;
	return check_not_self(s->runtime, err);
}

void rt_settings_free(struct rt_settings *s)
{
	free(s->runtime);
	free(s->hook);
	free(s->layers_under);
	free(s->hook_log);
	memset(s, 0, sizeof(*s));
}
