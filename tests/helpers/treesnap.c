/* treesnap: prints a canonical, sorted, one-line-per-entry snapshot of a directory tree.
 *
 * Usage: treesnap [--no-root-times] [--no-links] [--map-uid FROM:TO]... [--map-gid FROM:TO]...
 *                 [--exclude PATH]... DIR
 *
 * One line per entry (the root is "."), sorted bytewise by path:
 *   PATH TYPE MODE UID:GID [size=N hash=H] [target=T] [rdev=MAJ:MIN] mtime=S.NS [x:NAME=HEX]...
 *   [link=G]
 * Paths, symlink targets and xattr names are escaped (printable ASCII other than space and
 * backslash is kept, every other byte is \xNN), so newlines and non-UTF-8 bytes are safe.
 * Symlinks are never followed: every access is relative to a directory fd (O_NOFOLLOW,
 * AT_SYMLINK_NOFOLLOW, readlinkat), and xattrs are read through an O_PATH|O_NOFOLLOW fd as
 * /proc/self/fd/N (that magic link lands on the inode itself, a symlink's included, and goes no
 * further), so /proc must be mounted.
 * Hardlink groups: inodes that appear under more than one name in the tree are numbered 1, 2, ...
 * in order of first appearance by sorted path (an inode's number, nlink and ctime are never
 * printed, so a snapshot taken in an overlay's merged view compares with one taken after apply).
 * Directory sizes and link counts are not printed (they depend on the filesystem).
 *
 *   --no-root-times   omit the root directory's mtime
 *   --no-links        omit hardlink groups (e.g. for a cache whose links into a workspace may drop)
 *   --map-uid FROM:TO print uid FROM as TO (compare a user namespace's view with the host's)
 *   --map-gid FROM:TO print gid FROM as TO
 *   --exclude PATH    skip PATH (relative to DIR, as printed but unescaped) and everything in it
 *
 * Uses only libc. Exit status 0, or 1 with a message on stderr. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

struct entry {
	char *path; /* raw bytes, relative; "." for the root */
	char *line; /* the formatted line without path and link group */
	dev_t dev;
	ino_t ino;
	bool nondir;
	unsigned group;
};

static struct entry *entries;
static size_t n_entries, cap_entries;
static bool no_root_times, no_links;
struct idmap {
	unsigned long from, to;
};
static struct idmap uidmap[16], gidmap[16];
static size_t n_uidmap, n_gidmap;
static char **excludes;
static size_t n_excludes;

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("treesnap: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		die("out of memory");
	return p;
}

/* A growable string buffer. */
struct buf {
	char *s;
	size_t len, cap;
};

static void buf_putn(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		die("internal: format overflow");
	buf_putn(b, tmp, (size_t)n);
}

static void buf_escape(struct buf *b, const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c > 0x20 && c < 0x7f && c != '\\') {
			buf_putn(b, (const char *)&c, 1);
		} else {
			char e[5];
			snprintf(e, sizeof(e), "\\x%02x", c);
			buf_putn(b, e, 4);
		}
	}
}

static void buf_hex(struct buf *b, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		char h[2] = {hex[s[i] >> 4], hex[s[i] & 15]};
		buf_putn(b, h, 2);
	}
}

static unsigned long map_id(const struct idmap *m, size_t n, unsigned long id)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].from == id)
			return m[i].to;
	return id;
}

static bool excluded(const char *path)
{
	for (size_t i = 0; i < n_excludes; i++)
		if (strcmp(path, excludes[i]) == 0)
			return true;
	return false;
}

/* FNV-1a, 64 bits, over the file's bytes; two lanes with different offsets for 128 bits. */
static void hash_file(int dirfd, const char *name, const char *path, uint64_t size, struct buf *b)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	uint64_t h1 = 0xcbf29ce484222325ULL, h2 = 0x84222325cbf29ce4ULL;
	const uint64_t prime = 0x100000001b3ULL;
	unsigned char data[65536];
	uint64_t total = 0;
	for (;;) {
		ssize_t r = read(fd, data, sizeof(data));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("read %s: %s", path, strerror(errno));
		}
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++) {
			h1 = (h1 ^ data[i]) * prime;
			h2 = (h2 ^ (unsigned char)(data[i] + 0x5b)) * prime;
		}
		total += (uint64_t)r;
	}
	close(fd);
	buf_printf(b, " hash=%016" PRIx64 "%016" PRIx64, h1, h2);
	if (total != size)
		die("read %s: %" PRIu64 " bytes, size is %" PRIu64, path, total, size);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void xattrs(int dirfd, const char *name, const char *path, struct buf *b)
{
	/* An O_PATH|O_NOFOLLOW fd names the inode itself (symlinks included); listxattr and
	 * getxattr on /proc/self/fd/N act on that inode without resolving anything in the tree. */
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	char proc[64];
	if (access("/proc/self/fd", F_OK) != 0)
		die("/proc/self/fd: %s (treesnap needs /proc)", strerror(errno));
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t n = listxattr(proc, NULL, 0);
	if (n < 0) {
		if (errno == ENOTSUP) {
			close(fd);
			return;
		}
		die("listxattr %s: %s", path, strerror(errno));
	}
	char *list = xrealloc(NULL, (size_t)n + 1);
	n = listxattr(proc, list, (size_t)n);
	if (n < 0)
		die("listxattr %s: %s", path, strerror(errno));
	size_t count = 0;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
		count++;
	char **names = xrealloc(NULL, (count + 1) * sizeof(*names));
	count = 0;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
		names[count++] = list + i;
	qsort(names, count, sizeof(*names), cmp_str);
	for (size_t i = 0; i < count; i++) {
		ssize_t vn = getxattr(proc, names[i], NULL, 0);
		if (vn < 0)
			die("getxattr %s %s: %s", path, names[i], strerror(errno));
		unsigned char *v = xrealloc(NULL, (size_t)vn + 1);
		vn = getxattr(proc, names[i], v, (size_t)vn);
		if (vn < 0)
			die("getxattr %s %s: %s", path, names[i], strerror(errno));
		buf_putn(b, " x:", 3);
		buf_escape(b, (const unsigned char *)names[i], strlen(names[i]));
		buf_putn(b, "=", 1);
		buf_hex(b, v, (size_t)vn);
		free(v);
	}
	free(names);
	free(list);
	close(fd);
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "symlink";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	case S_IFCHR:
		return "char";
	case S_IFBLK:
		return "block";
	}
	return "unknown";
}

static void add_entry(const char *path, char *line, const struct stat *st)
{
	if (n_entries == cap_entries) {
		cap_entries = cap_entries ? cap_entries * 2 : 1024;
		entries = xrealloc(entries, cap_entries * sizeof(*entries));
	}
	struct entry *e = &entries[n_entries++];
	e->path = strdup(path);
	if (!e->path)
		die("out of memory");
	e->line = line;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->nondir = !S_ISDIR(st->st_mode);
	e->group = 0;
}

/* Describes dirfd/name (path is its relative path, for output) into *st and the entries. */
static void describe(int pfd, const char *name, const char *path, bool root, struct stat *st)
{
	if (fstatat(pfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
		die("stat %s: %s", path, strerror(errno));
	struct buf b = {0};
	buf_printf(&b, " %s %04o %lu:%lu", type_name(st->st_mode), (unsigned)(st->st_mode & 07777),
		   map_id(uidmap, n_uidmap, st->st_uid), map_id(gidmap, n_gidmap, st->st_gid));
	if (S_ISREG(st->st_mode)) {
		buf_printf(&b, " size=%lld", (long long)st->st_size);
		hash_file(pfd, name, path, (uint64_t)st->st_size, &b);
	} else if (S_ISLNK(st->st_mode)) {
		size_t sz = (size_t)st->st_size + 2;
		char *t = xrealloc(NULL, sz);
		ssize_t r = readlinkat(pfd, name, t, sz);
		if (r < 0)
			die("readlink %s: %s", path, strerror(errno));
		buf_putn(&b, " target=", 8);
		buf_escape(&b, (const unsigned char *)t, (size_t)r);
		free(t);
	} else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		buf_printf(&b, " rdev=%u:%u", major(st->st_rdev), minor(st->st_rdev));
	}
	if (!(root && no_root_times))
		buf_printf(&b, " mtime=%lld.%09ld", (long long)st->st_mtim.tv_sec,
			   st->st_mtim.tv_nsec);
	xattrs(pfd, name, path, &b);
	add_entry(path, b.s ? b.s : strdup(""), st);
}

/* The names in the directory open as fd (which stays open), "." and ".." left out. */
static char **read_names(int fd, const char *path, size_t *count)
{
	int d_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = d_fd < 0 ? NULL : fdopendir(d_fd);
	if (!d)
		die("opendir %s: %s", path, strerror(errno));
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			die("out of memory");
		n++;
	}
	if (errno)
		die("readdir %s: %s", path, strerror(errno));
	closedir(d);
	*count = n;
	return names;
}

/* A directory being walked: its names (read at once, so that it need not stay open), the next
 * one, its identity (to check the way back up), and the length of its path in the path buffer. */
struct frame {
	char **names;
	size_t n, next;
	dev_t dev;
	ino_t ino;
	size_t path_len;
};

/* Walks the tree below the root open as top, depth first, holding one directory open at a
 * time: a child is entered with openat(), the way back is ".." (checked against the dev:ino
 * recorded on the way down). No recursion, so any depth the kernel allows works, at any fd
 * limit. */
static void walk(int top)
{
	struct stat st;
	describe(top, ".", ".", true, &st);
	if (!S_ISDIR(st.st_mode))
		return;
	int cur = openat(top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		die("open .: %s", strerror(errno));
	struct buf path = {0};
	buf_putn(&path, "", 0);
	struct frame *f = NULL;
	size_t nf = 0, capf = 0;
	for (;;) {
		if (nf == capf) {
			capf = capf ? capf * 2 : 64;
			f = xrealloc(f, capf * sizeof(*f));
		}
		if (nf == 0 || S_ISDIR(st.st_mode)) {
			struct frame *nw = &f[nf++];
			nw->path_len = path.len;
			nw->names = read_names(cur, path.len ? path.s : ".", &nw->n);
			nw->next = 0;
			nw->dev = st.st_dev;
			nw->ino = st.st_ino;
		}
		struct frame *t = &f[nf - 1];
		while (t->next == t->n) {
			free(t->names);
			if (--nf == 0) {
				close(cur);
				free(f);
				free(path.s);
				return;
			}
			t = &f[nf - 1];
			int up = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			struct stat ust;
			if (up < 0 || fstat(up, &ust) < 0)
				die("open %s/..: %s", path.s, strerror(errno));
			if (ust.st_dev != t->dev || ust.st_ino != t->ino)
				die("%s/..: moved during the walk", path.s);
			close(cur);
			cur = up;
			path.len = t->path_len;
			path.s[path.len] = '\0';
		}
		char *name = t->names[t->next++];
		path.len = t->path_len;
		if (path.len)
			buf_putn(&path, "/", 1);
		buf_putn(&path, name, strlen(name));
		st.st_mode = 0;
		if (!excluded(path.s)) {
			describe(cur, name, path.s, false, &st);
			if (S_ISDIR(st.st_mode)) {
				int fd = openat(cur, name,
						O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (fd < 0)
					die("open %s: %s", path.s, strerror(errno));
				close(cur);
				cur = fd;
			}
		}
		free(name);
	}
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static int cmp_ino(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const struct entry *x = &entries[i], *y = &entries[j];
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return i < j ? -1 : (i > j);
}

static void usage(void)
{
	fputs("usage: treesnap [--no-root-times] [--no-links] [--map-uid FROM:TO]... "
	      "[--map-gid FROM:TO]... [--exclude PATH]... DIR\n",
	      stderr);
	exit(2);
}

static void add_map(struct idmap *m, size_t *n, const char *arg)
{
	unsigned long f, t;
	char extra;
	if (sscanf(arg, "%lu:%lu%c", &f, &t, &extra) != 2 || *n == 16)
		usage();
	m[*n].from = f;
	m[*n].to = t;
	(*n)++;
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	excludes = xrealloc(NULL, (size_t)argc * sizeof(*excludes));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--no-root-times") == 0) {
			no_root_times = true;
		} else if (strcmp(a, "--no-links") == 0) {
			no_links = true;
		} else if (strcmp(a, "--map-uid") == 0 && i + 1 < argc) {
			add_map(uidmap, &n_uidmap, argv[++i]);
		} else if (strcmp(a, "--map-gid") == 0 && i + 1 < argc) {
			add_map(gidmap, &n_gidmap, argv[++i]);
		} else if (strcmp(a, "--exclude") == 0 && i + 1 < argc) {
			excludes[n_excludes++] = argv[++i];
		} else if (strcmp(a, "--") == 0 && i + 2 == argc) {
			dir = argv[++i];
		} else if (a[0] == '-' || dir) {
			usage();
		} else {
			dir = a;
		}
	}
	if (!dir)
		usage();
	int top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		die("open %s: %s", dir, strerror(errno));
	/* The root is described through "." of its own fd, so DIR itself may be given via a
	 * symlink-free absolute or relative path; nothing beneath it is ever followed. */
	walk(top);
	close(top);

	qsort(entries, n_entries, sizeof(*entries), cmp_entry);
	if (!no_links) {
		/* Number the inodes seen under more than one name in order of first appearance:
		 * sort positions of non-directories by (dev, ino, position), then walk the runs. */
		size_t *idx = xrealloc(NULL, (n_entries + 1) * sizeof(*idx));
		size_t m = 0;
		for (size_t i = 0; i < n_entries; i++)
			if (entries[i].nondir)
				idx[m++] = i;
		qsort(idx, m, sizeof(*idx), cmp_ino);
		/* first[i]: for the run holding entry i, its first (smallest) position */
		for (size_t r = 0; r < m;) {
			size_t e = r + 1;
			while (e < m && entries[idx[e]].dev == entries[idx[r]].dev &&
			       entries[idx[e]].ino == entries[idx[r]].ino)
				e++;
			if (e - r > 1)
				for (size_t k = r; k < e; k++)
					entries[idx[k]].group =
					    (unsigned)(idx[r] + 1); /* provisional */
			r = e;
		}
		free(idx);
		/* Renumber the provisional ids (first positions) 1, 2, ... in path order. */
		unsigned next = 0;
		unsigned *ren = xrealloc(NULL, (n_entries + 1) * sizeof(*ren));
		memset(ren, 0, (n_entries + 1) * sizeof(*ren));
		for (size_t i = 0; i < n_entries; i++) {
			unsigned g = entries[i].group;
			if (!g)
				continue;
			if (!ren[g])
				ren[g] = ++next;
			entries[i].group = ren[g];
		}
		free(ren);
	}
	struct buf out = {0};
	for (size_t i = 0; i < n_entries; i++) {
		out.len = 0;
		buf_escape(&out, (const unsigned char *)entries[i].path, strlen(entries[i].path));
		buf_putn(&out, entries[i].line, strlen(entries[i].line));
		if (entries[i].group)
			buf_printf(&out, " link=%u", entries[i].group);
		buf_putn(&out, "\n", 1);
		if (fwrite(out.s, 1, out.len, stdout) != out.len)
			die("write: %s", strerror(errno));
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		die("write: %s", strerror(errno));
	free(out.s);
	for (size_t i = 0; i < n_entries; i++) {
		free(entries[i].path);
		free(entries[i].line);
	}
	free(entries);
	free(excludes);
	return 0;
}
