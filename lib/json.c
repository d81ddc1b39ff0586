/* JSON via yajl's parser (into yajl's tree type) and generator. Nothing else in ovlbox includes
 * yajl. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "ovlbox/cleanup.h"
#include "ovlbox/json.h"

#define V(x) ((yajl_val)(x))

/* Deeper nesting is refused: yajl_tree_free() recurses once per level, so a megabyte of "["
 * would overflow the stack when the tree is freed. OCI documents nest a few levels. */
#define MAX_DEPTH 1000

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
	bool too_deep;		 /* stopped at MAX_DEPTH */
	yajl_val root;
};

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (q == NULL)
		abort();
	return q;
}

static yajl_val node_new(yajl_type type)
{
	yajl_val v = calloc(1, sizeof(*v));
	if (v == NULL)
		abort();
	v->type = type;
	return v;
}

static char *text_dup(const void *s, size_t len)
{
	char *d = malloc(len + 1);
	if (d == NULL)
		abort();
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
	if (b->depth + b->skipping >= MAX_DEPTH) {
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
		abort();
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
			ovl_error(err, 0, "invalid JSON: nested deeper than %d levels", MAX_DEPTH);
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
	cleanup_free char *buf = malloc(cap);
	if (buf == NULL)
		abort();
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

static const char *article(enum ovl_json_type t)
{
	return t == OVL_JSON_ARRAY || t == OVL_JSON_OBJECT ? "an" : "a";
}

/* The field is escaped (ovl_qp): it may be a key from the document, and the message must stay one
 * line. */
static int type_error(const ovl_json *v, const char *field, enum ovl_json_type want,
		      ovl_error_t *err)
{
	enum ovl_json_type got = ovl_json_type(v);
	return ovl_error(err, 0, "%s: expected %s %s, got %s %s", ovl_qp(field), article(want),
			 ovl_json_type_name(want), article(got), ovl_json_type_name(got));
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
};

ovl_jw *ovl_jw_new(bool pretty)
{
	ovl_jw *w = calloc(1, sizeof(*w));
	if (w == NULL || (w->g = yajl_gen_alloc(NULL)) == NULL)
		abort();
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

void ovl_jw_object_open(ovl_jw *w)
{
	yajl_gen_map_open(w->g);
}
void ovl_jw_object_close(ovl_jw *w)
{
	yajl_gen_map_close(w->g);
}
void ovl_jw_array_open(ovl_jw *w)
{
	yajl_gen_array_open(w->g);
}
void ovl_jw_array_close(ovl_jw *w)
{
	yajl_gen_array_close(w->g);
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

static void write_str(yajl_gen g, const char *s)
{
	size_t len = strlen(s), o = 0;
	cleanup_free char *buf = malloc(len * 4 + 1);
	if (buf == NULL)
		abort();
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
	yajl_gen_string(g, (const unsigned char *)buf, o);
}

void ovl_jw_key(ovl_jw *w, const char *key)
{
	write_str(w->g, key);
}

void ovl_jw_string(ovl_jw *w, const char *s)
{
	if (s == NULL)
		yajl_gen_null(w->g);
	else
		write_str(w->g, s);
}

void ovl_jw_int(ovl_jw *w, long long n)
{
	yajl_gen_integer(w->g, n);
}

void ovl_jw_bool(ovl_jw *w, bool b)
{
	yajl_gen_bool(w->g, b ? 1 : 0);
}

void ovl_jw_null(ovl_jw *w)
{
	yajl_gen_null(w->g);
}

const char *ovl_jw_text(ovl_jw *w, size_t *len)
{
	const unsigned char *buf = NULL;
	size_t l = 0;
	yajl_gen_get_buf(w->g, &buf, &l);
	if (len)
		*len = l;
	return (const char *)buf;
}
