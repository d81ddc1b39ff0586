/* io: one cell of the seed's I/O matrix (DESIGN §6), measured in-process; prints ns per op.
 *
 *   io setup BASE NFILES              BASE/lower/SIZE/fNNNNN: NFILES files of each size
 *   io MODE OP SIZE NFILES BASE       one measurement
 *
 * MODE  bare     BASE/lower as it is
 *       ovlbox   an overlay over BASE/lower mounted by libovlbox exactly as `ovlbox run` does
 *                (ovl_layers_prepare + ovl_layers_mount: redirect_dir=nofollow, index=off,
 *                metacopy=off, xino=off, uuid=null, volatile)
 *       default  an overlay over BASE/lower with only lowerdir/upperdir/workdir (kernel defaults)
 *       synced   ovlbox's options without `volatile`, hand-mounted: overlayfs then fsyncs every
 *                file it copies up (what ovlbox did before it mounted volatile)
 * OP    read     open, read the whole file, close (after one untimed pass over the same files)
 *       write    create a new file, write SIZE bytes, close
 *       copyup   first write to an existing lower file: open O_WRONLY, write its first byte
 *                back, close (in an overlay this copies the whole file up)
 *
 * Every measurement runs in a private mount namespace of its own (nothing is mounted on the
 * host) with a fresh upper layer, removed afterwards. The seed's ops are os.ReadFile and
 * os.WriteFile, one per file; so are these. Timed with CLOCK_MONOTONIC around the loop only.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ovlbox/layers.h"
#include "ovlbox/overlay.h"
#include "ovlbox/prepare.h"

static char buf[100 * 1024 + 1];

static void die(const char *what)
{
	fprintf(stderr, "io: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0)
			die("write");
		p += w;
		n -= (size_t)w;
	}
}

static int setup(const char *base, long nfiles)
{
	static const long sizes[] = {1, 1024, 4096, 8192, 51200, 102400};
	char path[4096];
	memset(buf, 'x', sizeof(buf));
	snprintf(path, sizeof(path), "%s/lower", base);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die(path);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		snprintf(path, sizeof(path), "%s/lower/%ld", base, sizes[s]);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			die(path);
		for (long i = 0; i < nfiles; i++) {
			snprintf(path, sizeof(path), "%s/lower/%ld/f%05ld", base, sizes[s], i);
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd < 0)
				die(path);
			write_all(fd, buf, (size_t)sizes[s]);
			close(fd);
		}
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)f;
	if (type == FTW_DP)
		chmod(path, 0700); /* work/work is mode 000; root does not care, others would */
	return remove(path) < 0 ? -1 : 0;
}

static void mount_overlay(const char *mode, const char *lower, const char *layers)
{
	char upper[4096], work[4096];
	snprintf(upper, sizeof(upper), "%s/upper", layers);
	snprintf(work, sizeof(work), "%s/work", layers);
	if (strcmp(mode, "ovlbox") == 0) {
		struct ovl_layers l;
		ovl_error_t err = NULL;
		if (ovl_layers_init(&l, lower, upper, work, &err) < 0 ||
		    ovl_layers_open(&l, &err) < 0 || ovl_layers_prepare(&l, false, NULL, &err) < 0) {
			fprintf(stderr, "io: libovlbox: %s\n", err->msg);
			exit(1);
		}
		struct ovl_layer_fds fds = ovl_layers_fds(&l);
		if (ovl_layers_mount(&fds, l.lower_fd, false, &err) < 0) {
			fprintf(stderr, "io: libovlbox: %s\n", err->msg);
			exit(1);
		}
		ovl_layers_free(&l);
	} else {
		char opts[3 * 4096 + 128];
		if (mkdir(upper, 0755) < 0 || mkdir(work, 0755) < 0)
			die("mkdir upper/work");
		const char *extra = strcmp(mode, "synced") == 0
					? ",redirect_dir=nofollow,index=off,"
					  "metacopy=off,xino=off,uuid=null"
					: "";
		snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s%s", lower, upper,
			 work, extra);
		if (mount("overlay", lower, "overlay", 0, opts) < 0)
			die("mount overlay");
	}
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "setup") == 0)
		return setup(argv[2], atol(argv[3]));
	if (argc != 6) {
		fputs(
		    "usage: io setup BASE NFILES | io bare|ovlbox|default|synced read|write|copyup "
		    "SIZE NFILES BASE\n",
		    stderr);
		return 2;
	}
	const char *mode = argv[1], *op = argv[2], *base = argv[5];
	long size = atol(argv[3]), n = atol(argv[4]);
	char lower[4096], layers[4200], dir[4200], path[4300];
	snprintf(lower, sizeof(lower), "%s/lower", base);
	snprintf(dir, sizeof(dir), "%s/%ld", lower, size);
	if (size < 1 || size > (long)sizeof(buf) - 1 || n < 1)
		return 2;
	memset(buf, 'x', sizeof(buf));

	if (unshare(CLONE_NEWNS) < 0)
		die("unshare");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("make / private");
	layers[0] = '\0';
	if (strcmp(mode, "bare") != 0) {
		snprintf(layers, sizeof(layers), "%s/layers.XXXXXX", base);
		if (!mkdtemp(layers))
			die("mkdtemp");
		mount_overlay(mode, lower, layers);
	}

	if (strcmp(op, "read") == 0) {
		/* One untimed pass: dentries, inodes and pages cached, as in a warm build. */
		for (int pass = 0; pass < 2; pass++) {
			double t0 = now_ns();
			for (long i = 0; i < n; i++) {
				snprintf(path, sizeof(path), "%s/f%05ld", dir, i);
				int fd = open(path, O_RDONLY | O_CLOEXEC);
				if (fd < 0)
					die(path);
				while (read(fd, buf, sizeof(buf)) > 0)
					;
				close(fd);
			}
			if (pass == 1)
				printf("%.1f\n", (now_ns() - t0) / (double)n);
		}
	} else if (strcmp(op, "write") == 0) {
		double t0 = now_ns();
		for (long i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/new%05ld", dir, i);
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd < 0)
				die(path);
			write_all(fd, buf, (size_t)size);
			close(fd);
		}
		printf("%.1f\n", (now_ns() - t0) / (double)n);
		for (long i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/new%05ld", dir, i);
			unlink(path);
		}
	} else if (strcmp(op, "copyup") == 0) {
		double t0 = now_ns();
		for (long i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/f%05ld", dir, i);
			int fd = open(path, O_WRONLY | O_CLOEXEC);
			if (fd < 0)
				die(path);
			if (pwrite(fd, "x", 1, 0) != 1)
				die("pwrite");
			close(fd);
		}
		printf("%.1f\n", (now_ns() - t0) / (double)n);
	} else {
		return 2;
	}

	if (layers[0]) {
		if (umount2(lower, 0) < 0)
			die("umount");
		if (nftw(layers, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
			die("remove layers");
	}
	return 0;
}
