/* Feeds: any text to ovl_json_parse(), then walks the tree with the generic accessors
 * (ovl_json_type, _len, _at, _key_at, _get and the typed getters), and writes trees under 100
 * levels deep back with the writer (ovl_jw_*), which must give JSON that parses again. A tree
 * deeper than the parser's limit (1000 levels) is a failure. */
#include "ovlbox/json.h"
#include "fuzz.h"

static int max_depth;

static void walk(const ovl_json *v, ovl_jw *w, int depth)
{
	ovl_error_t err = NULL;
	const char *s;
	bool b;
	int64_t i;
	uint64_t u;
	enum ovl_json_type t = ovl_json_type(v);
	/* lib/json.c refuses deeper nesting (freeing the tree recurses once per level) */
	if (ovl_json_type_name(t) == NULL || depth >= 1000)
		abort();
	if (depth > max_depth)
		max_depth = depth;
	fuzz_check_error(ovl_json_string(v, "f", &s, &err), &err);
	fuzz_check_error(ovl_json_bool(v, "f", &b, &err), &err);
	fuzz_check_error(ovl_json_int64(v, "f", &i, &err), &err);
	fuzz_check_error(ovl_json_uint64(v, "f", &u, &err), &err);
	switch (t) {
	case OVL_JSON_NULL:
		if (w)
			ovl_jw_null(w);
		break;
	case OVL_JSON_BOOL:
		if (w)
			ovl_jw_bool(w, b);
		break;
	case OVL_JSON_NUMBER:
		if (w)
			ovl_jw_int(w, 0);
		break;
	case OVL_JSON_STRING:
		if (w)
			ovl_jw_string(w, s);
		break;
	case OVL_JSON_ARRAY:
		if (w)
			ovl_jw_array_open(w);
		for (size_t k = 0; k < ovl_json_len(v); k++)
			walk(ovl_json_at(v, k), w, depth + 1);
		if (w)
			ovl_jw_array_close(w);
		break;
	case OVL_JSON_OBJECT:
		if (w)
			ovl_jw_object_open(w);
		for (size_t k = 0; k < ovl_json_len(v); k++) {
			const char *key = ovl_json_key_at(v, k);
			const ovl_json *m;
			if (key == NULL || ovl_json_get(v, key) == NULL)
				abort();
			if (w)
				ovl_jw_key(w, key);
			walk(ovl_json_at(v, k), w, depth + 1);
			fuzz_check_error(ovl_json_get_string(v, key, &s, &err), &err);
			fuzz_check_error(ovl_json_get_object(v, key, &m, &err), &err);
			fuzz_check_error(ovl_json_get_array(v, key, &m, &err), &err);
		}
		if (w)
			ovl_jw_object_close(w);
		break;
	}
	if (ovl_json_at(v, ovl_json_len(v)) != NULL || ovl_json_key_at(v, ovl_json_len(v)) != NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ovl_error_t err = NULL;
	ovl_json *j = ovl_json_parse((const char *)data, size, &err);
	fuzz_check_error(j ? 0 : -1, &err);
	if (j == NULL)
		return 0;
	max_depth = 0;
	walk(j, NULL, 0);
	/* yajl's generator refuses nesting past 128 levels; the writer then keeps that status
	 * and makes no further generator call (yajl would read past its state array). */
	ovl_jw *w = ovl_jw_new(size % 2 == 0);
	walk(j, w, 0);
	size_t len;
	const char *text = ovl_jw_text(w, &len, &err);
	if (text == NULL) {
		if (max_depth < 120) {
			fprintf(stderr, "the writer failed at depth %d: %s\n", max_depth, err->msg);
			abort();
		}
		ovl_error_free(&err);
		ovl_jw_free(w);
		ovl_json_free(j);
		return 0;
	}
	ovl_json *again = ovl_json_parse(text, len, &err);
	if (again == NULL) {
		fprintf(stderr, "the writer's output does not parse: %s\n", err->msg);
		abort();
	}
	ovl_json_free(again);
	ovl_jw_free(w);
	ovl_json_free(j);
	return 0;
}
