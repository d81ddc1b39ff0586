/* randfs: seeded random trees and random changes to them, for the randomized differential test
 * of apply (tests/core_random.bats): the view an action leaves in the overlay must be what the
 * workspace holds after apply, whatever the action did.
 *
 *   randfs tree SEED DIR CACHE N   adds N random entries under DIR (files, some of them hardlinks
 *                                  to new files in CACHE, dirs, symlinks, fifos, hardlinks), with
 *                                  random modes, user.* xattrs and times
 *   randfs ops SEED DIR N [--root] makes N random changes under DIR: write, append, overwrite,
 *                                  truncate, chmod, utimes, user.* xattrs, mkdir, rm -r, rename
 *                                  (over files and empty dirs; a dir the overlay will not
 *                                  rename is moved like mv does: copied, then removed),
 *                                  exchange, hardlink, symlink, fifo, file <-> dir, a dir removed
 *                                  and made again; --root adds chown and trusted.* xattrs
 *
 * The same SEED on the same tree gives the same changes: each step lists the tree afresh,
 * sorted bytewise, and draws from a xorshift generator. Names come from a small pool (with a
 * space, a newline and non-UTF-8 bytes among them) so that changes collide with entries that
 * exist. A change the filesystem refuses (EXDEV, ENOTEMPTY, EINVAL, ...) is skipped; every
 * step is printed on stderr with its result. Exit status 0, or 1 if the tree cannot be
 * listed. Uses only libc; paths are relative to DIR, the last component never followed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* Uniform enough in [0, n). */
static unsigned pick(unsigned n)
{
	return n ? (unsigned)(rnd() % n) : 0;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "randfs: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p) {
		fputs("randfs: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

static char *join(const char *dir, const char *name)
{
	if (strcmp(dir, ".") == 0)
		return strdup(name);
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* ---- the tree as it is now ---- */

struct entry {
	char *path; /* "." for the root */
	mode_t type;
	unsigned depth;
};

static struct entry *ents;
static size_t n_ents, cap_ents;

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static void add_entry(char *path, mode_t type, unsigned depth)
{
	if (n_ents == cap_ents) {
		cap_ents = cap_ents ? cap_ents * 2 : 256;
		ents = realloc(ents, cap_ents * sizeof(*ents));
		if (!ents)
			die("list", path);
	}
	ents[n_ents++] = (struct entry){path, type, depth};
}

static void list_dir(const char *dir, unsigned depth)
{
	DIR *d = opendir(dir);
	if (!d)
		die("open dir", dir);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *p = join(dir, de->d_name);
		struct stat st;
		if (fstatat(AT_FDCWD, p, &st, AT_SYMLINK_NOFOLLOW) < 0)
			die("stat", p);
		add_entry(p, st.st_mode & S_IFMT, depth + 1);
		if (S_ISDIR(st.st_mode))
			list_dir(p, depth + 1);
	}
	closedir(d);
}

static void relist(void)
{
	for (size_t i = 0; i < n_ents; i++)
		free(ents[i].path);
	n_ents = 0;
	add_entry(strdup("."), S_IFDIR, 0);
	list_dir(".", 0);
	qsort(ents, n_ents, sizeof(*ents), by_path);
}

/* A random entry that satisfies want (NULL: any), or NULL. */
static const struct entry *pick_entry(bool (*want)(const struct entry *))
{
	size_t n = 0;
	for (size_t i = 0; i < n_ents; i++)
		n += !want || want(&ents[i]);
	if (n == 0)
		return NULL;
	size_t k = pick((unsigned)n);
	for (size_t i = 0; i < n_ents; i++)
		if ((!want || want(&ents[i])) && k-- == 0)
			return &ents[i];
	return NULL;
}

static bool is_root(const struct entry *e)
{
	return strcmp(e->path, ".") == 0;
}
static bool is_shallow_dir(const struct entry *e)
{
	return e->type == S_IFDIR && e->depth < 4;
}
static bool is_sub_dir(const struct entry *e)
{
	return e->type == S_IFDIR && !is_root(e);
}
static bool is_file(const struct entry *e)
{
	return e->type == S_IFREG;
}
static bool is_not_root(const struct entry *e)
{
	return !is_root(e);
}
static bool is_not_link(const struct entry *e)
{
	return e->type != S_IFLNK;
}
static bool is_file_or_dir(const struct entry *e)
{
	return e->type == S_IFREG || e->type == S_IFDIR;
}

/* Whether b is a or lies under it. */
static bool under(const char *b, const char *a)
{
	if (strcmp(a, ".") == 0)
		return true;
	size_t n = strlen(a);
	return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

/* ---- random values ---- */

static const char *const names[] = {
    "a", "b", "c", "d", "e", "f", "g", "h", "x.y", ".hid", "sp ace", "nl\nx", "\xff\xfe", "a,b:c",
};

static const char *rand_name(void)
{
	return names[pick(sizeof(names) / sizeof(names[0]))];
}

static mode_t rand_file_mode(void)
{
	static const mode_t m[] = {0644, 0600, 0755, 0444, 0640, 0700, 0666, 0400};
	return m[pick(sizeof(m) / sizeof(m[0]))];
}

static mode_t rand_dir_mode(void)
{
	static const mode_t m[] = {0755, 0700, 0750, 0555, 0775, 0711};
	return m[pick(sizeof(m) / sizeof(m[0]))];
}

static struct timespec rand_time(void)
{
	/* 2001..2030, with and without nanoseconds */
	struct timespec t = {.tv_sec = 978307200 + (time_t)pick(946080000u), .tv_nsec = 0};
	if (pick(2))
		t.tv_nsec = (long)pick(1000000000u);
	return t;
}

/* Random bytes, sometimes none, sometimes more than a page or two. */
static size_t rand_data(char *buf, size_t cap)
{
	size_t n;
	switch (pick(6)) {
	case 0:
		n = 0;
		break;
	case 1:
		n = 4096 + pick(70000);
		break;
	default:
		n = 1 + pick(200);
	}
	if (n > cap)
		n = cap;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(pick(4) ? 'a' + pick(26) : pick(256));
	return n;
}

static char data[80000];

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int write_new(const char *path, mode_t mode)
{
	int fd = openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	int r = write_all(fd, data, rand_data(data, sizeof(data)));
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

static int set_rand_xattr(const char *path, const char *ns)
{
	char name[32], val[64];
	snprintf(name, sizeof(name), "%s.r%u", ns, pick(4));
	size_t n = pick(3) ? 1 + pick(40) : 0;
	for (size_t i = 0; i < n; i++)
		val[i] = (char)('A' + pick(26));
	return lsetxattr(path, name, val, n, 0);
}

static int set_rand_times(const char *path)
{
	struct timespec ts[2] = {rand_time(), rand_time()};
	return utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

/* ---- removal and copying (what rm -r and mv do) ---- */

static int remove_tree(const char *path)
{
	struct stat st;
	if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(AT_FDCWD, path, 0);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *de;
	char **kids = NULL;
	size_t n = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		kids = realloc(kids, (n + 1) * sizeof(*kids));
		kids[n++] = join(path, de->d_name);
	}
	closedir(d);
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		if (r == 0 && remove_tree(kids[i]) < 0)
			r = -1;
		free(kids[i]);
	}
	free(kids);
	return r < 0 ? -1 : unlinkat(AT_FDCWD, path, AT_REMOVEDIR);
}

static int copy_xattrs(const char *from, const char *to)
{
	char list[4096], val[4096];
	ssize_t n = llistxattr(from, list, sizeof(list));
	if (n < 0)
		return -1;
	for (char *k = list; k < list + n; k += strlen(k) + 1) {
		ssize_t v = lgetxattr(from, k, val, sizeof(val));
		if (v < 0 || lsetxattr(to, k, val, (size_t)v, 0) < 0)
			return -1;
	}
	return 0;
}

/* cp -a of one tree (content, mode, owner, times, xattrs; hardlinks within it not kept). */
static int copy_tree(const char *from, const char *to)
{
	struct stat st;
	if (fstatat(AT_FDCWD, from, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		if (mkdirat(AT_FDCWD, to, 0700) < 0)
			return -1;
		DIR *d = opendir(from);
		if (!d)
			return -1;
		struct dirent *de;
		int r = 0;
		while (r == 0 && (de = readdir(d))) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			char *a = join(from, de->d_name), *b = join(to, de->d_name);
			r = copy_tree(a, b);
			free(a);
			free(b);
		}
		closedir(d);
		if (r < 0)
			return -1;
	} else if (S_ISREG(st.st_mode)) {
		int in = openat(AT_FDCWD, from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (in < 0)
			return -1;
		int out = openat(AT_FDCWD, to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (out < 0) {
			close(in);
			return -1;
		}
		ssize_t n;
		int r = 0;
		while ((n = read(in, data, sizeof(data))) > 0)
			if (write_all(out, data, (size_t)n) < 0)
				r = -1;
		if (n < 0)
			r = -1;
		close(in);
		close(out);
		if (r < 0)
			return -1;
	} else if (S_ISLNK(st.st_mode)) {
		char t[4096];
		ssize_t n = readlinkat(AT_FDCWD, from, t, sizeof(t) - 1);
		if (n < 0)
			return -1;
		t[n] = '\0';
		if (symlinkat(t, AT_FDCWD, to) < 0)
			return -1;
	} else if (S_ISFIFO(st.st_mode)) {
		if (mknodat(AT_FDCWD, to, S_IFIFO | 0600, 0) < 0)
			return -1;
	} else {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (copy_xattrs(from, to) < 0 ||
	    fchownat(AT_FDCWD, to, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (!S_ISLNK(st.st_mode) && fchmodat(AT_FDCWD, to, st.st_mode & 07777, 0) < 0)
		return -1;
	struct timespec ts[2] = {st.st_atim, st.st_mtim};
	return utimensat(AT_FDCWD, to, ts, AT_SYMLINK_NOFOLLOW);
}

/* ---- the changes ---- */

static bool as_root;

/* Each returns 0, or -1 with errno set (the step is then reported as refused), or 1 when the
 * tree offers nothing to do it on. desc gets what was done. */
typedef int (*op_fn)(char *desc, size_t n);

static char *new_name_in(const struct entry *dir)
{
	return join(dir->path, rand_name());
}

static int op_new_file(char *desc, size_t n)
{
	char *p = new_name_in(pick_entry(is_shallow_dir));
	snprintf(desc, n, "new file %s", p);
	int r = write_new(p, rand_file_mode());
	free(p);
	return r;
}

static int op_write(char *desc, size_t n)
{
	const struct entry *e = pick_entry(is_file);
	if (!e)
		return 1;
	static const int how[] = {O_APPEND, O_TRUNC, 0};
	int h = how[pick(3)];
	snprintf(desc, n, "%s %s",
		 h == O_APPEND ? "append to"
		 : h	       ? "overwrite"
			       : "write into",
		 e->path);
	int fd = openat(AT_FDCWD, e->path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | h);
	if (fd < 0)
		return -1;
	if (h == 0 && lseek(fd, (off_t)pick(300), SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	int r = write_all(fd, data, rand_data(data, sizeof(data)));
	close(fd);
	return r;
}

static int op_truncate(char *desc, size_t n)
{
	const struct entry *e = pick_entry(is_file);
	if (!e)
		return 1;
	off_t len = (off_t)pick(100);
	snprintf(desc, n, "truncate %s to %lld", e->path, (long long)len);
	int fd = openat(AT_FDCWD, e->path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = ftruncate(fd, len);
	close(fd);
	return r;
}

static int op_chmod(char *desc, size_t n)
{
	const struct entry *e = pick_entry(is_not_link);
	mode_t m = e->type == S_IFDIR ? rand_dir_mode() : rand_file_mode();
	snprintf(desc, n, "chmod %o %s", (unsigned)m, e->path);
	return fchmodat(AT_FDCWD, e->path, m, 0);
}

static int op_utimes(char *desc, size_t n)
{
	const struct entry *e = pick_entry(NULL);
	snprintf(desc, n, "utimes %s", e->path);
	return set_rand_times(e->path);
}

static int op_setxattr(char *desc, size_t n)
{
	const struct entry *e = pick_entry(is_file_or_dir);
	const char *ns = as_root && pick(3) == 0 ? "trusted" : "user";
	snprintf(desc, n, "set a %s.* xattr on %s", ns, e->path);
	return set_rand_xattr(e->path, ns);
}

static int op_rmxattr(char *desc, size_t n)
{
	const struct entry *e = pick_entry(is_file_or_dir);
	char list[4096];
	ssize_t len = llistxattr(e->path, list, sizeof(list));
	if (len < 0)
		return -1;
	/* only the ones an action may have: user.*, and trusted.* as root */
	const char *cand[64];
	unsigned k = 0;
	for (char *x = list; x < list + len && k < 64; x += strlen(x) + 1)
		if (strncmp(x, "user.", 5) == 0 || (as_root && strncmp(x, "trusted.", 8) == 0 &&
						    strncmp(x, "trusted.overlay.", 16) != 0))
			cand[k++] = x;
	if (k == 0)
		return 1;
	const char *x = cand[pick(k)];
	snprintf(desc, n, "remove xattr %s of %s", x, e->path);
	return lremovexattr(e->path, x);
}

static int op_mkdir(char *desc, size_t n)
{
	char *p = new_name_in(pick_entry(is_shallow_dir));
	snprintf(desc, n, "mkdir %s", p);
	int r = mkdirat(AT_FDCWD, p, rand_dir_mode());
	free(p);
	return r;
}

static int op_remove(char *desc, size_t n)
{
	const struct entry *e = pick_entry(is_not_root);
	if (!e)
		return 1;
	snprintf(desc, n, "rm -r %s", e->path);
	return remove_tree(e->path);
}

static int op_rename(char *desc, size_t n)
{
	const struct entry *src = pick_entry(is_not_root);
	if (!src)
		return 1;
	const struct entry *dir = pick_entry(is_shallow_dir);
	if (src->type == S_IFDIR && under(dir->path, src->path))
		return 1;
	char *to = new_name_in(dir);
	snprintf(desc, n, "mv %s %s", src->path, to);
	int r = renameat(AT_FDCWD, src->path, AT_FDCWD, to);
	if (r < 0 && errno == EXDEV) {
		/* overlayfs (redirect_dir=nofollow) does not rename a dir from the lower layer:
		 * mv copies it and removes the original */
		size_t l = strlen(desc);
		snprintf(desc + l, n - l, " (copied: EXDEV)");
		struct stat st;
		if (fstatat(AT_FDCWD, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			errno = EEXIST;
		} else if ((r = copy_tree(src->path, to)) == 0) {
			r = remove_tree(src->path);
		}
	}
	free(to);
	return r;
}

static int op_exchange(char *desc, size_t n)
{
	const struct entry *a = pick_entry(is_not_root);
	const struct entry *b = pick_entry(is_not_root);
	if (!a || !b || under(a->path, b->path) || under(b->path, a->path))
		return 1;
	snprintf(desc, n, "exchange %s and %s", a->path, b->path);
	return renameat2(AT_FDCWD, a->path, AT_FDCWD, b->path, RENAME_EXCHANGE);
}

static bool is_linkable(const struct entry *e)
{
	return e->type != S_IFDIR;
}

static int op_link(char *desc, size_t n)
{
	const struct entry *src = pick_entry(is_linkable);
	if (!src)
		return 1;
	char *to = new_name_in(pick_entry(is_shallow_dir));
	snprintf(desc, n, "ln %s %s", src->path, to);
	int r = linkat(AT_FDCWD, src->path, AT_FDCWD, to, 0);
	free(to);
	return r;
}

static int op_symlink(char *desc, size_t n)
{
	const struct entry *dir = pick_entry(is_shallow_dir);
	const struct entry *t = pick_entry(NULL);
	const char *target = pick(3) ? t->path : pick(2) ? "../nowhere" : "/etc/passwd";
	char *p = new_name_in(dir);
	snprintf(desc, n, "ln -s %s %s", target, p);
	int r = symlinkat(target, AT_FDCWD, p);
	free(p);
	return r;
}

static int op_fifo(char *desc, size_t n)
{
	char *p = new_name_in(pick_entry(is_shallow_dir));
	snprintf(desc, n, "mkfifo %s", p);
	int r = mknodat(AT_FDCWD, p, S_IFIFO | rand_file_mode(), 0);
	free(p);
	return r;
}

static int op_file_to_dir(char *desc, size_t n)
{
	const struct entry *e = pick_entry(is_linkable);
	if (!e)
		return 1;
	snprintf(desc, n, "replace %s with a dir", e->path);
	if (unlinkat(AT_FDCWD, e->path, 0) < 0 || mkdirat(AT_FDCWD, e->path, rand_dir_mode()) < 0)
		return -1;
	char *p = join(e->path, rand_name());
	int r = write_new(p, rand_file_mode());
	free(p);
	return r;
}

static int op_dir_to_file(char *desc, size_t n)
{
	const struct entry *e = pick_entry(is_sub_dir);
	if (!e)
		return 1;
	snprintf(desc, n, "replace dir %s with a file", e->path);
	if (remove_tree(e->path) < 0)
		return -1;
	return write_new(e->path, rand_file_mode());
}

static int op_remake_dir(char *desc, size_t n)
{
	const struct entry *e = pick_entry(is_sub_dir);
	if (!e)
		return 1;
	snprintf(desc, n, "rm -r and mkdir %s", e->path);
	if (remove_tree(e->path) < 0 || mkdirat(AT_FDCWD, e->path, rand_dir_mode()) < 0)
		return -1;
	if (pick(2) == 0)
		return 0;
	char *p = join(e->path, rand_name());
	int r = write_new(p, rand_file_mode());
	free(p);
	return r;
}

static int op_chown(char *desc, size_t n)
{
	if (!as_root)
		return 1;
	static const unsigned ids[] = {0, 1000, 4242, 65534};
	const struct entry *e = pick_entry(NULL);
	unsigned u = ids[pick(4)], g = ids[pick(4)];
	snprintf(desc, n, "chown %u:%u %s", u, g, e->path);
	return fchownat(AT_FDCWD, e->path, u, g, AT_SYMLINK_NOFOLLOW);
}

struct op {
	op_fn fn;
	unsigned weight;
};

static const struct op ops[] = {
    {op_new_file, 10},	 {op_write, 12},     {op_truncate, 3}, {op_chmod, 6},  {op_utimes, 6},
    {op_setxattr, 5},	 {op_rmxattr, 3},    {op_mkdir, 6},    {op_remove, 8}, {op_rename, 10},
    {op_exchange, 3},	 {op_link, 5},	     {op_symlink, 3},  {op_fifo, 2},   {op_file_to_dir, 3},
    {op_dir_to_file, 3}, {op_remake_dir, 3}, {op_chown, 3},
};

static const struct op *pick_op(void)
{
	unsigned total = 0;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		total += ops[i].weight;
	unsigned k = pick(total);
	for (size_t i = 0;; i++) {
		if (k < ops[i].weight)
			return &ops[i];
		k -= ops[i].weight;
	}
}

static void print_escaped(const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c >= 0x20 && *c < 0x7f && *c != '\\')
			fputc(*c, stderr);
		else
			fprintf(stderr, "\\x%02x", *c);
	}
}

static void run_ops(unsigned long count)
{
	for (unsigned long i = 1; i <= count; i++) {
		relist();
		char desc[8300];
		int r;
		do {
			desc[0] = '\0';
			r = pick_op()->fn(desc, sizeof(desc));
		} while (r == 1);
		int e = errno;
		fprintf(stderr, "%lu: ", i);
		print_escaped(desc);
		fprintf(stderr, r < 0 ? ": %s\n" : "\n", strerror(e));
	}
}

/* ---- the starting tree ---- */

static unsigned long cache_seq;

static int add_cache_link(const char *cache, const char *path)
{
	char *cpath = NULL;
	if (asprintf(&cpath, "%s/rand-%lu", cache, ++cache_seq) < 0)
		die("name", cache);
	if (write_new(cpath, 0600) < 0)
		die("create", cpath);
	if (pick(2) && set_rand_xattr(cpath, "user") < 0)
		die("setxattr", cpath);
	if (fchmodat(AT_FDCWD, cpath, rand_file_mode(), 0) < 0 || set_rand_times(cpath) < 0)
		die("chmod/utimes", cpath);
	int r = linkat(AT_FDCWD, cpath, AT_FDCWD, path, 0);
	free(cpath);
	return r;
}

static void build_tree(const char *cache, unsigned long count)
{
	for (unsigned long i = 0; i < count; i++) {
		relist();
		const struct entry *dir = pick_entry(is_shallow_dir);
		char *p = new_name_in(dir);
		struct stat st;
		if (fstatat(AT_FDCWD, p, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			free(p);
			continue;
		}
		unsigned kind = pick(20);
		int r;
		if (kind < 6) {
			r = mkdirat(AT_FDCWD, p, 0700);
		} else if (kind < 12) {
			r = write_new(p, rand_file_mode());
		} else if (kind < 16) {
			r = add_cache_link(cache, p);
		} else if (kind < 18) {
			const struct entry *t = pick_entry(NULL);
			r = symlinkat(pick(2) ? t->path : "../dangling", AT_FDCWD, p);
		} else if (kind < 19) {
			r = mknodat(AT_FDCWD, p, S_IFIFO | 0644, 0);
		} else {
			const struct entry *t = pick_entry(is_file);
			r = t ? linkat(AT_FDCWD, t->path, AT_FDCWD, p, 0) : write_new(p, 0644);
		}
		if (r < 0)
			die("create", p);
		if (kind >= 6 && kind < 12 && pick(2) && set_rand_xattr(p, "user") < 0)
			die("setxattr", p);
		free(p);
	}
	/* modes, xattrs and times on dirs last, deepest first, so that they stick */
	relist();
	for (size_t i = n_ents; i-- > 0;) {
		const struct entry *e = &ents[i];
		if (e->type == S_IFDIR && !is_root(e)) {
			if (pick(3) == 0 && set_rand_xattr(e->path, "user") < 0)
				die("setxattr", e->path);
			if (fchmodat(AT_FDCWD, e->path, rand_dir_mode() | 0700, 0) < 0)
				die("chmod", e->path);
		}
	}
	for (size_t i = n_ents; i-- > 0;)
		if (!is_root(&ents[i]) && set_rand_times(ents[i].path) < 0)
			die("utimes", ents[i].path);
}

static unsigned long number(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0') {
		fprintf(stderr, "randfs: %s: not a number: %s\n", what, s);
		exit(2);
	}
	return v;
}

static void usage(void)
{
	fputs("usage: randfs tree SEED DIR CACHE N | randfs ops SEED DIR N [--root]\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 5)
		usage();
	unsigned long seed = number(argv[2], "SEED");
	rng_state = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)seed * 0xbf58476d1ce4e5b9ULL);
	if (rng_state == 0)
		rng_state = 1;
	for (int i = 0; i < 8; i++)
		rnd();
	if (strcmp(argv[1], "tree") == 0 && argc == 6) {
		char cache[4096];
		if (!realpath(argv[4], cache))
			die("cache", argv[4]);
		if (chdir(argv[3]) < 0)
			die("chdir", argv[3]);
		build_tree(cache, number(argv[5], "N"));
	} else if (strcmp(argv[1], "ops") == 0 && (argc == 5 || argc == 6)) {
		if (argc == 6) {
			if (strcmp(argv[5], "--root") != 0)
				usage();
			as_root = true;
		}
		if (chdir(argv[3]) < 0)
			die("chdir", argv[3]);
		run_ops(number(argv[4], "N"));
	} else {
		usage();
	}
	return 0;
}
