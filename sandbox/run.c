/* ovlbox run: the action in new mount + pid namespaces (and a user namespace as non-root) with
 * the overlay over its workspace; the parent stays outside, waits until every process of the
 * action is gone, then applies, discards or keeps the changes. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ovlbox/apply.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/layers.h"
#include "ovlbox/log.h"

enum on_exit { ON_EXIT_APPLY, ON_EXIT_DISCARD, ON_EXIT_KEEP };

struct run_opts {
	const char *workspace, *upper, *work;
	enum on_exit on_exit;
	char **argv; /* the action */
};

/* What the sandbox's init reports to the parent through a pipe. */
struct init_report {
	int setup_failed;   /* 1: ovlbox could not set up; msg says why */
	int exec_errno;     /* the action could not be executed */
	int wait_status;    /* the action's wait status */
	char msg[1024];
};

static const char run_usage[] =
	"Usage: ovlbox run --workspace DIR [--upper DIR] [--work DIR]\n"
	"                  [--on-exit apply|discard|keep] -- CMD [ARG...]\n";

static int parse_run(int argc, char **argv, struct run_opts *o)
{
	enum { O_WS = 1000, O_UP, O_WK, O_EXIT, O_HELP };
	static const struct option opts[] = {
		{"workspace", required_argument, NULL, O_WS},
		{"upper", required_argument, NULL, O_UP},
		{"work", required_argument, NULL, O_WK},
		{"on-exit", required_argument, NULL, O_EXIT},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	opterr = 0;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case O_WS:
			o->workspace = optarg;
			break;
		case O_UP:
			o->upper = optarg;
			break;
		case O_WK:
			o->work = optarg;
			break;
		case O_EXIT:
			if (!strcmp(optarg, "apply"))
				o->on_exit = ON_EXIT_APPLY;
			else if (!strcmp(optarg, "discard"))
				o->on_exit = ON_EXIT_DISCARD;
			else if (!strcmp(optarg, "keep"))
				o->on_exit = ON_EXIT_KEEP;
			else {
				ovl_errorf("run: --on-exit %s: expected apply, discard or keep",
					   ovl_qp(optarg));
				return -1;
			}
			break;
		case O_HELP:
			fputs(run_usage, stdout);
			return 1;
		default:
			ovl_errorf("run: unknown option or missing value: %s (see ovlbox run --help)",
				   ovl_qp(argv[optind - 1]));
			return -1;
		}
	}
	if (o->workspace == NULL) {
		ovl_errorf("run: --workspace DIR is required (see ovlbox run --help)");
		return -1;
	}
	if (optind >= argc) {
		ovl_errorf("run: no command given (ovlbox run --workspace DIR -- CMD [ARG...])");
		return -1;
	}
	o->argv = argv + optind;
	return 0;
}

static char *absolute(const char *p)
{
	if (p == NULL)
		return NULL;
	if (p[0] == '/')
		return strdup(p);
	cleanup_free char *cwd = getcwd(NULL, 0);
	char *s = NULL;
	if (cwd == NULL || asprintf(&s, "%s/%s", cwd, p) < 0)
		return NULL;
	return s;
}

/* ---- inside the sandbox ---- */

static volatile sig_atomic_t action_pid;

static void forward_signal(int sig)
{
	if (action_pid > 0)
		kill(action_pid, sig);
}

static void init_fail(int fd, struct init_report *r, ovl_error_t *err) __attribute__((noreturn));
static void init_fail(int fd, struct init_report *r, ovl_error_t *err)
{
	r->setup_failed = 1;
	snprintf(r->msg, sizeof(r->msg), "%s", *err ? (*err)->msg : "sandbox set-up failed");
	ovl_write_all(fd, r, sizeof(*r));
	_exit(EXIT_OVLBOX);
}

/* The action: default signals, then exec; an exec failure goes back through exec_fd. */
static void exec_action(char **argv, int exec_fd) __attribute__((noreturn));
static void exec_action(char **argv, int exec_fd)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	execvp(argv[0], argv);
	int e = errno;
	ovl_write_all(exec_fd, &e, sizeof(e));
	_exit(e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
}

/* pid 1 of the new pid namespace: mount, start the action, reap everything, unmount, report. */
static void sandbox_init(const struct run_opts *o, const struct ovl_layers *l, bool rootless,
			 int sync_fd, int report_fd) __attribute__((noreturn));
static void sandbox_init(const struct run_opts *o, const struct ovl_layers *l, bool rootless,
			 int sync_fd, int report_fd)
{
	struct init_report rep = {0};
	ovl_error_t err = NULL;
	char go;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (read(sync_fd, &go, 1) != 1) /* the parent has written our id maps */
		_exit(EXIT_OVLBOX);
	close(sync_fd);

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		ovl_error(&err, errno, "make mounts private");
		init_fail(report_fd, &rep, &err);
	}
	struct ovl_layer_fds fds;
	if (ovl_layers_open(l, &fds, &err) < 0)
		init_fail(report_fd, &rep, &err);
	int target = dup(fds.lower);
	if (target < 0 || ovl_layers_mount(&fds, target, rootless, &err) < 0) {
		ovl_error_wrap(&err, "workspace %s", ovl_qp(l->lower));
		init_fail(report_fd, &rep, &err);
	}
	ovl_layer_fds_close(&fds);
	close(target);
	if (chdir(l->lower) < 0) {
		ovl_error(&err, errno, "chdir %s", ovl_qp(l->lower));
		init_fail(report_fd, &rep, &err);
	}

	int exec_pipe[2];
	if (pipe2(exec_pipe, O_CLOEXEC) < 0) {
		ovl_error(&err, errno, "pipe");
		init_fail(report_fd, &rep, &err);
	}
	struct sigaction sa = {.sa_handler = forward_signal};
	sigemptyset(&sa.sa_mask);
	int fwd[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaction(fwd[i], &sa, NULL);
	pid_t pid = fork();
	if (pid < 0) {
		ovl_error(&err, errno, "fork the action");
		init_fail(report_fd, &rep, &err);
	}
	if (pid == 0) {
		close(exec_pipe[0]);
		close(report_fd);
		exec_action(o->argv, exec_pipe[1]);
	}
	action_pid = pid;
	close(exec_pipe[1]);
	int e = 0;
	if (read(exec_pipe[0], &e, sizeof(e)) == (ssize_t)sizeof(e))
		rep.exec_errno = e;
	close(exec_pipe[0]);

	/* Reap until the action exits; then no process may outlive it. */
	for (;;) {
		int status;
		pid_t w = waitpid(-1, &status, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		if (w == pid) {
			rep.wait_status = status;
			action_pid = 0;
			kill(-1, SIGKILL);
		}
	}
	if (chdir("/") < 0 || umount2(l->lower, 0) < 0) {
		ovl_error(&err, errno, "unmount the overlay from %s", ovl_qp(l->lower));
		init_fail(report_fd, &rep, &err);
	}
	ovl_write_all(report_fd, &rep, sizeof(rep));
	_exit(0);
}

/* ---- outside ---- */

static int write_id_maps(pid_t pid, ovl_error_t *err)
{
	char path[64], map[64];
	const char *files[] = {"uid_map", "setgroups", "gid_map"};
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
		if (i == 0)
			snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)geteuid());
		else if (i == 1)
			snprintf(map, sizeof(map), "deny");
		else
			snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)getegid());
		cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || ovl_write_all(fd, map, strlen(map)) < 0)
			return ovl_error(err, errno, "write %s", path);
	}
	return 0;
}

static volatile sig_atomic_t init_pid;

static void relay_signal(int sig)
{
	if (init_pid > 0)
		kill(init_pid, sig);
}

/* Starts the sandbox and waits for it; fills rep. Returns 0, or -1 if the sandbox never ran. */
static int run_sandbox(const struct run_opts *o, const struct ovl_layers *l, bool rootless,
		       struct init_report *rep, ovl_error_t *err)
{
	int sync_pipe[2], report_pipe[2];
	if (pipe2(sync_pipe, O_CLOEXEC) < 0 || pipe2(report_pipe, O_CLOEXEC) < 0)
		return ovl_error(err, errno, "pipe");
	unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | (rootless ? CLONE_NEWUSER : 0);
	fflush(NULL);
	pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		int e = errno;
		close(sync_pipe[0]);
		close(sync_pipe[1]);
		close(report_pipe[0]);
		close(report_pipe[1]);
		return ovl_error(err, e, "create namespaces for the action%s",
				 rootless ? " (user namespaces may be disabled)" : "");
	}
	if (pid == 0) {
		close(sync_pipe[1]);
		close(report_pipe[0]);
		sandbox_init(o, l, rootless, sync_pipe[0], report_pipe[1]);
	}
	close(sync_pipe[0]);
	close(report_pipe[1]);
	init_pid = pid;
	struct sigaction sa = {.sa_handler = relay_signal};
	sigemptyset(&sa.sa_mask);
	int fwd[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaction(fwd[i], &sa, NULL);

	int r = 0;
	if (rootless && write_id_maps(pid, err) < 0)
		r = -1;
	if (r == 0 && write(sync_pipe[1], "g", 1) != 1)
		r = ovl_error(err, errno, "start the sandbox");
	close(sync_pipe[1]);
	if (r < 0)
		kill(pid, SIGKILL);

	memset(rep, 0, sizeof(*rep));
	ssize_t n;
	do
		n = read(report_pipe[0], rep, sizeof(*rep));
	while (n < 0 && errno == EINTR);
	close(report_pipe[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	init_pid = 0;
	if (r < 0)
		return -1;
	if (n != (ssize_t)sizeof(*rep))
		return ovl_error(err, 0, "the sandbox died before reporting (status %d)", status);
	if (rep->setup_failed)
		return ovl_error(err, 0, "%s", rep->msg);
	return 0;
}

static int action_exit_code(const struct init_report *rep, const struct run_opts *o)
{
	if (rep->exec_errno) {
		ovl_errorf("run: %s: %s", ovl_qp(o->argv[0]), strerror(rep->exec_errno));
		return rep->exec_errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
	}
	if (WIFSIGNALED(rep->wait_status))
		return 128 + WTERMSIG(rep->wait_status);
	return WEXITSTATUS(rep->wait_status);
}

/* Brings the layers to a state where a run can start: finishes an interrupted apply, refuses
 * unapplied changes. */
static int ready_layers(const struct ovl_layers *l, bool rootless, ovl_error_t *err)
{
	int state = ovl_layers_state(l, err);
	if (state < 0)
		return -1;
	if (state == OVL_STATE_PENDING)
		return ovl_error(err, 0,
				 "upper dir %s holds changes that were not applied: run `ovlbox apply "
				 "%s` or `ovlbox discard %s` first",
				 ovl_qp(l->upper), ovl_qp(l->lower), ovl_qp(l->lower));
	if (state == OVL_STATE_JOURNAL) {
		ovl_warn("finishing an interrupted apply of %s first", ovl_qp(l->lower));
		if (apply_locked(l, false, false, NULL, err) < 0)
			return -1;
	}
	return ovl_layers_prepare(l, rootless, err);
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o;
	int r = parse_run(argc, argv, &o);
	if (r != 0)
		return r > 0 ? 0 : EXIT_OVLBOX;
	cleanup_error ovl_error_t err = NULL;
	cleanup_free char *ws = absolute(o.workspace);
	cleanup_free char *up = absolute(o.upper);
	cleanup_free char *wk = absolute(o.work);
	struct ovl_layers l;
	if (ovl_layers_init(&l, ws, up, wk, &err) < 0) {
		report(&err);
		return EXIT_OVLBOX;
	}
	bool rootless = geteuid() != 0;
	int status = EXIT_OVLBOX;
	struct init_report rep;
	cleanup_close int lock = ovl_layers_lock(&l, &err);
	if (lock < 0 || ready_layers(&l, rootless, &err) < 0)
		goto out;
	if (run_sandbox(&o, &l, rootless, &rep, &err) < 0) {
		/* Nothing ran: leave no upper/work behind. */
		ovl_error_t e2 = NULL;
		if (ovl_layers_discard(&l, &e2) < 0)
			ovl_error_free(&e2);
		goto out;
	}
	int action_status = action_exit_code(&rep, &o);
	switch (o.on_exit) {
	case ON_EXIT_APPLY:
		if (enter_rootless_userns(&err) < 0 || apply_locked(&l, false, false, NULL, &err) < 0)
			goto out;
		break;
	case ON_EXIT_DISCARD:
		if (enter_rootless_userns(&err) < 0 || ovl_layers_discard(&l, &err) < 0)
			goto out;
		break;
	case ON_EXIT_KEEP:
		break;
	}
	status = action_status;
out:
	report(&err);
	ovl_layers_free(&l);
	return status;
}
