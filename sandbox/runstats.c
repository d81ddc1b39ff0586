/* ovlbox run --stats: the file's path checked before the run, its JSON object written after. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/json.h"
#include "ovlbox/stats.h"
#include "runstats.h"

int run_check_stats_path(const char *path, ovl_error_t *err)
{
	/* access(), not open(): a FIFO such as /dev/fd/N would block an open until its reader
	 * came, and nothing may change on disk before the run. */
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return ovl_error(err, EISDIR, "--stats %s", ovl_qp(path));
	if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0)
		return 0;
	if (errno != ENOENT)
		return ovl_error(err, errno, "--stats %s", ovl_qp(path));
	cleanup_free char *copy = xstrdup(path);
	const char *dir = dirname(copy);
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0)
		return ovl_error(err, errno, "--stats %s: directory %s", ovl_qp(path), ovl_qp(dir));
	return 0;
}

static long long tv_ms(struct timeval tv)
{
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* "SIGNAME" of the signal that killed the action, or JSON null. */
static void put_signal(ovl_jw *w, const struct run_result *res)
{
	if (res->exec_errno || !WIFSIGNALED(res->wait_status)) {
		ovl_jw_null(w);
		return;
	}
	char name[32];
	const char *abbrev = sigabbrev_np(WTERMSIG(res->wait_status));
	snprintf(name, sizeof(name), "SIG%s", abbrev ? abbrev : "UNKNOWN");
	ovl_jw_string(w, name);
}

static void put_stats(ovl_jw *w, const struct run_result *res, int status)
{
	ovl_jw_object_open(w);
	ovl_jw_key(w, "exit_code");
	ovl_jw_int(w, status);
	ovl_jw_key(w, "signal");
	put_signal(w, res);
	ovl_jw_key(w, "timed_out");
	ovl_jw_bool(w, res->timed_out);
	ovl_jw_key(w, "wall_ms");
	ovl_jw_int(w, (long long)(res->wall_ms + 0.5));
	ovl_jw_key(w, "user_ms");
	ovl_jw_int(w, tv_ms(res->usage.ru_utime));
	ovl_jw_key(w, "sys_ms");
	ovl_jw_int(w, tv_ms(res->usage.ru_stime));
	ovl_jw_key(w, "max_rss_kb");
	ovl_jw_int(w, res->usage.ru_maxrss);
	ovl_stats_changes(w, &res->changes, res->applied);
	ovl_jw_key(w, "unmapped_owners");
	if (res->unmapped_owners >= 0)
		ovl_jw_int(w, res->unmapped_owners);
	else
		ovl_jw_null(w);
	ovl_jw_object_close(w);
}

/* text and a newline into path, in place (it may be a FIFO the caller reads: no temporary name
 * and rename); -1 with errno. */
static int write_line(const char *path, const char *text, size_t len)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ovl_write_all(fd, text, len) < 0 || ovl_write_all(fd, "\n", 1) < 0)
		return -1;
	return 0;
}

int run_write_stats(const char *path, const struct run_result *res, int status, ovl_error_t *err)
{
	ovl_jw *w = ovl_jw_new(true);
	put_stats(w, res, status);
	size_t len;
	const char *text = ovl_jw_text(w, &len, err);
	int r = 0;
	if (text == NULL)
		r = ovl_error_wrap(err, "--stats %s", ovl_qp(path));
	else if (write_line(path, text, len) < 0)
		r = ovl_error(err, errno, "--stats %s", ovl_qp(path));
	ovl_jw_free(w);
	return r;
}
