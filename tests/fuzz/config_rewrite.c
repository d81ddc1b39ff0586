/* Feeds: any text to ovl_json_rewrite() twice: with no edit (the output must parse to the same
 * tree as the input: keys in order, duplicates, values, number text) and with the edits
 * ovlbox-runtime makes to config.json (annotations set, process.env entries dropped, hooks
 * appended), where the output must be the input with exactly those edits: every other field
 * kept. The rewrite must succeed exactly when the input is JSON whose edited paths hold the
 * right types (objects, arrays, null or nothing) with no key on them given twice. */
#include <stdbool.h>

#include "ovlbox/json.h"
#include "fuzz.h"

static const char *const ann_path[] = {"annotations", NULL};
static const char *const env_path[] = {"process", "env", NULL};
static const char *const cr_path[] = {"hooks", "createRuntime", NULL};
static const char *const ps_path[] = {"hooks", "poststop", NULL};
static const size_t drop[] = {0, 2};
#define WS_VALUE   "\"/w\\u0000x\""
#define EXIT_VALUE "{\"n\":-0.0e+1}"
#define CR_VALUE   "[{\"path\":\"/h\",\"args\":[\"ovlbox-hook\",\"createRuntime\"],\"t\":1.50}]"
#define PS_VALUE   "[{\"path\":\"/h\"},2e3,null]"
static const struct ovl_json_edit edits[] = {
    {.op = OVL_JSON_SET, .path = ann_path, .key = "org.ovlbox.workspace", .value = WS_VALUE},
    {.op = OVL_JSON_SET, .path = ann_path, .key = "org.ovlbox.on-exit", .value = EXIT_VALUE},
    {.op = OVL_JSON_DROP, .path = env_path, .drop = drop, .ndrop = 2},
    {.op = OVL_JSON_APPEND, .path = cr_path, .value = CR_VALUE},
    {.op = OVL_JSON_APPEND, .path = ps_path, .value = PS_VALUE},
};

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "config_rewrite: %s\n", what);
		abort();
	}
}

static ovl_json *parse_text(const char *text, size_t len)
{
	ovl_error_t err = NULL;
	ovl_json *j = ovl_json_parse(text, len, &err);
	if (j == NULL)
		fprintf(stderr, "does not parse: %s\n", err->msg);
	check(j != NULL, "the output does not parse");
	return j;
}

/* Deep equality: types, strings, number text, members in order with their keys. */
static bool same(const ovl_json *a, const ovl_json *b)
{
	enum ovl_json_type t = ovl_json_type(a);
	if (t != ovl_json_type(b) || ovl_json_len(a) != ovl_json_len(b))
		return false;
	ovl_error_t err = NULL;
	const char *sa, *sb;
	bool ba, bb;
	switch (t) {
	case OVL_JSON_NULL:
		return true;
	case OVL_JSON_BOOL:
		ovl_json_bool(a, "a", &ba, &err);
		ovl_json_bool(b, "b", &bb, &err);
		return ba == bb;
	case OVL_JSON_NUMBER:
		return strcmp(ovl_json_number_text(a), ovl_json_number_text(b)) == 0;
	case OVL_JSON_STRING:
		ovl_json_string(a, "a", &sa, &err);
		ovl_json_string(b, "b", &sb, &err);
		return strcmp(sa, sb) == 0;
	default:
		for (size_t i = 0; i < ovl_json_len(a); i++)
			if ((t == OVL_JSON_OBJECT &&
			     strcmp(ovl_json_key_at(a, i), ovl_json_key_at(b, i)) != 0) ||
			    !same(ovl_json_at(a, i), ovl_json_at(b, i)))
				return false;
		return true;
	}
}

static bool same_text(const ovl_json *v, const char *text)
{
	ovl_json *t = parse_text(text, strlen(text));
	bool r = same(v, t);
	ovl_json_free(t);
	return r;
}

static size_t count_key(const ovl_json *obj, const char *key)
{
	size_t n = 0;
	for (size_t i = 0; i < ovl_json_len(obj); i++)
		n += strcmp(ovl_json_key_at(obj, i), key) == 0;
	return n;
}

static bool null_or(const ovl_json *v, enum ovl_json_type t)
{
	return v == NULL || ovl_json_type(v) == OVL_JSON_NULL || ovl_json_type(v) == t;
}

static int depth(const ovl_json *v)
{
	int d = 0;
	for (size_t i = 0; i < ovl_json_len(v); i++) {
		int c = depth(ovl_json_at(v, i));
		if (c > d)
			d = c;
	}
	return ovl_json_type(v) == OVL_JSON_ARRAY || ovl_json_type(v) == OVL_JSON_OBJECT ? d + 1
											 : 0;
}

/* Whether the edits can be made: the types on their paths, no key on them twice. */
static bool editable(const ovl_json *t)
{
	if (ovl_json_type(t) != OVL_JSON_OBJECT || count_key(t, "annotations") > 1 ||
	    count_key(t, "process") > 1 || count_key(t, "hooks") > 1)
		return false;
	const ovl_json *ann = ovl_json_get(t, "annotations"), *hooks = ovl_json_get(t, "hooks");
	const ovl_json *process = ovl_json_get(t, "process");
	if (!null_or(ann, OVL_JSON_OBJECT) || !null_or(hooks, OVL_JSON_OBJECT))
		return false;
	if (ovl_json_type(ann) == OVL_JSON_OBJECT && (count_key(ann, "org.ovlbox.workspace") > 1 ||
						      count_key(ann, "org.ovlbox.on-exit") > 1))
		return false;
	if (ovl_json_type(process) == OVL_JSON_OBJECT && count_key(process, "env") > 1)
		return false;
	if (ovl_json_type(hooks) == OVL_JSON_OBJECT &&
	    (count_key(hooks, "createRuntime") > 1 || count_key(hooks, "poststop") > 1 ||
	     !null_or(ovl_json_get(hooks, "createRuntime"), OVL_JSON_ARRAY) ||
	     !null_or(ovl_json_get(hooks, "poststop"), OVL_JSON_ARRAY)))
		return false;
	return true;
}

/* b is array a (NULL or null: none) followed by the elements of text's array. */
static void check_appended(const ovl_json *a, const ovl_json *b, const char *text)
{
	ovl_json *add = parse_text(text, strlen(text));
	size_t n = ovl_json_type(a) == OVL_JSON_ARRAY ? ovl_json_len(a) : 0;
	check(ovl_json_type(b) == OVL_JSON_ARRAY && ovl_json_len(b) == n + ovl_json_len(add),
	      "an appended array's length");
	for (size_t i = 0; i < ovl_json_len(b); i++)
		check(same(ovl_json_at(b, i), i < n ? ovl_json_at(a, i) : ovl_json_at(add, i - n)),
		      "an appended array's elements");
	ovl_json_free(add);
}

/* b is object a (NULL: none) with its members in order and those named in keys that a lacks
 * added at the end in keys' order; member(key, a_value or NULL, b_value) checks each value. */
static void check_object(const ovl_json *a, const ovl_json *b, const char *const *keys,
			 void (*member)(const char *, const ovl_json *, const ovl_json *))
{
	size_t n = ovl_json_type(a) == OVL_JSON_OBJECT ? ovl_json_len(a) : 0, o = n;
	check(ovl_json_type(b) == OVL_JSON_OBJECT, "an edited object is not one");
	for (size_t i = 0; i < n; i++) {
		const char *k = ovl_json_key_at(a, i);
		check(strcmp(k, ovl_json_key_at(b, i)) == 0, "a member moved");
		member(k, ovl_json_at(a, i), ovl_json_at(b, i));
	}
	for (size_t k = 0; keys[k]; k++) {
		if (n > 0 && ovl_json_get(a, keys[k]) != NULL)
			continue;
		check(o < ovl_json_len(b) && strcmp(ovl_json_key_at(b, o), keys[k]) == 0,
		      "a member added in the wrong place");
		member(keys[k], NULL, ovl_json_at(b, o));
		o++;
	}
	check(o == ovl_json_len(b), "members added that no edit asked for");
}

static void ann_member(const char *k, const ovl_json *a, const ovl_json *b)
{
	if (strcmp(k, "org.ovlbox.workspace") == 0)
		check(same_text(b, WS_VALUE), "annotation set");
	else if (strcmp(k, "org.ovlbox.on-exit") == 0)
		check(same_text(b, EXIT_VALUE), "annotation set");
	else
		check(same(a, b), "another annotation changed");
}

static void hooks_member(const char *k, const ovl_json *a, const ovl_json *b)
{
	if (strcmp(k, "createRuntime") == 0)
		check_appended(a, b, CR_VALUE);
	else if (strcmp(k, "poststop") == 0)
		check_appended(a, b, PS_VALUE);
	else
		check(same(a, b), "another hook stage changed");
}

static void process_member(const char *k, const ovl_json *a, const ovl_json *b)
{
	if (strcmp(k, "env") != 0 || ovl_json_type(a) != OVL_JSON_ARRAY) {
		check(same(a, b), "process changed");
		return;
	}
	size_t kept = 0;
	for (size_t i = 0; i < ovl_json_len(a); i++) {
		if (i == drop[0] || i == drop[1])
			continue;
		check(kept < ovl_json_len(b) && same(ovl_json_at(a, i), ovl_json_at(b, kept)),
		      "process.env: a kept entry changed");
		kept++;
	}
	check(kept == ovl_json_len(b), "process.env: entries dropped or added");
}

static void root_member(const char *k, const ovl_json *a, const ovl_json *b)
{
	static const char *const ann_keys[] = {"org.ovlbox.workspace", "org.ovlbox.on-exit", NULL};
	static const char *const hook_keys[] = {"createRuntime", "poststop", NULL};
	bool a_null = a == NULL || ovl_json_type(a) == OVL_JSON_NULL;
	if (strcmp(k, "annotations") == 0)
		check_object(a_null ? NULL : a, b, ann_keys, ann_member);
	else if (strcmp(k, "hooks") == 0)
		check_object(a_null ? NULL : a, b, hook_keys, hooks_member);
	else if (strcmp(k, "process") == 0 && ovl_json_type(a) == OVL_JSON_OBJECT)
		check_object(a, b, (const char *const[]){NULL}, process_member);
	else
		check(same(a, b), "a field no edit names changed");
}

static char *rewrite(const uint8_t *data, size_t size, size_t n, size_t *len, bool *ok)
{
	ovl_error_t err = NULL;
	char *out = NULL;
	int r = ovl_json_rewrite((const char *)data, size, edits, n, &out, len, &err);
	fuzz_check_error(r, &err);
	*ok = r == 0;
	check(*ok == (out != NULL), "output without success or success without output");
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ovl_error_t err = NULL;
	ovl_json *t = ovl_json_parse((const char *)data, size, &err);
	fuzz_check_error(t ? 0 : -1, &err);
	int d = t ? depth(t) : 0;
	bool near_limit = d >= 90 && d <= 100; /* the limit counts created containers too */

	size_t len;
	bool ok;
	char *out = rewrite(data, size, 0, &len, &ok);
	if (!near_limit)
		check(ok == (t != NULL && d < 90),
		      "the plain rewrite succeeds for any shallow JSON");
	if (ok) {
		ovl_json *t0 = parse_text(out, len);
		check(same(t, t0), "the plain rewrite changed the document");
		ovl_json_free(t0);
	}
	free(out);

	out = rewrite(data, size, sizeof(edits) / sizeof(edits[0]), &len, &ok);
	if (!near_limit)
		check(ok == (t != NULL && d < 90 && editable(t)),
		      "the edited rewrite succeeds exactly for editable documents");
	if (ok) {
		static const char *const root_keys[] = {"annotations", "hooks", NULL};
		ovl_json *t1 = parse_text(out, len);
		check_object(t, t1, root_keys, root_member);
		ovl_json_free(t1);
	}
	free(out);
	ovl_json_free(t);
	return 0;
}
