/* timeit: the one timing helper every benchmark uses.
 *
 *   timeit [OPTIONS] NAME CMD [NAME CMD]...
 *   timeit --rss-exec FILE -- CMD [ARG...]
 *
 * Runs the commands interleaved (round 1: A B C, round 2: A B C, ...) after WARMUP untimed
 * rounds, and prints one markdown table row per command: median, min and max over the rounds,
 * the ratio of the medians to the baseline command (the first unless -b), the median CPU time
 * (user + sys of the command and the descendants it reaped: less sensitive than wall time to
 * other load on the machine) and its ratio, and the peak RSS.
 * CMD is split into words like a shell would (quotes, no command substitution: wordexp) and
 * executed directly, without a shell; write `sh -c '...'` to get one.
 *
 *   -r ROUNDS   timed rounds (default 7, at least 1)
 *   -w WARMUP   untimed rounds first (default 1)
 *   -1          warm-up rounds run the first command only (when the commands share what there is
 *               to warm, e.g. the page cache of one source tree, and a run is expensive)
 *   -a          alternate the order: every other round runs the commands last to first (A B C,
 *               C B A, ...), so that each runs as often right after as right before each other
 *               one; for commands that leave work behind for the next (a kernel worker freeing
 *               what they removed, a disk still writing back)
 *   -p SH       run `sh -c SH` before every run (warm-ups included), untimed; it sees
 *               TIMEIT_CASE=NAME and TIMEIT_ROUND=N (negative for warm-ups) in its environment
 *   -c SH       the same after every run
 *   -m wall     measure wall time from spawn to exit (default)
 *   -m stdout   take the last number the command prints on stdout (e.g. ns/op it measured itself)
 *   -u UNIT     ns, us, ms or s: wall times are shown in it (default ms); with -m stdout, the
 *               label of the command's own unit
 *   -b NAME     the baseline for the ratio column (default the first command)
 *   -t TITLE    printed above the table; also the first column of -o lines
 *   -o FILE     append one tab-separated line per command:
 *               TITLE NAME MEDIAN MIN MAX RATIO RSS_KB CPU_S_MEDIAN CPU_RATIO
 *   -s FILE     append every timed sample: TITLE NAME ROUND VALUE
 *   -H          print the table header too
 *   -C          under the table, a 95% interval for each ratio of medians: the 2.5th and 97.5th
 *               percentiles over 2,000 bootstrap resamples of the timed rounds (drawn with
 *               replacement, the same draws for every case, so that a round's cases stay
 *               together; a fixed seed, so the same samples give the same interval)
 *
 * The commands' stdout goes to /dev/null (with -m stdout: to timeit), stderr is inherited.
 * A command that fails (exit status not 0) stops the benchmark with exit status 1.
 *
 * --rss-exec FILE -- CMD: runs CMD (stdin, stdout, stderr inherited), appends its peak RSS in
 * KiB (that of CMD and the descendants it waited for) to FILE and exits with CMD's status. Put it
 * in front of a program that someone else starts, e.g. an OCI hook.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wordexp.h>

extern char **environ;

struct cmd {
	const char *name;
	wordexp_t argv;
	double *v;   /* one value per timed round */
	double *cpu; /* user + sys seconds of the command and its reaped descendants, per round */
	long rss_kb;
};

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "timeit: %s: %s\n", what, detail);
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Runs `sh -c SH` with TIMEIT_CASE and TIMEIT_ROUND set; dies if it fails. */
static void run_hook(const char *sh, const char *name, int round)
{
	char r[16];
	if (!sh)
		return;
	snprintf(r, sizeof(r), "%d", round);
	setenv("TIMEIT_CASE", name, 1);
	setenv("TIMEIT_ROUND", r, 1);
	char *argv[] = {"sh", "-c", (char *)sh, NULL};
	pid_t pid;
	int st;
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0)
		die("spawn sh", strerror(errno));
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("prepare/cleanup command failed", sh);
}

/* Copies the (possibly cut) line into last[128]. */
static void keep(char *last, const char *line)
{
	size_t k = strnlen(line, 127);
	memcpy(last, line, k);
	last[k] = '\0';
}

/* Runs one command; returns its wall time in ns, or with capture the last number it printed.
 * *rss_kb gets its peak RSS. */
static double run_cmd(struct cmd *c, int capture, long *rss_kb, double *cpu_s)
{
	posix_spawn_file_actions_t fa;
	int pfd[2] = {-1, -1};
	posix_spawn_file_actions_init(&fa);
	if (capture) {
		if (pipe2(pfd, O_CLOEXEC) < 0)
			die("pipe", strerror(errno));
		posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	} else {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	}
	pid_t pid;
	double t0 = now_ns();
	int e = posix_spawnp(&pid, c->argv.we_wordv[0], &fa, NULL, c->argv.we_wordv, environ);
	if (e != 0)
		die(c->argv.we_wordv[0], strerror(e));
	posix_spawn_file_actions_destroy(&fa);
	double value = 0;
	if (capture) {
		char buf[4096], last[128] = "";
		size_t len = 0;
		ssize_t n;
		close(pfd[1]);
		/* Keep the last non-empty line. */
		while ((n = read(pfd[0], buf + len, sizeof(buf) - 1 - len)) > 0) {
			len += (size_t)n;
			buf[len] = '\0';
			char *nl;
			while ((nl = strchr(buf, '\n'))) {
				*nl = '\0';
				if (buf[0])
					keep(last, buf);
				len -= (size_t)(nl + 1 - buf);
				memmove(buf, nl + 1, len + 1);
			}
			if (len == sizeof(buf) - 1)
				len = 0; /* an absurdly long line: drop it */
		}
		if (len)
			keep(last, buf);
		close(pfd[0]);
		char *end;
		value = strtod(last, &end);
		if (end == last)
			die(c->name, "printed no number on stdout");
	}
	int st;
	struct rusage ru;
	if (wait4(pid, &st, 0, &ru) < 0)
		die("wait4", strerror(errno));
	double t1 = now_ns();
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "timeit: %s: exit status %d (signal %d): %s\n", c->name,
			WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0,
			c->argv.we_wordv[0]);
		exit(1);
	}
	*rss_kb = ru.ru_maxrss;
	*cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	return capture ? value : t1 - t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* See -C. lo[i], hi[i]: the interval of median(case i) / median(case b). */
static void ratio_intervals(const struct cmd *c, int n, int b, int rounds, double *lo, double *hi)
{
	enum { DRAWS = 2000 };
	double *ratios = calloc((size_t)n * DRAWS, sizeof(double));
	double *x = calloc((size_t)rounds, sizeof(double));
	int *idx = calloc((size_t)rounds, sizeof(int));
	if (ratios == NULL || x == NULL || idx == NULL)
		die("out of memory", "");
	unsigned long long s = 0x9e3779b97f4a7c15ull; /* xorshift64 */
	for (int d = 0; d < DRAWS; d++) {
		for (int r = 0; r < rounds; r++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			idx[r] = (int)(s % (unsigned long long)rounds);
		}
		for (int r = 0; r < rounds; r++)
			x[r] = c[b].v[idx[r]];
		double mb = median(x, rounds);
		for (int i = 0; i < n; i++) {
			for (int r = 0; r < rounds; r++)
				x[r] = c[i].v[idx[r]];
			ratios[(size_t)i * DRAWS + d] = mb > 0 ? median(x, rounds) / mb : 0;
		}
	}
	for (int i = 0; i < n; i++) {
		double *ri = ratios + (size_t)i * DRAWS;
		qsort(ri, DRAWS, sizeof(*ri), cmp_double);
		lo[i] = ri[DRAWS * 25 / 1000];
		hi[i] = ri[DRAWS * 975 / 1000 - 1];
	}
	free(ratios);
	free(x);
	free(idx);
}

static int rss_exec(int argc, char **argv)
{
	if (argc < 5 || strcmp(argv[3], "--") != 0) {
		fputs("usage: timeit --rss-exec FILE -- CMD [ARG...]\n", stderr);
		return 2;
	}
	pid_t pid;
	int e = posix_spawnp(&pid, argv[4], NULL, NULL, argv + 4, environ);
	if (e != 0)
		die(argv[4], strerror(e));
	int st;
	struct rusage ru;
	while (wait4(pid, &st, 0, &ru) < 0)
		if (errno != EINTR)
			die("wait4", strerror(errno));
	FILE *f = fopen(argv[2], "a");
	if (f) {
		fprintf(f, "%ld\n", ru.ru_maxrss);
		fclose(f);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int usage(void)
{
	fputs("usage: timeit [-r ROUNDS] [-w WARMUP] [-1] [-a] [-p SH] [-c SH] [-m wall|stdout]\n"
	      "              [-u UNIT] [-b NAME] [-t TITLE] [-o FILE] [-s FILE] [-H] [-C]\n"
	      "              NAME CMD [NAME CMD]...\n"
	      "       timeit --rss-exec FILE -- CMD [ARG...]\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--rss-exec") == 0)
		return rss_exec(argc, argv);

	int rounds = 7, warmup = 1, warm_first = 0, alternate = 0, capture = 0, header = 0,
	    intervals = 0, opt;
	const char *prepare = NULL, *cleanup = NULL, *unit = "ms", *base = NULL, *title = "",
		   *out = NULL, *samples = NULL;
	while ((opt = getopt(argc, argv, "+r:w:1ap:c:m:u:b:t:o:s:HC")) != -1) {
		switch (opt) {
		case 'r':
			rounds = atoi(optarg);
			break;
		case '1':
			warm_first = 1;
			break;
		case 'a':
			alternate = 1;
			break;
		case 'w':
			warmup = atoi(optarg);
			break;
		case 'p':
			prepare = optarg;
			break;
		case 'c':
			cleanup = optarg;
			break;
		case 'm':
			capture = strcmp(optarg, "stdout") == 0;
			break;
		case 'u':
			unit = optarg;
			break;
		case 'b':
			base = optarg;
			break;
		case 't':
			title = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 's':
			samples = optarg;
			break;
		case 'H':
			header = 1;
			break;
		case 'C':
			intervals = 1;
			break;
		default:
			return usage();
		}
	}
	int n = (argc - optind) / 2;
	if (rounds < 1 || warmup < 0 || n < 1 || (argc - optind) % 2)
		return usage();
	double scale = 1; /* ns per displayed unit */
	if (!capture) {
		if (strcmp(unit, "us") == 0)
			scale = 1e3;
		else if (strcmp(unit, "ms") == 0)
			scale = 1e6;
		else if (strcmp(unit, "s") == 0)
			scale = 1e9;
		else if (strcmp(unit, "ns") != 0)
			return usage();
	}

	struct cmd *c = calloc((size_t)n, sizeof(*c));
	int b = 0;
	for (int i = 0; i < n; i++) {
		c[i].name = argv[optind + 2 * i];
		const char *line = argv[optind + 2 * i + 1];
		if (wordexp(line, &c[i].argv, WRDE_NOCMD | WRDE_SHOWERR) != 0 ||
		    c[i].argv.we_wordc == 0)
			die("cannot split command", line);
		c[i].v = calloc((size_t)rounds, sizeof(double));
		c[i].cpu = calloc((size_t)rounds, sizeof(double));
		if (base && strcmp(base, c[i].name) == 0)
			b = i;
	}

	for (int r = -warmup; r < rounds; r++) {
		for (int k = 0; k < n; k++) {
			if (r < 0 && warm_first && k > 0)
				break;
			int i =
			    alternate && (r + warmup) % 2 && !(r < 0 && warm_first) ? n - 1 - k : k;
			long rss;
			double cpu;
			run_hook(prepare, c[i].name, r);
			double v = run_cmd(&c[i], capture, &rss, &cpu);
			run_hook(cleanup, c[i].name, r);
			if (r < 0)
				continue;
			c[i].v[r] = capture ? v : v / scale;
			c[i].cpu[r] = cpu;
			if (rss > c[i].rss_kb)
				c[i].rss_kb = rss;
			if (samples) {
				FILE *f = fopen(samples, "a");
				if (f) {
					fprintf(f, "%s\t%s\t%d\t%.6g\n", title, c[i].name, r,
						c[i].v[r]);
					fclose(f);
				}
			}
		}
	}

	double *med = calloc((size_t)n, sizeof(double)), *cmed = calloc((size_t)n, sizeof(double));
	double *lo = calloc((size_t)n, sizeof(double)), *hi = calloc((size_t)n, sizeof(double));
	if (intervals) /* before median() sorts the samples out of round order */
		ratio_intervals(c, n, b, rounds, lo, hi);
	for (int i = 0; i < n; i++) {
		med[i] = median(c[i].v, rounds);
		cmed[i] = median(c[i].cpu, rounds);
	}
	if (title[0])
		printf("%s (%d rounds after %d warm-up%s, interleaved%s)\n\n", title, rounds,
		       warmup, warm_first ? " of the first case" : "",
		       alternate ? ", every other round in reverse order" : "");
	if (header || title[0]) {
		printf("| case | median %s | min %s | max %s | ratio to %s | CPU s (median) | CPU "
		       "ratio "
		       "| peak RSS KiB |\n",
		       unit, unit, unit, c[b].name);
		printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
	}
	FILE *o = out ? fopen(out, "a") : NULL;
	for (int i = 0; i < n; i++) {
		double ratio = med[b] > 0 ? med[i] / med[b] : 0;
		double cratio = cmed[b] > 0 ? cmed[i] / cmed[b] : 0;
		printf("| %s | %.4g | %.4g | %.4g | %.3f | %.4g | %.3f | %ld |\n", c[i].name,
		       med[i], c[i].v[0], c[i].v[rounds - 1], ratio, cmed[i], cratio, c[i].rss_kb);
		if (o)
			fprintf(o, "%s\t%s\t%.6g\t%.6g\t%.6g\t%.4f\t%ld\t%.6g\t%.4f\n", title,
				c[i].name, med[i], c[i].v[0], c[i].v[rounds - 1], ratio,
				c[i].rss_kb, cmed[i], cratio);
	}
	if (o)
		fclose(o);
	if (intervals && n > 1) {
		printf("\n95%% intervals of the ratios to %s (2,000 bootstrap resamples of the %d "
		       "rounds):",
		       c[b].name, rounds);
		for (int i = 0, first = 1; i < n; i++) {
			if (i == b)
				continue;
			printf("%s %s %.3f-%.3f", first ? "" : ";", c[i].name, lo[i], hi[i]);
			first = 0;
		}
		printf(".\n");
	}
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		wordfree(&c[i].argv);
		free(c[i].v);
		free(c[i].cpu);
	}
	free(c);
	free(med);
	free(cmed);
	free(lo);
	free(hi);
	return 0;
}
