/* JSON via yajl's parser (into yajl's tree type) and generator. Nothing else in ovlbox includes
 * yajl. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/json.h"

#define V(x) ((yajl_val)(x))

/* Deeper nesting is refused: yajl_tree_free() recurses once per level, so a megabyte of "["
 * would overflow the stack when the tree is freed. OCI documents nest a few levels. */
#define JSON_DEPTH_MAX 1000

/* The tree is yajl's own (yajl_val, freed by yajl_tree_free), built here from yajl's callbacks
 * rather than by yajl_tree_parse, so that members nobody reads are checked but never stored:
 * config.json carries the whole process, seccomp and namespace setup, and a hook reads three of
 * its sections at each stage. Numbers get the flags yajl_tree_parse gives them: integer-valid when
 * the text is an integer in range, double-valid when strtod takes all of it. */
struct frame {
	yajl_val v; /* the object or array being filled */
	char *key;  /* an object's key waiting for its value */
};

struct builder {
	struct frame *stack;
	size_t depth, cap;
	const char *const *keep; /* top-level members to store; NULL: all */
	bool skip_next;		 /* the next value belongs to a member not stored */
	size_t skipping;	 /* > 0: inside such a value, this many levels deep */
	bool too_deep;		 /* stopped at JSON_DEPTH_MAX */
	yajl_val root;
};

static yajl_val node_new(yajl_type type)
{
	yajl_val v = xcalloc(1, sizeof(*v));
	v->type = type;
	return v;
}

static char *text_dup(const void *s, size_t len)
{
	char *d = xmalloc(len + 1);
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

/* Appends v to the object or array on top of the stack, or makes it the root. */
static void node_add(struct builder *b, yajl_val v)
{
	if (b->depth == 0) {
		b->root = v;
		return;
	}
	struct frame *f = &b->stack[b->depth - 1];
	if (f->v->type == yajl_t_object) {
		size_t n = f->v->u.object.len;
		f->v->u.object.keys =
		    xrealloc((void *)f->v->u.object.keys, (n + 1) * sizeof(char *));
		f->v->u.object.values = xrealloc(f->v->u.object.values, (n + 1) * sizeof(yajl_val));
		f->v->u.object.keys[n] = f->key;
		f->v->u.object.values[n] = v;
		f->v->u.object.len = n + 1;
		f->key = NULL;
	} else {
		size_t n = f->v->u.array.len;
		f->v->u.array.values = xrealloc(f->v->u.array.values, (n + 1) * sizeof(yajl_val));
		f->v->u.array.values[n] = v;
		f->v->u.array.len = n + 1;
	}
}

/* A scalar is stored unless it is (inside) a member not kept. */
static bool store_scalar(struct builder *b)
{
	if (b->skipping > 0)
		return false;
	if (b->skip_next) {
		b->skip_next = false;
		return false;
	}
	return true;
}

static int on_null(void *ctx)
{
	struct builder *b = ctx;
	if (store_scalar(b))
		node_add(b, node_new(yajl_t_null));
	return 1;
}

static int on_bool(void *ctx, int value)
{
	struct builder *b = ctx;
	if (store_scalar(b))
		node_add(b, node_new(value ? yajl_t_true : yajl_t_false));
	return 1;
}

static int on_number(void *ctx, const char *s, size_t len)
{
	struct builder *b = ctx;
	if (!store_scalar(b))
		return 1;
	yajl_val v = node_new(yajl_t_number);
	v->u.number.r = text_dup(s, len);
	char *end = NULL;
	errno = 0;
	v->u.number.i = strtoll(v->u.number.r, &end, 10);
	if (errno == 0 && *end == '\0')
		v->u.number.flags |= YAJL_NUMBER_INT_VALID;
	errno = 0;
	v->u.number.d = strtod(v->u.number.r, &end);
	if (errno == 0 && *end == '\0')
		v->u.number.flags |= YAJL_NUMBER_DOUBLE_VALID;
	node_add(b, v);
	return 1;
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
	struct builder *b = ctx;
	if (!store_scalar(b))
		return 1;
	yajl_val v = node_new(yajl_t_string);
	v->u.string = text_dup(s, len);
	node_add(b, v);
	return 1;
}

static bool kept(const struct builder *b, const unsigned char *key, size_t len)
{
	if (b->keep == NULL)
		return true;
	for (const char *const *k = b->keep; *k; k++)
		if (strlen(*k) == len && memcmp(*k, key, len) == 0)
			return true;
	return false;
}

static int on_key(void *ctx, const unsigned char *key, size_t len)
{
	struct builder *b = ctx;
	if (b->skipping > 0)
		return 1;
	if (b->depth == 1 && !kept(b, key, len)) {
		b->skip_next = true;
		return 1;
	}
	b->stack[b->depth - 1].key = text_dup(key, len);
	return 1;
}

static int on_open(struct builder *b, yajl_type type)
{
	if (b->depth + b->skipping >= JSON_DEPTH_MAX) {
		b->too_deep = true;
		return 0; /* yajl stops: yajl_status_client_canceled */
	}
	if (b->skipping > 0 || b->skip_next) {
		b->skip_next = false;
		b->skipping++;
		return 1;
	}
	if (b->depth == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 8;
		b->stack = xrealloc(b->stack, b->cap * sizeof(*b->stack));
	}
	b->stack[b->depth++] = (struct frame){.v = node_new(type), .key = NULL};
	return 1;
}

static int on_close(void *ctx)
{
	struct builder *b = ctx;
	if (b->skipping > 0) {
		b->skipping--;
		return 1;
	}
	yajl_val v = b->stack[--b->depth].v;
	node_add(b, v);
	return 1;
}

static int on_start_map(void *ctx)
{
	return on_open(ctx, yajl_t_object);
}

static int on_start_array(void *ctx)
{
	return on_open(ctx, yajl_t_array);
}

/* After a failed parse: what was built so far, innermost first. */
static void builder_free(struct builder *b)
{
	while (b->depth > 0) {
		struct frame *f = &b->stack[--b->depth];
		free(f->key);
		yajl_tree_free(f->v);
	}
	free(b->stack);
	yajl_tree_free(b->root);
	b->stack = NULL;
	b->root = NULL;
}

static const yajl_callbacks build_callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_bool,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_close,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_close,
};

static ovl_json *parse(const char *text, size_t len, const char *const *keep, ovl_error_t *err)
{
	if (memchr(text, '\0', len) != NULL) {
		ovl_error(err, 0, "invalid JSON: contains a NUL byte");
		return NULL;
	}
	struct builder b = {.keep = keep};
	yajl_handle h = yajl_alloc(&build_callbacks, NULL, &b);
	if (h == NULL)
		abort(); /* as xmalloc */
	/* as yajl_tree_parse */
	yajl_config(h, yajl_allow_comments, 1);
	const unsigned char *u = (const unsigned char *)text;
	yajl_status st = yajl_parse(h, u, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st != yajl_status_ok) {
		unsigned char *msg = yajl_get_error(h, 1, u, len);
		/* yajl's message spans lines (it quotes the text); keep the first. */
		const char *m = msg && msg[0] ? (const char *)msg : "parse error";
		if (b.too_deep)
			ovl_error(err, 0, "invalid JSON: nested deeper than %d levels",
				  JSON_DEPTH_MAX);
		else
			ovl_error(err, 0, "invalid JSON: %.*s", (int)strcspn(m, "\n"), m);
		yajl_free_error(h, msg);
		yajl_free(h);
		builder_free(&b);
		return NULL;
	}
	yajl_free(h);
	free(b.stack);
	return (ovl_json *)b.root;
}

ovl_json *ovl_json_parse(const char *text, size_t len, ovl_error_t *err)
{
	return parse(text, len, NULL, err);
}

/* The buffer starts at the file's size (one read, no copy), or 1 KiB for a pipe (a hook's state
 * is a few hundred bytes): every page of fresh heap touched is a page fault. */
static size_t first_buffer_size(int fd, size_t max_bytes)
{
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (size_t)st.st_size < max_bytes)
		return (size_t)st.st_size + 1;
	return 1024;
}

static ovl_json *parse_fd(int fd, size_t max_bytes, const char *what, const char *const *keep,
			  ovl_error_t *err)
{
	size_t cap = first_buffer_size(fd, max_bytes), len = 0;
	cleanup_free char *buf = xmalloc(cap);
	for (;;) {
		if (len == cap) {
			if (cap > max_bytes) {
				ovl_error(err, 0, "%s: larger than %zu bytes", what, max_bytes);
				return NULL;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			ovl_error(err, errno, "%s: read", what);
			return NULL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > max_bytes) {
		ovl_error(err, 0, "%s: larger than %zu bytes", what, max_bytes);
		return NULL;
	}
	ovl_json *j = parse(buf, len, keep, err);
	if (j == NULL)
		ovl_error_wrap(err, "%s", what);
	return j;
}

ovl_json *ovl_json_parse_fd(int fd, size_t max_bytes, const char *what, ovl_error_t *err)
{
	return parse_fd(fd, max_bytes, what, NULL, err);
}

ovl_json *ovl_json_parse_fd_members(int fd, size_t max_bytes, const char *what,
				    const char *const *keep, ovl_error_t *err)
{
	return parse_fd(fd, max_bytes, what, keep, err);
}

void ovl_json_free(ovl_json *root)
{
	yajl_tree_free(V(root));
}

enum ovl_json_type ovl_json_type(const ovl_json *v)
{
	if (v == NULL)
		return OVL_JSON_NULL;
	switch (V(v)->type) {
	case yajl_t_string:
		return OVL_JSON_STRING;
	case yajl_t_number:
		return OVL_JSON_NUMBER;
	case yajl_t_object:
		return OVL_JSON_OBJECT;
	case yajl_t_array:
		return OVL_JSON_ARRAY;
	case yajl_t_true:
	case yajl_t_false:
		return OVL_JSON_BOOL;
	default:
		return OVL_JSON_NULL;
	}
}

const char *ovl_json_type_name(enum ovl_json_type t)
{
	static const char *names[] = {"null", "boolean", "number", "string", "array", "object"};
	return names[t];
}

const char *ovl_json_type_phrase(enum ovl_json_type t)
{
	static const char *phrases[] = {"a null",   "a boolean", "a number",
					"a string", "an array",	 "an object"};
	return phrases[t];
}

const ovl_json *ovl_json_get(const ovl_json *v, const char *key)
{
	if (v == NULL || !YAJL_IS_OBJECT(V(v)))
		return NULL;
	for (size_t i = 0; i < V(v)->u.object.len; i++)
		if (strcmp(V(v)->u.object.keys[i], key) == 0)
			return (const ovl_json *)V(v)->u.object.values[i];
	return NULL;
}

size_t ovl_json_len(const ovl_json *v)
{
	if (v == NULL)
		return 0;
	if (YAJL_IS_ARRAY(V(v)))
		return V(v)->u.array.len;
	if (YAJL_IS_OBJECT(V(v)))
		return V(v)->u.object.len;
	return 0;
}

const ovl_json *ovl_json_at(const ovl_json *v, size_t i)
{
	if (i >= ovl_json_len(v))
		return NULL;
	if (YAJL_IS_ARRAY(V(v)))
		return (const ovl_json *)V(v)->u.array.values[i];
	return (const ovl_json *)V(v)->u.object.values[i];
}

const char *ovl_json_key_at(const ovl_json *v, size_t i)
{
	if (v == NULL || !YAJL_IS_OBJECT(V(v)) || i >= V(v)->u.object.len)
		return NULL;
	return V(v)->u.object.keys[i];
}

/* The field is escaped (ovl_qp): it may be a key from the document, and the message must stay one
 * line. */
static int type_error(const ovl_json *v, const char *field, enum ovl_json_type want,
		      ovl_error_t *err)
{
	enum ovl_json_type got = ovl_json_type(v);
	return ovl_error(err, 0, "%s: expected %s, got %s", ovl_qp(field),
			 ovl_json_type_phrase(want), ovl_json_type_phrase(got));
}

int ovl_json_string(const ovl_json *v, const char *field, const char **out, ovl_error_t *err)
{
	if (v == NULL || !YAJL_IS_STRING(V(v)))
		return type_error(v, field, OVL_JSON_STRING, err);
	*out = V(v)->u.string;
	return 0;
}

int ovl_json_bool(const ovl_json *v, const char *field, bool *out, ovl_error_t *err)
{
	if (v == NULL || !(YAJL_IS_TRUE(V(v)) || YAJL_IS_FALSE(V(v))))
		return type_error(v, field, OVL_JSON_BOOL, err);
	*out = YAJL_IS_TRUE(V(v));
	return 0;
}

int ovl_json_int64(const ovl_json *v, const char *field, int64_t *out, ovl_error_t *err)
{
	if (v == NULL || !YAJL_IS_NUMBER(V(v)))
		return type_error(v, field, OVL_JSON_NUMBER, err);
	if (!YAJL_IS_INTEGER(V(v)))
		return ovl_error(err, 0, "%s: expected an integer, got %s", ovl_qp(field),
				 V(v)->u.number.r);
	/* yajl saturates out-of-range integers and sets errno; reparse to tell. */
	errno = 0;
	long long n = strtoll(V(v)->u.number.r, NULL, 10);
	if (errno == ERANGE)
		return ovl_error(err, 0, "%s: integer out of range: %s", ovl_qp(field),
				 V(v)->u.number.r);
	*out = n;
	return 0;
}

int ovl_json_uint64(const ovl_json *v, const char *field, uint64_t *out, ovl_error_t *err)
{
	if (v == NULL || !YAJL_IS_NUMBER(V(v)))
		return type_error(v, field, OVL_JSON_NUMBER, err);
	const char *r = V(v)->u.number.r;
	if (!YAJL_IS_INTEGER(V(v)) && strpbrk(r, ".eE") != NULL)
		return ovl_error(err, 0, "%s: expected an integer, got %s", ovl_qp(field), r);
	if (r[0] == '-')
		return ovl_error(err, 0, "%s: expected a non-negative integer, got %s",
				 ovl_qp(field), r);
	errno = 0;
	char *end = NULL;
	unsigned long long n = strtoull(r, &end, 10);
	if (errno == ERANGE || end == r || *end != '\0')
		return ovl_error(err, 0, "%s: integer out of range: %s", ovl_qp(field), r);
	*out = n;
	return 0;
}

int ovl_json_get_string(const ovl_json *obj, const char *key, const char **out, ovl_error_t *err)
{
	const ovl_json *v = ovl_json_get(obj, key);
	if (v == NULL)
		return 0;
	return ovl_json_string(v, key, out, err) < 0 ? -1 : 1;
}

static int get_typed(const ovl_json *obj, const char *key, enum ovl_json_type want,
		     const ovl_json **out, ovl_error_t *err)
{
	const ovl_json *v = ovl_json_get(obj, key);
	if (v == NULL)
		return 0;
	if (ovl_json_type(v) != want)
		return type_error(v, key, want, err);
	*out = v;
	return 1;
}

int ovl_json_get_object(const ovl_json *obj, const char *key, const ovl_json **out,
			ovl_error_t *err)
{
	return get_typed(obj, key, OVL_JSON_OBJECT, out, err);
}

int ovl_json_get_array(const ovl_json *obj, const char *key, const ovl_json **out, ovl_error_t *err)
{
	return get_typed(obj, key, OVL_JSON_ARRAY, out, err);
}

/* ---- writer ---- */

struct ovl_jw {
	yajl_gen g;
	yajl_gen_status status; /* the first call's that failed, else yajl_gen_status_ok */
	int open;		/* containers open */
};

ovl_jw *ovl_jw_new(bool pretty)
{
	ovl_jw *w = xcalloc(1, sizeof(*w));
	w->g = yajl_gen_alloc(NULL);
	if (w->g == NULL)
		abort(); /* yajl's allocation failed: out of memory, as xmalloc */
	yajl_gen_config(w->g, yajl_gen_beautify, pretty ? 1 : 0);
	return w;
}

void ovl_jw_free(ovl_jw *w)
{
	if (w == NULL)
		return;
	yajl_gen_free(w->g);
	free(w);
}

/* Keeps the first failing status; true while none failed. */
static bool jw_ok(ovl_jw *w)
{
	return w->status == yajl_gen_status_ok;
}
static void jw_keep(ovl_jw *w, yajl_gen_status s)
{
	if (jw_ok(w))
		w->status = s;
}

void ovl_jw_object_open(ovl_jw *w)
{
	if (jw_ok(w)) {
		jw_keep(w, yajl_gen_map_open(w->g));
		w->open++;
	}
}
void ovl_jw_object_close(ovl_jw *w)
{
	if (jw_ok(w)) {
		jw_keep(w, yajl_gen_map_close(w->g));
		w->open--;
	}
}
void ovl_jw_array_open(ovl_jw *w)
{
	if (jw_ok(w)) {
		jw_keep(w, yajl_gen_array_open(w->g));
		w->open++;
	}
}
void ovl_jw_array_close(ovl_jw *w)
{
	if (jw_ok(w)) {
		jw_keep(w, yajl_gen_array_close(w->g));
		w->open--;
	}
}

/* Length of a valid UTF-8 sequence at p (1..4), or 0 if the bytes are not valid UTF-8. */
static size_t utf8_seq_len(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	size_t n = (p[0] & 0xe0) == 0xc0   ? 2
		   : (p[0] & 0xf0) == 0xe0 ? 3
		   : (p[0] & 0xf8) == 0xf0 ? 4
					   : 0;
	if (n == 0 || (n == 2 && p[0] < 0xc2) || (n == 4 && p[0] > 0xf4))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0)))
		return 0;
	if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90)))
		return 0;
	return n;
}

static void write_str(ovl_jw *w, const char *s)
{
	if (!jw_ok(w))
		return;
	size_t len = strlen(s), o = 0;
	cleanup_free char *buf = xmalloc(len * 4 + 1);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_seq_len(p);
		if (n == 0) {
			o += (size_t)sprintf(buf + o, "\\x%02x", *p);
			p++;
		} else {
			memcpy(buf + o, p, n);
			o += n;
			p += n;
		}
	}
	jw_keep(w, yajl_gen_string(w->g, (const unsigned char *)buf, o));
}

void ovl_jw_key(ovl_jw *w, const char *key)
{
	write_str(w, key);
}

void ovl_jw_string(ovl_jw *w, const char *s)
{
	if (s == NULL)
		ovl_jw_null(w);
	else
		write_str(w, s);
}

void ovl_jw_int(ovl_jw *w, long long n)
{
	if (jw_ok(w))
		jw_keep(w, yajl_gen_integer(w->g, n));
}

void ovl_jw_bool(ovl_jw *w, bool b)
{
	if (jw_ok(w))
		jw_keep(w, yajl_gen_bool(w->g, b ? 1 : 0));
}

void ovl_jw_null(ovl_jw *w)
{
	if (jw_ok(w))
		jw_keep(w, yajl_gen_null(w->g));
}

static const char *jw_status_name(yajl_gen_status s)
{
	switch (s) {
	case yajl_gen_keys_must_be_strings:
		return "a key that is not a string";
	case yajl_max_depth_exceeded:
		return "nested too deep";
	case yajl_gen_in_error_state:
		return "a call after an error";
	case yajl_gen_generation_complete:
		return "a value after the document's end";
	case yajl_gen_invalid_number:
		return "an invalid number";
	case yajl_gen_no_buf:
		return "no buffer";
	case yajl_gen_invalid_string:
		return "a string that is not UTF-8";
	default:
		return "unknown generator status";
	}
}

const char *ovl_jw_text(ovl_jw *w, size_t *len, ovl_error_t *err)
{
	const unsigned char *buf = NULL;
	size_t l = 0;
	if (jw_ok(w) && w->open == 0)
		jw_keep(w, yajl_gen_get_buf(w->g, &buf, &l));
	if (!jw_ok(w)) {
		ovl_error(err, 0, "write JSON: %s", jw_status_name(w->status));
		return NULL;
	}
	if (w->open != 0) {
		ovl_error(err, 0, "write JSON: %d arrays or objects left open", w->open);
		return NULL;
	}
	if (len)
		*len = l;
	return (const char *)buf;
}

char *ovl_jw_strdup(ovl_jw *w, ovl_error_t *err)
{
	const char *text = ovl_jw_text(w, NULL, err);
	return text ? xstrdup(text) : NULL;
}

/* ---- members as every reader of the document finds them ---- */

/* Go's encoding/json matches a struct field's name in any letter case, and folds the two
 * non-ASCII letters whose simple case folding is an ASCII letter: U+212A KELVIN SIGN (k) and
 * U+017F LATIN SMALL LETTER LONG S (s). */
static bool go_fold_equal(const char *key, const char *name)
{
	const unsigned char *k = (const unsigned char *)key;
	for (const unsigned char *n = (const unsigned char *)name; *n; n++) {
		int want = *n >= 'A' && *n <= 'Z' ? *n - 'A' + 'a' : *n;
		if (*k < 0x80) {
			int got = *k >= 'A' && *k <= 'Z' ? *k - 'A' + 'a' : *k;
			if (*k == '\0' || got != want)
				return false;
			k++;
		} else if (want == 'k' && memcmp(k, "\xe2\x84\xaa", 3) == 0) {
			k += 3;
		} else if (want == 's' && memcmp(k, "\xc5\xbf", 2) == 0) {
			k += 2;
		} else {
			return false;
		}
	}
	return *k == '\0';
}

int ovl_json_get_member(const ovl_json *obj, const char *key, bool fold, const ovl_json **out,
			ovl_error_t *err)
{
	*out = NULL;
	if (obj == NULL || !YAJL_IS_OBJECT(V(obj)))
		return 0;
	int found = 0;
	for (size_t i = 0; i < V(obj)->u.object.len; i++) {
		const char *k = V(obj)->u.object.keys[i];
		if (strcmp(k, key) == 0) {
			if (found)
				return ovl_error(err, 0, "%s: given twice", ovl_qp(key));
			found = 1;
			*out = (const ovl_json *)V(obj)->u.object.values[i];
		} else if (fold && go_fold_equal(k, key)) {
			return ovl_error(err, 0,
					 "\"%s\": taken for \"%s\" by Go's JSON decoder (runc), by "
					 "no other reader",
					 ovl_qp(k), key);
		}
	}
	return found;
}

const char *ovl_json_number_text(const ovl_json *v)
{
	return v && YAJL_IS_NUMBER(V(v)) ? V(v)->u.number.r : NULL;
}

/* ---- rewrite: yajl's parser callbacks feed its generator, edits spliced in on the way ---- */

#define RW_PATH_MAX 16 /* keys on an edit's path */

struct rw_frame {
	bool object;
	bool on_path;			  /* its path is a prefix of an edit's path */
	size_t index;			  /* arrays: elements begun */
	const struct ovl_json_edit *drop; /* arrays: a DROP edit's target */
	const struct ovl_json_edit *set;  /* objects: the SET whose member's value comes next */
	bool *seen;			  /* objects on a path: edit i's key met here */
};

struct rw {
	yajl_gen g;
	const struct ovl_json_edit *edits;
	size_t n;
	bool *applied;
	struct rw_frame stack[OVL_JSON_REWRITE_DEPTH];
	size_t depth;
	/* keys of the on-path frames: path[d] is the member of stack[d] being read */
	char *path[OVL_JSON_REWRITE_DEPTH];
	size_t path_len[OVL_JSON_REWRITE_DEPTH];
	size_t skipping;  /* > 0: inside a value not written (dropped or replaced) */
	bool skip_next;	  /* the next value is not written (a scalar) or is skipped whole */
	size_t out_depth; /* containers open in the generator (the limit of its state array) */
	char *error;	  /* why the parse was cancelled */
};

static size_t path_count(const char *const *path)
{
	size_t n = 0;
	while (path[n])
		n++;
	return n;
}

/* Whether the current path (the keys of stack[0..d), d levels) starts edit e's path. */
static bool rw_prefix(const struct rw *rw, const struct ovl_json_edit *e, size_t d)
{
	if (path_count(e->path) < d)
		return false;
	for (size_t i = 0; i < d; i++)
		if (strlen(e->path[i]) != rw->path_len[i] ||
		    memcmp(e->path[i], rw->path[i], rw->path_len[i]) != 0)
			return false;
	return true;
}

static int rw_fail(struct rw *rw, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rw_fail(struct rw *rw, const char *fmt, ...)
{
	if (rw->error == NULL) {
		va_list ap;
		va_start(ap, fmt);
		rw->error = xvasprintf(fmt, ap);
		va_end(ap);
	}
	return 0; /* yajl stops: yajl_status_client_canceled */
}

/* The current path for messages: "hooks.createRuntime" (d levels), "(root)" for none. */
static const char *rw_path_text(const struct rw *rw, size_t d)
{
	static __thread char buf[512];
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < d && o < sizeof(buf) - 1; i++) {
		cleanup_free char *k = text_dup(rw->path[i], rw->path_len[i]);
		int w = snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? "." : "", ovl_qp(k));
		if (w < 0)
			break;
		o += (size_t)w;
	}
	return d ? buf : "(root)";
}

static int rw_gen(struct rw *rw, yajl_gen_status st)
{
	if (st != yajl_gen_status_ok)
		return rw_fail(rw, "cannot write the document (yajl_gen status %d)", (int)st);
	return 1;
}

static int rw_open(struct rw *rw, bool object)
{
	if (rw->out_depth + 1 >= OVL_JSON_REWRITE_DEPTH)
		return rw_fail(rw, "nested deeper than %d levels", OVL_JSON_REWRITE_DEPTH);
	rw->out_depth++;
	return rw_gen(rw, object ? yajl_gen_map_open(rw->g) : yajl_gen_array_open(rw->g));
}

static int rw_close(struct rw *rw, bool object)
{
	rw->out_depth--;
	return rw_gen(rw, object ? yajl_gen_map_close(rw->g) : yajl_gen_array_close(rw->g));
}

/* Splicing an edit's value text into the output: its tokens go to the generator as they are;
 * strip_outer leaves out the outermost array's brackets (APPEND writes the elements). */
struct splice {
	struct rw *rw;
	size_t level;
	bool strip_outer;
};

static int sp_null(void *ctx)
{
	return rw_gen(((struct splice *)ctx)->rw, yajl_gen_null(((struct splice *)ctx)->rw->g));
}

static int sp_bool(void *ctx, int b)
{
	return rw_gen(((struct splice *)ctx)->rw, yajl_gen_bool(((struct splice *)ctx)->rw->g, b));
}

static int sp_number(void *ctx, const char *s, size_t len)
{
	struct rw *rw = ((struct splice *)ctx)->rw;
	return rw_gen(rw, yajl_gen_number(rw->g, s, len));
}

static int sp_string(void *ctx, const unsigned char *s, size_t len)
{
	struct rw *rw = ((struct splice *)ctx)->rw;
	return rw_gen(rw, yajl_gen_string(rw->g, s, len));
}

static int sp_open(struct splice *sp, bool object)
{
	if (sp->level++ == 0 && sp->strip_outer)
		return 1;
	return rw_open(sp->rw, object);
}

static int sp_close(struct splice *sp, bool object)
{
	if (--sp->level == 0 && sp->strip_outer)
		return 1;
	return rw_close(sp->rw, object);
}

static int sp_start_map(void *ctx)
{
	return sp_open(ctx, true);
}

static int sp_end_map(void *ctx)
{
	return sp_close(ctx, true);
}

static int sp_start_array(void *ctx)
{
	return sp_open(ctx, false);
}

static int sp_end_array(void *ctx)
{
	return sp_close(ctx, false);
}

static const yajl_callbacks splice_callbacks = {
    .yajl_null = sp_null,
    .yajl_boolean = sp_bool,
    .yajl_number = sp_number,
    .yajl_string = sp_string,
    .yajl_start_map = sp_start_map,
    .yajl_map_key = sp_string,
    .yajl_end_map = sp_end_map,
    .yajl_start_array = sp_start_array,
    .yajl_end_array = sp_end_array,
};

static int rw_splice(struct rw *rw, const char *value, bool strip_outer)
{
	struct splice sp = {.rw = rw, .strip_outer = strip_outer};
	yajl_handle h = yajl_alloc(&splice_callbacks, NULL, &sp);
	if (h == NULL)
		abort(); /* as xmalloc */
	size_t len = strlen(value);
	yajl_status st = yajl_parse(h, (const unsigned char *)value, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	yajl_free(h);
	if (st != yajl_status_ok)
		return rw_fail(rw, "an edit's value is not JSON: %s", ovl_qp(value));
	return 1;
}

/* What the edits other than DROP need at the path of d levels: 0 nothing, 'a' an array, 'o' an
 * object (DROP never creates, and removes nothing from what is not an array). */
static int rw_need(const struct rw *rw, size_t d)
{
	int need = 0;
	for (size_t i = 0; i < rw->n && need != 'o'; i++) {
		const struct ovl_json_edit *e = &rw->edits[i];
		if (e->op == OVL_JSON_DROP || !rw_prefix(rw, e, d))
			continue;
		need = path_count(e->path) > d || e->op == OVL_JSON_SET ? 'o' : 'a';
	}
	return need;
}

/* Whether an edit's path starts with the path of d levels. */
static bool rw_touches(const struct rw *rw, size_t d)
{
	for (size_t i = 0; i < rw->n; i++)
		if (rw_prefix(rw, &rw->edits[i], d))
			return true;
	return false;
}

static int rw_emit_new(struct rw *rw, size_t d);

/* Writes what the edits under the current path (d levels, an object) add: members set, then
 * one member per missing key that an edit's path goes on with. */
static int rw_emit_members(struct rw *rw, size_t d)
{
	for (size_t i = 0; i < rw->n; i++) {
		const struct ovl_json_edit *e = &rw->edits[i];
		if (rw->applied[i] || e->op != OVL_JSON_SET || path_count(e->path) != d ||
		    !rw_prefix(rw, e, d))
			continue;
		rw->applied[i] = true;
		if (!rw_gen(rw, yajl_gen_string(rw->g, (const unsigned char *)e->key,
						strlen(e->key))) ||
		    !rw_splice(rw, e->value, false))
			return 0;
	}
	for (size_t i = 0; i < rw->n; i++) {
		const struct ovl_json_edit *e = &rw->edits[i];
		if (rw->applied[i] || e->op == OVL_JSON_DROP || path_count(e->path) <= d ||
		    !rw_prefix(rw, e, d))
			continue;
		if (d + 1 >= OVL_JSON_REWRITE_DEPTH)
			return rw_fail(rw, "nested deeper than %d levels", OVL_JSON_REWRITE_DEPTH);
		/* path[d] is free: no container is open at that depth */
		const char *key = e->path[d];
		free(rw->path[d]);
		rw->path[d] = text_dup(key, strlen(key));
		rw->path_len[d] = strlen(key);
		if (!rw_gen(rw, yajl_gen_string(rw->g, (const unsigned char *)key, strlen(key))) ||
		    !rw_emit_new(rw, d + 1))
			return 0;
	}
	return 1;
}

/* Writes a container made for the edits whose path starts with the current one (d levels). */
static int rw_emit_new(struct rw *rw, size_t d)
{
	if (rw_need(rw, d) == 'a') {
		if (!rw_open(rw, false))
			return 0;
		for (size_t i = 0; i < rw->n; i++) {
			const struct ovl_json_edit *e = &rw->edits[i];
			if (rw->applied[i] || e->op != OVL_JSON_APPEND ||
			    path_count(e->path) != d || !rw_prefix(rw, e, d))
				continue;
			rw->applied[i] = true;
			if (!rw_splice(rw, e->value, true))
				return 0;
		}
		return rw_close(rw, false);
	}
	return rw_open(rw, true) && rw_emit_members(rw, d) && rw_close(rw, true);
}

enum rw_begin { RW_WRITE, RW_SKIP, RW_DONE, RW_ERROR };

/* A value begins (type t): decides whether it is written, skipped (dropped, replaced) or was
 * replaced by a container made here (a null on an edit's path). */
static enum rw_begin rw_begin(struct rw *rw, yajl_type t)
{
	if (rw->skipping > 0)
		return RW_SKIP;
	size_t d = rw->depth;
	struct rw_frame *f = d ? &rw->stack[d - 1] : NULL;
	if (f && !f->object) {
		size_t idx = f->index++;
		for (size_t i = 0; f->drop && i < f->drop->ndrop; i++)
			if (f->drop->drop[i] == idx)
				return RW_SKIP;
		return RW_WRITE;
	}
	if (f && f->set) {
		const struct ovl_json_edit *e = f->set;
		f->set = NULL;
		rw->applied[e - rw->edits] = true;
		return rw_splice(rw, e->value, false) ? RW_SKIP : RW_ERROR;
	}
	if (f && !f->on_path)
		return RW_WRITE;
	/* the root, or a member of an object on an edit's path */
	int need = rw_need(rw, d);
	if (need == 0)
		return RW_WRITE;
	if (t == yajl_t_null && d > 0)
		return rw_emit_new(rw, d) ? RW_DONE : RW_ERROR;
	if ((need == 'o' && t != yajl_t_object) || (need == 'a' && t != yajl_t_array)) {
		enum ovl_json_type got = t == yajl_t_object   ? OVL_JSON_OBJECT
					 : t == yajl_t_array  ? OVL_JSON_ARRAY
					 : t == yajl_t_string ? OVL_JSON_STRING
					 : t == yajl_t_number ? OVL_JSON_NUMBER
					 : t == yajl_t_null   ? OVL_JSON_NULL
							      : OVL_JSON_BOOL;
		rw_fail(rw, "%s: expected %s, got %s", rw_path_text(rw, d),
			ovl_json_type_phrase(need == 'o' ? OVL_JSON_OBJECT : OVL_JSON_ARRAY),
			ovl_json_type_phrase(got));
		return RW_ERROR;
	}
	return RW_WRITE;
}

static int rw_on_null(void *ctx)
{
	struct rw *rw = ctx;
	switch (rw_begin(rw, yajl_t_null)) {
	case RW_WRITE:
		return rw_gen(rw, yajl_gen_null(rw->g));
	case RW_ERROR:
		return 0;
	default:
		return 1;
	}
}

static int rw_on_bool(void *ctx, int b)
{
	struct rw *rw = ctx;
	switch (rw_begin(rw, b ? yajl_t_true : yajl_t_false)) {
	case RW_WRITE:
		return rw_gen(rw, yajl_gen_bool(rw->g, b));
	case RW_ERROR:
		return 0;
	default:
		return 1;
	}
}

static int rw_on_number(void *ctx, const char *s, size_t len)
{
	struct rw *rw = ctx;
	switch (rw_begin(rw, yajl_t_number)) {
	case RW_WRITE:
		return rw_gen(rw, yajl_gen_number(rw->g, s, len));
	case RW_ERROR:
		return 0;
	default:
		return 1;
	}
}

static int rw_on_string(void *ctx, const unsigned char *s, size_t len)
{
	struct rw *rw = ctx;
	switch (rw_begin(rw, yajl_t_string)) {
	case RW_WRITE:
		return rw_gen(rw, yajl_gen_string(rw->g, s, len));
	case RW_ERROR:
		return 0;
	default:
		return 1;
	}
}

static int rw_on_key(void *ctx, const unsigned char *key, size_t len)
{
	struct rw *rw = ctx;
	if (rw->skipping > 0)
		return 1;
	size_t d = rw->depth;
	struct rw_frame *f = &rw->stack[d - 1];
	if (f->on_path) {
		free(rw->path[d - 1]);
		rw->path[d - 1] = text_dup(key, len);
		rw->path_len[d - 1] = len;
		for (size_t i = 0; i < rw->n; i++) {
			const struct ovl_json_edit *e = &rw->edits[i];
			/* an edit's path goes on through this key, or sets it */
			bool goes_on = path_count(e->path) > d - 1 && rw_prefix(rw, e, d);
			bool sets = e->op == OVL_JSON_SET && path_count(e->path) == d - 1 &&
				    rw_prefix(rw, e, d - 1) && strlen(e->key) == len &&
				    memcmp(e->key, key, len) == 0;
			if (!goes_on && !sets)
				continue;
			if (f->seen[i])
				return rw_fail(rw, "%s: given twice", rw_path_text(rw, d));
			f->seen[i] = true;
			if (sets)
				f->set = e;
		}
	}
	return rw_gen(rw, yajl_gen_string(rw->g, key, len));
}

static int rw_on_open(struct rw *rw, bool object)
{
	if (rw->skipping > 0) {
		rw->skipping++;
		return 1;
	}
	switch (rw_begin(rw, object ? yajl_t_object : yajl_t_array)) {
	case RW_ERROR:
		return 0;
	case RW_SKIP:
		rw->skipping = 1;
		return 1;
	default:
		break;
	}
	size_t d = rw->depth;
	if (d >= OVL_JSON_REWRITE_DEPTH - 1)
		return rw_fail(rw, "nested deeper than %d levels", OVL_JSON_REWRITE_DEPTH);
	bool parent_on_path = d == 0 || rw->stack[d - 1].on_path;
	struct rw_frame *f = &rw->stack[d];
	*f = (struct rw_frame){.object = object};
	f->on_path = parent_on_path && (d == 0 || rw->stack[d - 1].object) && rw_touches(rw, d);
	if (f->on_path && object) {
		f->seen = xcalloc(rw->n ? rw->n : 1, sizeof(bool));
	}
	if (f->on_path && !object)
		for (size_t i = 0; i < rw->n; i++)
			if (rw->edits[i].op == OVL_JSON_DROP &&
			    path_count(rw->edits[i].path) == d && rw_prefix(rw, &rw->edits[i], d))
				f->drop = &rw->edits[i];
	rw->depth++;
	return rw_open(rw, object);
}

static int rw_on_close(struct rw *rw, bool object)
{
	if (rw->skipping > 0) {
		rw->skipping--;
		return 1;
	}
	size_t d = --rw->depth;
	struct rw_frame *f = &rw->stack[d];
	if (f->on_path && object) {
		if (!rw_emit_members(rw, d))
			return 0;
	} else if (f->on_path) {
		for (size_t i = 0; i < rw->n; i++) {
			const struct ovl_json_edit *e = &rw->edits[i];
			if (rw->applied[i] || path_count(e->path) != d || !rw_prefix(rw, e, d))
				continue;
			rw->applied[i] = true;
			if (e->op == OVL_JSON_APPEND && !rw_splice(rw, e->value, true))
				return 0;
		}
	}
	free(f->seen);
	f->seen = NULL;
	return rw_close(rw, object);
}

static int rw_on_start_map(void *ctx)
{
	return rw_on_open(ctx, true);
}

static int rw_on_end_map(void *ctx)
{
	return rw_on_close(ctx, true);
}

static int rw_on_start_array(void *ctx)
{
	return rw_on_open(ctx, false);
}

static int rw_on_end_array(void *ctx)
{
	return rw_on_close(ctx, false);
}

static const yajl_callbacks rewrite_callbacks = {
    .yajl_null = rw_on_null,
    .yajl_boolean = rw_on_bool,
    .yajl_number = rw_on_number,
    .yajl_string = rw_on_string,
    .yajl_start_map = rw_on_start_map,
    .yajl_map_key = rw_on_key,
    .yajl_end_map = rw_on_end_map,
    .yajl_start_array = rw_on_start_array,
    .yajl_end_array = rw_on_end_array,
};

static void rw_free(struct rw *rw)
{
	for (size_t d = 0; d < rw->depth; d++)
		free(rw->stack[d].seen);
	for (size_t d = 0; d < OVL_JSON_REWRITE_DEPTH; d++)
		free(rw->path[d]);
	free(rw->applied);
	free(rw->error);
	yajl_gen_free(rw->g);
}

int ovl_json_rewrite(const char *text, size_t len, const struct ovl_json_edit *edits,
		     size_t n_edits, char **out, size_t *out_len, ovl_error_t *err)
{
	*out = NULL;
	*out_len = 0;
	if (memchr(text, '\0', len) != NULL)
		return ovl_error(err, 0, "invalid JSON: contains a NUL byte");
	for (size_t i = 0; i < n_edits; i++)
		if (path_count(edits[i].path) >= RW_PATH_MAX)
			return ovl_error(err, 0, "an edit's path is longer than %d keys",
					 RW_PATH_MAX - 1);
	struct rw rw = {.edits = edits, .n = n_edits};
	rw.applied = xcalloc(n_edits ? n_edits : 1, sizeof(bool));
	rw.g = yajl_gen_alloc(NULL);
	if (rw.g == NULL)
		abort(); /* yajl's allocation failed: out of memory, as xmalloc */
	yajl_handle h = yajl_alloc(&rewrite_callbacks, NULL, &rw);
	if (h == NULL)
		abort();
	yajl_config(h, yajl_allow_comments, 1); /* as the parser above */
	const unsigned char *u = (const unsigned char *)text;
	yajl_status st = yajl_parse(h, u, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	int r = 0;
	if (st != yajl_status_ok) {
		if (rw.error) {
			r = ovl_error(err, 0, "%s", rw.error);
		} else {
			unsigned char *msg = yajl_get_error(h, 1, u, len);
			const char *m = msg && msg[0] ? (const char *)msg : "parse error";
			r = ovl_error(err, 0, "invalid JSON: %.*s", (int)strcspn(m, "\n"), m);
			yajl_free_error(h, msg);
		}
	} else {
		const unsigned char *buf = NULL;
		size_t l = 0;
		yajl_gen_get_buf(rw.g, &buf, &l);
		*out = text_dup(buf, l);
		*out_len = l;
	}
	yajl_free(h);
	rw_free(&rw);
	return r;
}
