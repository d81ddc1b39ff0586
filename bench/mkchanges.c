/* mkchanges: the action of the apply and diff benchmarks. Run in a workspace made by
 * tests/helpers/mkfiles (dNNNN/fNNNNN: NDIRS dirs of NFILES files), it makes N changes:
 *
 *   40% new files             dNNNN/newNNNNNN, 64 bytes
 *   30% modified inputs       an existing file, appended to (in an overlay: copied up)
 *   20% deletions             an existing file, unlinked (in an overlay: a whiteout)
 *   10% new dirs              dNNNN/newdirNNNNNN, holding one 64-byte file
 *
 * The changes are concentrated in the first dirs, the way a build's outputs and edits land in a
 * few packages: modified and deleted files are the first ones of dNNNN in order, new files and
 * dirs go round-robin into the same dirs. So a change set touches the same paths (and the same
 * number of dirs) whatever the workspace size. Where the workspace is too small for that many
 * (10,000 changes in 1,000 files), modifications and deletions are capped at half the files and
 * the rest become new files; it prints the counts it made.
 *
 *   mkchanges N NDIRS NFILES      (in the workspace: cwd)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char data[64] = "output of the action, 64 bytes long, like a small object file\n";

static void die(const char *what, const char *path)
{
	fprintf(stderr, "mkchanges: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void create(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		die("create", path);
	if (write(fd, data, sizeof(data)) != (ssize_t)sizeof(data))
		die("write", path);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fputs("usage: mkchanges N NDIRS NFILES\n", stderr);
		return 2;
	}
	long n = atol(argv[1]), ndirs = atol(argv[2]), nfiles = atol(argv[3]);
	long total = ndirs * nfiles;
	if (n < 1 || ndirs < 1 || nfiles < 1)
		return 2;
	long nmod = n * 30 / 100, ndel = n * 20 / 100, ndir = n * 10 / 100;
	if (nmod + ndel > total / 2) {
		nmod = total / 2 * 3 / 5;
		ndel = total / 2 - nmod;
	}
	long nnew = n - nmod - ndel - ndir;
	long touched = (nmod + ndel + nfiles - 1) / nfiles; /* dirs holding the edited inputs */
	if (touched < 1)
		touched = 1;
	char path[64];

	for (long i = 0; i < nmod + ndel; i++) {
		snprintf(path, sizeof(path), "d%04ld/f%05ld", i / nfiles, i % nfiles);
		if (i < nmod) {
			int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
			if (fd < 0)
				die("open", path);
			if (write(fd, "modified\n", 9) != 9)
				die("append", path);
			close(fd);
		} else if (unlink(path) < 0) {
			die("unlink", path);
		}
	}
	for (long i = 0; i < nnew; i++) {
		snprintf(path, sizeof(path), "d%04ld/new%06ld", i % touched, i);
		create(path);
	}
	for (long i = 0; i < ndir; i++) {
		snprintf(path, sizeof(path), "d%04ld/newdir%06ld", i % touched, i);
		if (mkdir(path, 0755) < 0)
			die("mkdir", path);
		snprintf(path, sizeof(path), "d%04ld/newdir%06ld/out", i % touched, i);
		create(path);
	}
	printf("%ld new files, %ld modified, %ld deleted, %ld new dirs, in %ld dirs\n", nnew, nmod,
	       ndel, ndir, touched);
	return 0;
}
