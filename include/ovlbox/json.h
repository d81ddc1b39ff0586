/* JSON in and out. The only module that knows about yajl, so the library can be swapped. */
#ifndef OVLBOX_JSON_H
#define OVLBOX_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct ovl_json ovl_json; /* a parsed value; the root owns the tree */

/* Parses text (not necessarily NUL-terminated). Error: "invalid JSON: <parser message>". */
ovl_json *ovl_json_parse(const char *text, size_t len, ovl_error_t *err);
/* Reads at most max_bytes from fd (refuses larger input) and parses it. what names the input. */
ovl_json *ovl_json_parse_fd(int fd, size_t max_bytes, const char *what, ovl_error_t *err);
/* The same, storing only the top-level object's members named in keep (NULL-terminated): the
 * others are checked as JSON but not kept. For large documents read in part (config.json). */
ovl_json *ovl_json_parse_fd_members(int fd, size_t max_bytes, const char *what,
				    const char *const *keep, ovl_error_t *err);
void ovl_json_free(ovl_json *root);

enum ovl_json_type {
	OVL_JSON_NULL,
	OVL_JSON_BOOL,
	OVL_JSON_NUMBER,
	OVL_JSON_STRING,
	OVL_JSON_ARRAY,
	OVL_JSON_OBJECT,
};
enum ovl_json_type ovl_json_type(const ovl_json *v);
const char *ovl_json_type_name(enum ovl_json_type t);
/* The name with its article, for messages: "a string", "an object". */
const char *ovl_json_type_phrase(enum ovl_json_type t);

/* Member of an object (NULL if v is not an object or has no such key). */
const ovl_json *ovl_json_get(const ovl_json *v, const char *key);
size_t ovl_json_len(const ovl_json *v); /* array elements or object members; 0 otherwise */
const ovl_json *ovl_json_at(const ovl_json *v, size_t i); /* array element / object value */
const char *ovl_json_key_at(const ovl_json *v, size_t i); /* object key */

/* Scalars. Each returns 0 and stores the value, or -1 with "FIELD: expected a T, got a U". */
int ovl_json_string(const ovl_json *v, const char *field, const char **out, ovl_error_t *err);
int ovl_json_bool(const ovl_json *v, const char *field, bool *out, ovl_error_t *err);
int ovl_json_int64(const ovl_json *v, const char *field, int64_t *out, ovl_error_t *err);
int ovl_json_uint64(const ovl_json *v, const char *field, uint64_t *out, ovl_error_t *err);

/* Object member helpers: return 1 when present and well-typed, 0 when absent, -1 on a wrong type
 * (error names the field). */
int ovl_json_get_string(const ovl_json *obj, const char *key, const char **out, ovl_error_t *err);
int ovl_json_get_object(const ovl_json *obj, const char *key, const ovl_json **out,
			ovl_error_t *err);
int ovl_json_get_array(const ovl_json *obj, const char *key, const ovl_json **out,
		       ovl_error_t *err);

/* A member that must be read the way every reader of the document reads it. fold false: key
 * exactly (a map: annotations). fold true: a struct field as Go's encoding/json finds it, whose
 * key matches in any letter case, with U+212A (Kelvin sign) and U+017F (long s) taken for k and
 * s (runc decodes config.json so; crun matches exactly). Returns 1 and *out when exactly one
 * member is spelled key, 0 when no member matches, -1 when several do or one matches only when
 * folded ("KEY: given twice", "\"Key\": taken for \"key\" by Go's JSON decoder"). */
int ovl_json_get_member(const ovl_json *obj, const char *key, bool fold, const ovl_json **out,
			ovl_error_t *err);

/* A number's text as written in the document (NULL if v is not a number). */
const char *ovl_json_number_text(const ovl_json *v);

/* Rewriting a document token by token: everything not edited is written back as it was read —
 * members in order, duplicate keys, strings byte for byte (NUL characters too), numbers with
 * their original text; only whitespace and comments are not kept. Each edit names a container
 * by the object keys that lead to it from the root, matched exactly: a key on an edit's path
 * given twice in one object is an error (readers disagree on which counts). Containers missing
 * on an edit's path, or null there, are created (objects; the last an array for APPEND), except
 * for DROP, which has nothing to remove then; a value of another type on the path is an error
 * naming it. Edits must not overlap (a container is either an array or an object). */
enum ovl_json_edit_op {
	OVL_JSON_APPEND, /* append the elements of value (a JSON array) to the array at path */
	OVL_JSON_SET,	 /* member key of the object at path := value: in place, or added last */
	OVL_JSON_DROP,	 /* remove the elements drop[0..ndrop) (ascending) of the array at path */
};
struct ovl_json_edit {
	enum ovl_json_edit_op op;
	const char *const *path; /* NULL-terminated keys; {NULL}: the root */
	const char *key;	 /* OVL_JSON_SET */
	const char *value;	 /* OVL_JSON_APPEND, OVL_JSON_SET: JSON text */
	const size_t *drop;	 /* OVL_JSON_DROP */
	size_t ndrop;
};
#define OVL_JSON_REWRITE_DEPTH 100 /* deeper documents are refused (yajl's generator: 128) */
/* *out (malloc'ed, *out_len bytes, NUL-terminated) is compact JSON. Errors: "invalid JSON: ...",
 * "PATH: expected an object, got a string", "PATH: given twice" (PATH ending in the key),
 * "nested deeper than 100 levels". */
int ovl_json_rewrite(const char *text, size_t len, const struct ovl_json_edit *edits,
		     size_t n_edits, char **out, size_t *out_len, ovl_error_t *err);

/* Writer: builds one JSON document in memory. Strings that are not valid UTF-8 are written
 * with each invalid byte as the escape "\\xNN" (a literal backslash, then x and two hex digits).
 * Each call's generator status is kept: the first that fails (a key where a value belongs, a
 * close with nothing open, nesting past yajl's limit) makes every later call a no-op and
 * ovl_jw_text fail, so a caller checks once, at the end. */
typedef struct ovl_jw ovl_jw;
ovl_jw *ovl_jw_new(bool pretty);
void ovl_jw_free(ovl_jw *w);
void ovl_jw_object_open(ovl_jw *w);
void ovl_jw_object_close(ovl_jw *w);
void ovl_jw_array_open(ovl_jw *w);
void ovl_jw_array_close(ovl_jw *w);
void ovl_jw_key(ovl_jw *w, const char *key);
void ovl_jw_string(ovl_jw *w, const char *s); /* NULL writes null */
void ovl_jw_int(ovl_jw *w, long long n);
void ovl_jw_bool(ovl_jw *w, bool b);
void ovl_jw_null(ovl_jw *w);
/* The document, once every container is closed; NULL with *err when a call failed or a
 * container is still open. */
const char *ovl_jw_text(ovl_jw *w, size_t *len, ovl_error_t *err);
/* ovl_jw_text as an allocated string (xstrdup). */
char *ovl_jw_strdup(ovl_jw *w, ovl_error_t *err);

#endif
