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

/* Writer: builds one JSON document in memory. Strings that are not valid UTF-8 are written
 * with each invalid byte as the escape "\\xNN" (a literal backslash, then x and two hex digits). */
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
/* The document so far (valid once every container is closed). */
const char *ovl_jw_text(ovl_jw *w, size_t *len);

#endif
