/* Who keeps a container's overlay busy (include/ovlbox/holders.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/holders.h"

static const char *const hold_names[] = {"cwd", "fd", "map", "mount"};

const char *ovl_hold_name(enum ovl_hold h)
{
	return hold_names[h];
}

void ovl_holders_free(struct ovl_holders *h)
{
	free(h->v);
	memset(h, 0, sizeof(*h));
}

/* ---- reading /proc ---- */

/* Reads all of proc_fd/path into a malloc'ed NUL-terminated buffer. NULL with errno set. */
static char *read_proc(int proc_fd, const char *path, size_t *len_out)
{
	cleanup_close int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len + 1 == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(buf);
			errno = e;
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

/* The inode of namespace name of pid ("pid:[4026531836]"), 0 if the process is gone or may not
 * be inspected. */
static uint64_t ns_ino(int proc_fd, int64_t pid, const char *name)
{
	char path[64], link[64];
	snprintf(path, sizeof(path), "%" PRId64 "/ns/%s", pid, name);
	ssize_t n = readlinkat(proc_fd, path, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	const char *open = strchr(link, '[');
	return open ? strtoull(open + 1, NULL, 10) : 0;
}

/* Field 22 of PID/stat; 0 if it cannot be read. */
static uint64_t starttime_of(int proc_fd, int64_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "%" PRId64 "/stat", pid);
	cleanup_close int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

static void comm_of(int proc_fd, int64_t pid, char *out, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "%" PRId64 "/comm", pid);
	cleanup_close int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, out, size - 1) : -1;
	if (n < 0)
		n = 0;
	if (n > 0 && out[n - 1] == '\n')
		n--;
	out[n] = '\0';
}

/* ---- the container's processes ---- */

struct container {
	int proc_fd;
	int64_t init;
	uint64_t pidns, mntns; /* init's */
	uint64_t own_pidns;    /* the caller's */
	bool shared_pidns;     /* init's pid namespace is the caller's own */
};

static int container_of(int proc_fd, int64_t init, struct container *c, ovl_error_t *err)
{
	c->proc_fd = proc_fd;
	c->init = init;
	c->pidns = ns_ino(proc_fd, init, "pid");
	c->mntns = ns_ino(proc_fd, init, "mnt");
	if (c->pidns == 0 || c->mntns == 0)
		return ovl_error(err, errno, "read the namespaces of process %" PRId64, init);
	c->own_pidns = ns_ino(proc_fd, getpid(), "pid");
	c->shared_pidns = c->own_pidns == c->pidns;
	return 0;
}

/* Whether pid namespace file fd (of a process) lies beneath the pid namespace inode want. */
static bool pidns_beneath(int fd, uint64_t want)
{
	cleanup_close int cur = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	for (int depth = 0; cur >= 0 && depth < 33; depth++) {
		int parent = ioctl(cur, NS_GET_PARENT);
		if (parent < 0)
			return false; /* the top, or outside the caller's reach */
		close(cur);
		cur = parent;
		struct stat st;
		if (fstat(cur, &st) == 0 && (uint64_t)st.st_ino == want)
			return true;
	}
	return false;
}

static bool is_member(const struct container *c, int64_t pid)
{
	if (pid == c->init)
		return true;
	if (c->shared_pidns)
		return ns_ino(c->proc_fd, pid, "mnt") == c->mntns;
	uint64_t ino = ns_ino(c->proc_fd, pid, "pid");
	if (ino == 0)
		return false;
	if (ino == c->pidns)
		return true;
	if (ino == c->own_pidns)
		return false; /* an ancestor of the container's (the caller is outside) */
	char path[64];
	snprintf(path, sizeof(path), "%" PRId64 "/ns/pid", pid);
	cleanup_close int fd = openat(c->proc_fd, path, O_RDONLY | O_CLOEXEC);
	return fd >= 0 && pidns_beneath(fd, c->pidns);
}

/* Calls fn for each of the container's processes; stops at fn's first non-zero return. */
static int for_each_member(const struct container *c,
			   int (*fn)(const struct container *, int64_t, void *), void *arg,
			   ovl_error_t *err)
{
	cleanup_dir DIR *d = ovl_opendir_dup(c->proc_fd);
	if (d == NULL)
		return ovl_error(err, errno, "read /proc");
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long long pid = strtoll(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0 || !is_member(c, pid))
			continue;
		int r = fn(c, pid, arg);
		if (r != 0)
			return r;
	}
	return 0;
}

static void add_holder(struct ovl_holders *h, const struct container *c, int64_t pid,
		       enum ovl_hold how)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 8;
		h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	struct ovl_holder *x = &h->v[h->n++];
	memset(x, 0, sizeof(*x));
	x->pid = pid;
	x->how = how;
	x->starttime = starttime_of(c->proc_fd, pid);
	comm_of(c->proc_fd, pid, x->comm, sizeof(x->comm));
}

/* ---- mountinfo ---- */

/* Undoes mountinfo's octal escapes (\040) in place. */
static void unescape(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

/* The value of option o when it is "key=VALUE", else NULL. */
static char *option_value(char *o, const char *key)
{
	size_t n = strlen(key);
	return strncmp(o, key, n) == 0 && o[n] == '=' ? o + n + 1 : NULL;
}

/* Whether the comma-separated superblock options opts (modified) name upperdir=upper and
 * workdir=work. */
static bool names_layers(char *opts, const char *upper, const char *work)
{
	bool up = false, wk = false;
	for (char *save = NULL, *o = strtok_r(opts, ",", &save); o;
	     o = strtok_r(NULL, ",", &save)) {
		char *v;
		if ((v = option_value(o, "upperdir")) != NULL) {
			unescape(v);
			up = strcmp(v, upper) == 0;
		} else if ((v = option_value(o, "workdir")) != NULL) {
			unescape(v);
			wk = strcmp(v, work) == 0;
		}
	}
	return up && wk;
}

struct mi_line {
	uint64_t id;
	dev_t dev;
	const char *fstype;
	char *superopts;
};

/* Splits one mountinfo line (modified); false if it is not well-formed. */
static bool parse_mi_line(char *line, struct mi_line *m)
{
	char *f[64];
	int n = 0;
	for (char *save = NULL, *t = strtok_r(line, " ", &save); t && n < 64;
	     t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	int sep = 6;
	while (sep < n && strcmp(f[sep], "-") != 0)
		sep++;
	unsigned maj, min;
	if (sep + 3 > n || sscanf(f[2], "%u:%u", &maj, &min) != 2)
		return false;
	m->id = strtoull(f[0], NULL, 10);
	m->dev = makedev(maj, min);
	m->fstype = f[sep + 1];
	m->superopts = sep + 3 < n ? f[sep + 3] : (char *)"";
	return true;
}

int ovl_overlay_find(int proc_fd, int64_t pid, const char *upper, const char *work,
		     struct ovl_overlay_mount *m, ovl_error_t *err)
{
	char path[64];
	snprintf(path, sizeof(path), "%" PRId64 "/mountinfo", pid);
	cleanup_free char *text = read_proc(proc_fd, path, NULL);
	if (text == NULL)
		return ovl_error(err, errno, "read /proc/%s", path);
	int found = 0;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct mi_line mi;
		if (!parse_mi_line(line, &mi) || strcmp(mi.fstype, "overlay") != 0 ||
		    !names_layers(mi.superopts, upper, work))
			continue;
		m->mnt_id = mi.id;
		m->dev = mi.dev;
		found = 1; /* later lines are mounted later: the last one is on top */
	}
	return found;
}

/* Whether the mountinfo of pid lists a mount of superblock dev. */
static bool mountinfo_has_dev(int proc_fd, int64_t pid, dev_t dev)
{
	char path[64];
	snprintf(path, sizeof(path), "%" PRId64 "/mountinfo", pid);
	cleanup_free char *text = read_proc(proc_fd, path, NULL);
	if (text == NULL)
		return false;
	char want[32];
	snprintf(want, sizeof(want), " %u:%u ", major(dev), minor(dev));
	for (char *p = text; (p = strstr(p, want)) != NULL; p++) {
		/* the third field: after the mount id and the parent id */
		const char *bol = p;
		while (bol > text && bol[-1] != '\n')
			bol--;
		int spaces = 0;
		for (const char *q = bol; q < p; q++)
			spaces += *q == ' ';
		if (spaces == 1)
			return true;
	}
	return false;
}

struct copies {
	dev_t dev;
	struct ovl_holders *h;
	uint64_t seen[64]; /* mount namespaces looked at: with a copy in held[] */
	bool held[64];
	size_t nseen;
};

static int copy_holder(const struct container *c, int64_t pid, void *arg)
{
	struct copies *cp = arg;
	uint64_t mnt = ns_ino(c->proc_fd, pid, "mnt");
	if (mnt == 0 || mnt == c->mntns)
		return 0;
	size_t i;
	for (i = 0; i < cp->nseen && cp->seen[i] != mnt; i++)
		;
	if (i == cp->nseen) {
		if (cp->nseen == sizeof(cp->seen) / sizeof(cp->seen[0]))
			i = cp->nseen - 1; /* past that many, each is read again */
		else
			cp->nseen++;
		cp->seen[i] = mnt;
		cp->held[i] = mountinfo_has_dev(c->proc_fd, pid, cp->dev);
	}
	if (cp->held[i])
		add_holder(cp->h, c, pid, OVL_HOLD_MOUNT);
	return 0;
}

int ovl_holders_copies(int proc_fd, int64_t init, dev_t dev, struct ovl_holders *h,
		       ovl_error_t *err)
{
	struct container c;
	if (container_of(proc_fd, init, &c, err) < 0)
		return -1;
	struct copies cp = {.dev = dev, .h = h};
	return for_each_member(&c, copy_holder, &cp, err);
}

/* ---- cwd, root, files, mappings ---- */

static bool on_mount(int dirfd, const char *name, uint64_t mnt_id)
{
	struct statx stx;
	return statx(dirfd, name, 0, STATX_MNT_ID, &stx) == 0 && (stx.stx_mask & STATX_MNT_ID) &&
	       stx.stx_mnt_id == mnt_id;
}

/* Whether any entry of dir PID/sub (fd or map_files) is on the mount. */
static bool any_entry_on(int proc_fd, int64_t pid, const char *sub, uint64_t mnt_id)
{
	char path[64];
	snprintf(path, sizeof(path), "%" PRId64 "/%s", pid, sub);
	cleanup_close int dfd = openat(proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_dir DIR *d = dfd >= 0 ? ovl_opendir_dup(dfd) : NULL;
	if (d == NULL)
		return false;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && on_mount(dfd, de->d_name, mnt_id))
			return true;
	return false;
}

struct held_by {
	uint64_t mnt_id;
	struct ovl_holders *h;
};

static int file_holder(const struct container *c, int64_t pid, void *arg)
{
	const struct held_by *hb = arg;
	char cwd[64], root[64], exe[64];
	snprintf(cwd, sizeof(cwd), "%" PRId64 "/cwd", pid);
	snprintf(root, sizeof(root), "%" PRId64 "/root", pid);
	snprintf(exe, sizeof(exe), "%" PRId64 "/exe", pid);
	if (on_mount(c->proc_fd, cwd, hb->mnt_id) || on_mount(c->proc_fd, root, hb->mnt_id))
		add_holder(hb->h, c, pid, OVL_HOLD_CWD);
	else if (any_entry_on(c->proc_fd, pid, "fd", hb->mnt_id))
		add_holder(hb->h, c, pid, OVL_HOLD_FD);
	else if (on_mount(c->proc_fd, exe, hb->mnt_id) ||
		 any_entry_on(c->proc_fd, pid, "map_files", hb->mnt_id))
		add_holder(hb->h, c, pid, OVL_HOLD_MAP);
	return 0;
}

int ovl_holders_find(int proc_fd, int64_t init, uint64_t mnt_id, struct ovl_holders *h,
		     ovl_error_t *err)
{
	struct container c;
	if (container_of(proc_fd, init, &c, err) < 0)
		return -1;
	struct held_by hb = {.mnt_id = mnt_id, .h = h};
	return for_each_member(&c, file_holder, &hb, err);
}

/* ---- killing ---- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls the pidfds until each has exited or the deadline passes. 0, or 1 at the deadline. */
static int wait_exited(struct pollfd *p, size_t n, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		size_t left = 0;
		for (size_t i = 0; i < n; i++)
			left += p[i].fd >= 0;
		if (left == 0)
			return 0;
		long long wait = deadline - now_ms();
		if (wait <= 0)
			return 1;
		int r = poll(p, n, (int)wait);
		if (r < 0 && errno != EINTR)
			return 1;
		for (size_t i = 0; r > 0 && i < n; i++)
			if (p[i].fd >= 0 && p[i].revents) {
				close(p[i].fd);
				p[i].fd = -1; /* poll skips negative fds */
			}
	}
}

int ovl_holders_kill(int proc_fd, const struct ovl_holders *h, int timeout_ms, ovl_error_t *err)
{
	struct pollfd *p = xcalloc(h->n ? h->n : 1, sizeof(*p));
	for (size_t i = 0; i < h->n; i++)
		p[i] = (struct pollfd){.fd = -1, .events = POLLIN};
	int r = 0;
	for (size_t i = 0; i < h->n; i++) {
		int fd = pidfd_open((pid_t)h->v[i].pid, 0);
		if (fd < 0 && errno == ESRCH)
			continue;
		if (fd < 0) {
			r = ovl_error(err, errno, "pidfd_open %" PRId64, h->v[i].pid);
			break;
		}
		/* the pidfd pins the process: if it is still the one found, it is the holder */
		if (starttime_of(proc_fd, h->v[i].pid) != h->v[i].starttime) {
			close(fd);
			continue;
		}
		p[i].fd = fd;
		if (pidfd_send_signal(fd, SIGKILL, NULL, 0) < 0 && errno != ESRCH) {
			r = ovl_error(err, errno, "kill pid %" PRId64, h->v[i].pid);
			break;
		}
	}
	if (r == 0)
		r = wait_exited(p, h->n, timeout_ms);
	for (size_t i = 0; i < h->n; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	free(p);
	return r;
}
