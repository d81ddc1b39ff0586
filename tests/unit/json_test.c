/* Unit tests of lib/json.c's parser: the tree built from yajl's callbacks (every type, nesting,
 * number flags as yajl_tree_parse sets them), parsing that stores only some top-level members
 * (the others checked but dropped, however deeply nested), and errors (a syntax error inside a
 * dropped member, a NUL byte, too large) freeing what was built so far (the sanitizer build
 * reports any leak). Prints each failure; exit 0 only when every check passed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovlbox/cleanup.h"
#include "ovlbox/json.h"
#include "check.h"

#define cleanup_json __attribute__((cleanup(json_freep)))
static void json_freep(ovl_json **j)
{
	ovl_json_free(*j);
}

/* A pipe holding text, for the _fd parsers. */
static int text_fd(const char *text)
{
	int p[2];
	if (pipe(p) < 0) {
		printf("FAIL pipe: %s\n", strerror(errno));
		exit(1);
	}
	size_t len = strlen(text);
	if (write(p[1], text, len) != (ssize_t)len) {
		printf("FAIL write: %s\n", strerror(errno));
		exit(1);
	}
	close(p[1]);
	return p[0];
}

static const char doc[] =
    "{\"ociVersion\": \"1.0.2\", /* comment */\n"
    " \"process\": {\"args\": [\"sh\", \"-c\", \"x\"], \"env\": [], \"user\": {\"uid\": 0},\n"
    "             \"deep\": [[[{\"a\": [1, {\"b\": null}]}]]], \"ok\": true},\n"
    " \"root\": {\"path\": \"rootfs\", \"readonly\": false},\n"
    " \"mounts\": [{\"destination\": \"/w\", \"type\": \"bind\", \"source\": \"/s\",\n"
    "              \"options\": [\"rbind\"]}, {\"destination\": \"/proc\"}],\n"
    " \"n\": [5, -3, 5.0, 1e3, 99999999999999999999, 9223372036854775807],\n"
    " \"linux\": {\"seccomp\": {\"syscalls\": [{\"names\": [\"a\", \"b\"], \"args\": []}]}},\n"
    " \"annotations\": {\"k\": \"v\", \"e\": \"\"}}";

static void check_full_tree(void)
{
	cleanup_error ovl_error_t err = NULL;
	cleanup_json ovl_json *j = ovl_json_parse(doc, strlen(doc), &err);
	CHECK(j != NULL, "parse: %s", err ? err->msg : "?");
	if (j == NULL)
		return;
	CHECK(ovl_json_type(j) == OVL_JSON_OBJECT && ovl_json_len(j) == 7, "root: 7 members");
	CHECK(strcmp(ovl_json_key_at(j, 1), "process") == 0, "member order kept");
	const ovl_json *deep = ovl_json_get(ovl_json_get(j, "process"), "deep");
	for (int i = 0; i < 3; i++)
		deep = ovl_json_at(deep, 0);
	const ovl_json *a = ovl_json_get(deep, "a");
	CHECK(ovl_json_len(a) == 2 &&
		  ovl_json_type(ovl_json_get(ovl_json_at(a, 1), "b")) == OVL_JSON_NULL,
	      "nested arrays and objects");
	bool b = false;
	CHECK(ovl_json_bool(ovl_json_get(ovl_json_get(j, "process"), "ok"), "ok", &b, &err) == 0 &&
		  b,
	      "true");
	const ovl_json *n = ovl_json_get(j, "n");
	int64_t v = 0;
	CHECK(ovl_json_int64(ovl_json_at(n, 0), "n", &v, &err) == 0 && v == 5, "5");
	CHECK(ovl_json_int64(ovl_json_at(n, 1), "n", &v, &err) == 0 && v == -3, "-3");
	CHECK(ovl_json_int64(ovl_json_at(n, 5), "n", &v, &err) == 0 && v == INT64_MAX, "INT64_MAX");
	const char *want[] = {"expected an integer, got 5.0", "expected an integer, got 1e3",
			      "expected an integer, got 99999999999999999999"};
	for (int i = 0; i < 3; i++) {
		ovl_error_free(&err);
		CHECK(ovl_json_int64(ovl_json_at(n, (size_t)i + 2), "n", &v, &err) < 0 && err &&
			  strcmp(err->msg + 3, want[i]) == 0,
		      "%s: got %s", want[i], err ? err->msg : "no error");
	}
	ovl_error_free(&err);
	uint64_t u = 0;
	CHECK(ovl_json_uint64(ovl_json_at(n, 4), "n", &u, &err) < 0 && err &&
		  strcmp(err->msg, "n: integer out of range: 99999999999999999999") == 0,
	      "uint64 out of range: %s", err ? err->msg : "no error");
}

static void check_members_only(void)
{
	static const char *const keep[] = {"root", "mounts", "annotations", NULL};
	cleanup_error ovl_error_t err = NULL;
	cleanup_close int fd = text_fd(doc);
	cleanup_json ovl_json *j = ovl_json_parse_fd_members(fd, 1 << 20, "doc", keep, &err);
	CHECK(j != NULL, "parse members: %s", err ? err->msg : "?");
	if (j == NULL)
		return;
	CHECK(ovl_json_len(j) == 3, "3 members kept, got %zu", ovl_json_len(j));
	CHECK(strcmp(ovl_json_key_at(j, 0), "root") == 0 &&
		  strcmp(ovl_json_key_at(j, 1), "mounts") == 0 &&
		  strcmp(ovl_json_key_at(j, 2), "annotations") == 0,
	      "the kept members, in order");
	CHECK(ovl_json_get(j, "process") == NULL && ovl_json_get(j, "linux") == NULL &&
		  ovl_json_get(j, "n") == NULL && ovl_json_get(j, "ociVersion") == NULL,
	      "the others dropped");
	const char *s = NULL;
	const ovl_json *m = ovl_json_at(ovl_json_get(j, "mounts"), 0);
	CHECK(ovl_json_get_string(m, "source", &s, &err) == 1 && strcmp(s, "/s") == 0,
	      "mounts[0].source");
	CHECK(ovl_json_len(ovl_json_get(m, "options")) == 1, "mounts[0].options");
	CHECK(ovl_json_get_string(ovl_json_get(j, "annotations"), "e", &s, &err) == 1 &&
		  s[0] == '\0',
	      "empty string annotation");

	/* A root that is not an object has no members to drop: kept whole. */
	static const char *const none[] = {NULL};
	cleanup_close int afd = text_fd("[1, {\"x\": 2}]");
	cleanup_json ovl_json *arr = ovl_json_parse_fd_members(afd, 1 << 20, "arr", none, &err);
	CHECK(arr != NULL && ovl_json_len(arr) == 2, "array root kept");
}

static void check_error(const char *text, const char *const *keep, const char *want)
{
	cleanup_error ovl_error_t err = NULL;
	cleanup_close int fd = text_fd(text);
	cleanup_json ovl_json *j = ovl_json_parse_fd_members(fd, 64, "in", keep, &err);
	CHECK(j == NULL && err && strncmp(err->msg, want, strlen(want)) == 0,
	      "%s: want \"%s...\", got %s", text, want, err ? err->msg : "no error");
}

/* The writer keeps the first failing generator status, makes no call after it, and says so at
 * the end. */
static void check_writer_failure(void (*build)(ovl_jw *), const char *want)
{
	cleanup_error ovl_error_t err = NULL;
	ovl_jw *w = ovl_jw_new(false);
	build(w);
	const char *text = ovl_jw_text(w, NULL, &err);
	CHECK(text == NULL && err && !strcmp(err->msg, want), "writer: want [%s], got [%s]", want,
	      err ? err->msg : text);
	ovl_jw_free(w);
}

static void value_as_key(ovl_jw *w)
{
	ovl_jw_object_open(w);
	ovl_jw_int(w, 1);
	ovl_jw_string(w, "x");
	ovl_jw_object_close(w);
}

static void left_open(ovl_jw *w)
{
	ovl_jw_array_open(w);
	ovl_jw_object_open(w);
}

static void too_deep(ovl_jw *w)
{
	for (int i = 0; i < 200; i++)
		ovl_jw_array_open(w);
	for (int i = 0; i < 200; i++)
		ovl_jw_array_close(w);
}

static void check_writer(void)
{
	cleanup_error ovl_error_t err = NULL;
	ovl_jw *w = ovl_jw_new(false);
	ovl_jw_object_open(w);
	ovl_jw_key(w, "k\xff");
	ovl_jw_string(w, NULL);
	ovl_jw_object_close(w);
	size_t len = 0;
	const char *text = ovl_jw_text(w, &len, &err);
	CHECK(text && !strcmp(text, "{\"k\\\\xff\":null}") && len == strlen(text), "writer: %s",
	      text ? text : err->msg);
	ovl_jw_free(w);
	check_writer_failure(value_as_key, "write JSON: a key that is not a string");
	check_writer_failure(left_open, "write JSON: 2 arrays or objects left open");
	check_writer_failure(too_deep, "write JSON: nested too deep");
}

int main(void)
{
	check_writer();
	check_full_tree();
	check_members_only();
	static const char *const keep[] = {"a", NULL};
	/* Syntax errors are found in dropped members too; what was built is freed. */
	check_error("{\"a\": [1, {\"b\": 2}], \"z\": [1, }", keep,
		    "in: invalid JSON: parse error: unallowed token");
	check_error("{\"a\": {\"b\": [1, 2", keep, "in: invalid JSON: parse error: premature EOF");
	check_error("{\"a\": {\"b\": [1, 2", NULL, "in: invalid JSON: parse error: premature EOF");
	check_error("{\"z\": {\"y\": tru}}", keep, "in: invalid JSON: lexical error");
	check_error("{\"a\": \"x\"} 5", keep, "in: invalid JSON: parse error: trailing garbage");
	check_error("", keep, "in: invalid JSON: parse error: premature EOF");
	check_error("{\"a\": \"0123456789012345678901234567890123456789012345678901234567890\"}",
		    keep, "in: larger than 64 bytes");
	cleanup_error ovl_error_t err = NULL;
	ovl_json *j = ovl_json_parse("{\"a\": \"x\0y\"}", 12, &err);
	CHECK(j == NULL && err && strcmp(err->msg, "invalid JSON: contains a NUL byte") == 0,
	      "NUL byte: %s", err ? err->msg : "no error");
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
