/* config.json of create/run: read, decided on (request.c), written back with ovlbox-hook's
 * stages appended to hooks, through a temporary file renamed over it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/oci.h"
#include "runtime.h"

#define CONFIG "config.json"

/* The whole file (at most OVL_OCI_CONFIG_MAX bytes). */
static int read_config(int fd, char **text, size_t *len, ovl_error_t *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ovl_error(err, errno, CONFIG ": stat");
	if (!S_ISREG(st.st_mode))
		return ovl_error(err, 0, CONFIG ": not a regular file");
	size_t cap = (size_t)st.st_size + 1, n = 0;
	cleanup_free char *buf = NULL;
	for (;;) {
		if (cap > OVL_OCI_CONFIG_MAX + 1)
			return ovl_error(err, 0, CONFIG ": larger than %u bytes",
					 OVL_OCI_CONFIG_MAX);
		buf = xrealloc(buf, cap);
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return ovl_error(err, errno, CONFIG ": read");
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap)
			cap *= 2;
	}
	*text = ovl_steal_ptr(&buf);
	*len = n;
	return 0;
}

/* One hook entry as a one-element JSON array: {"path": HOOK, "args": ["ovlbox-hook", STAGE,
 * "--log", LOG, "--layers-under", DIR]}. */
static char *hook_entry(const struct rt_settings *s, const char *stage, ovl_error_t *err)
{
	ovl_jw *w = ovl_jw_new(false);
	ovl_jw_array_open(w);
	ovl_jw_object_open(w);
	ovl_jw_key(w, "path");
	ovl_jw_string(w, s->hook);
	ovl_jw_key(w, "args");
	ovl_jw_array_open(w);
	ovl_jw_string(w, HOOK_NAME);
	ovl_jw_string(w, stage);
	if (s->hook_log) {
		ovl_jw_string(w, "--log");
		ovl_jw_string(w, s->hook_log);
	}
	if (s->layers_under) {
		ovl_jw_string(w, "--layers-under");
		ovl_jw_string(w, s->layers_under);
	}
	ovl_jw_array_close(w);
	ovl_jw_object_close(w);
	ovl_jw_array_close(w);
	char *text = ovl_jw_strdup(w, err);
	ovl_jw_free(w);
	return text;
}

static char *json_string(const char *s, ovl_error_t *err)
{
	ovl_jw *w = ovl_jw_new(false);
	ovl_jw_string(w, s);
	char *text = ovl_jw_strdup(w, err);
	ovl_jw_free(w);
	return text;
}

struct edits {
	struct ovl_json_edit e[5];
	size_t n;
	char *texts[4];
	size_t ntexts;
	bool failed; /* a text could not be written */
};

static void edits_free(struct edits *ed)
{
	for (size_t i = 0; i < ed->ntexts; i++)
		free(ed->texts[i]);
}

/* An edit of op at path (key: OVL_JSON_SET) whose value is text (NULL: its writer failed, *err
 * says why), kept for edits_free. */
static void add_edit(struct edits *ed, enum ovl_json_edit_op op, const char *const *path,
		     const char *key, char *text)
{
	ed->texts[ed->ntexts++] = text;
	if (text == NULL)
		ed->failed = true;
	ed->e[ed->n++] = (struct ovl_json_edit){.op = op, .path = path, .key = key, .value = text};
}

static int build_edits(const struct rt_request *r, const struct rt_settings *s, struct edits *ed,
		       ovl_error_t *err)
{
	static const char *const annotations[] = {"annotations", NULL};
	static const char *const env[] = {"process", "env", NULL};
	static const char *const create_runtime[] = {"hooks", "createRuntime", NULL};
	static const char *const poststop[] = {"hooks", "poststop", NULL};
	memset(ed, 0, sizeof(*ed));
	if (r->set_workspace)
		add_edit(ed, OVL_JSON_SET, annotations, ANN_WORKSPACE,
			 json_string(r->workspace, err));
	if (r->set_on_exit)
		add_edit(ed, OVL_JSON_SET, annotations, ANN_ON_EXIT, json_string(r->on_exit, err));
	if (r->ndrop > 0)
		ed->e[ed->n++] = (struct ovl_json_edit){
		    .op = OVL_JSON_DROP, .path = env, .drop = r->drop, .ndrop = r->ndrop};
	/* after any hooks already there: the container's own mount-stage hooks run first */
	add_edit(ed, OVL_JSON_APPEND, create_runtime, NULL, hook_entry(s, "createRuntime", err));
	add_edit(ed, OVL_JSON_APPEND, poststop, NULL, hook_entry(s, "poststop", err));
	return ed->failed ? -1 : 0;
}

/* Replaces config.json (which fd has open, st its status) with text: a temporary file beside it,
 * with its mode and owner, renamed over it. */
static int replace_config(int dirfd, const struct stat *st, const char *text, size_t len,
			  ovl_error_t *err)
{
	struct stat now;
	if (fstatat(dirfd, CONFIG, &now, AT_SYMLINK_NOFOLLOW) < 0)
		return ovl_error(err, errno, CONFIG ": stat");
	if (now.st_dev != st->st_dev || now.st_ino != st->st_ino)
		return ovl_error(err, 0,
				 CONFIG ": a symbolic link or replaced meanwhile: cannot be "
					"rewritten in place");
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "." CONFIG ".ovlbox-%ld", (long)getpid());
	struct ovl_replace how = {.tmp = tmp, .like = st, .sync = true};
	if (ovl_replace_file(dirfd, CONFIG, &how, text, len, err) < 0)
		return ovl_error_wrap(err, CONFIG);
	return 0;
}

int rt_config_update(const char *bundle, const struct rt_settings *s, ovl_error_t *err)
{
	const char *where = bundle ? bundle : ".";
	cleanup_close int dirfd = open(where, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return ovl_error(err, errno, "bundle %s", ovl_qp(where));
	cleanup_close int fd = openat(dirfd, CONFIG, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ovl_error(err, errno, "bundle %s: open " CONFIG, ovl_qp(where));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ovl_error(err, errno, "bundle %s: stat " CONFIG, ovl_qp(where));
	cleanup_free char *text = NULL;
	size_t len = 0;
	if (read_config(fd, &text, &len, err) < 0)
		return ovl_error_wrap(err, "bundle %s", ovl_qp(where));

	ovl_json *config = ovl_json_parse(text, len, err);
	if (config == NULL)
		return ovl_error_wrap(err, "bundle %s: " CONFIG, ovl_qp(where));
	struct rt_request r;
	int rc = rt_request_read(config, s, &r, err);
	if (rc < 0 || r.workspace == NULL) {
		ovl_json_free(config);
		return rc < 0 ? ovl_error_wrap(err, "bundle %s: " CONFIG, ovl_qp(where)) : 0;
	}
	struct edits ed;
	cleanup_free char *out = NULL;
	size_t out_len;
	rc = build_edits(&r, s, &ed, err);
	if (rc == 0)
		rc = ovl_json_rewrite(text, len, ed.e, ed.n, &out, &out_len, err);
	edits_free(&ed);
	ovl_json_free(config); /* r's strings point into it */
	if (rc < 0)
		return ovl_error_wrap(err, "bundle %s: " CONFIG, ovl_qp(where));
	if (replace_config(dirfd, &st, out, out_len, err) < 0)
		return ovl_error_wrap(err, "bundle %s", ovl_qp(where));
	return 0;
}
