/* ovlbox run: the action in new namespaces with the overlay over its workspace, a read-only view
 * of the host, no capabilities and a seccomp filter. The parent stays outside, waits until every
 * process of the action is gone, then applies, discards or keeps the changes. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ovlbox/apply.h"
#include "ovlbox/caps.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/copy.h"
#include "ovlbox/diff.h"
#include "ovlbox/fs.h"
#include "ovlbox/json.h"
#include "ovlbox/layers.h"
#include "ovlbox/log.h"
#include "ovlbox/seccomp.h"
#include "rootfs.h"
#include "runopts.h"

/* What the sandbox's init reports to the parent through a pipe. */
struct init_report {
	int setup_failed;    /* 1: ovlbox could not set up; msg says why */
	int exec_errno;	     /* the action could not be executed */
	int wait_status;     /* the action's wait status */
	struct rusage usage; /* of every process of the action, all reaped */
	char msg[1024];
};

/* ---- inside the sandbox ---- */

static volatile sig_atomic_t action_pid;

static void forward_signal(int sig)
{
	if (action_pid > 0)
		kill(action_pid, sig);
}

static const int forwarded_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static void install_handlers(void (*fn)(int))
{
	struct sigaction sa = {.sa_handler = fn};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
		sigaction(forwarded_signals[i], &sa, NULL);
}

static void init_fail(int fd, struct init_report *r, ovl_error_t *err) __attribute__((noreturn));
static void init_fail(int fd, struct init_report *r, ovl_error_t *err)
{
	r->setup_failed = 1;
	snprintf(r->msg, sizeof(r->msg), "%s", *err ? (*err)->msg : "sandbox set-up failed");
	ovl_write_all(fd, r, sizeof(*r));
	_exit(EXIT_OVLBOX);
}

static int loopback_up(ovl_error_t *err)
{
	cleanup_close int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return ovl_error(err, errno, "loopback interface");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return ovl_error(err, errno, "bring up the loopback interface");
	return 0;
}

/* The action: limits, cwd, no capabilities, seccomp last, exec. Failures go back through
 * exec_fd as an errno plus a message. */
struct exec_failure {
	int errnum;
	char msg[512];
};

static void action_fail(int fd, int errnum, ovl_error_t *err) __attribute__((noreturn));
static void action_fail(int fd, int errnum, ovl_error_t *err)
{
	struct exec_failure f = {.errnum = errnum};
	if (err && *err)
		snprintf(f.msg, sizeof(f.msg), "%s", (*err)->msg);
	ovl_write_all(fd, &f, sizeof(f));
	_exit(EXIT_OVLBOX);
}

static void exec_action(const struct run_opts *o, const struct ovl_seccomp *filter, int exec_fd)
    __attribute__((noreturn));
static void exec_action(const struct run_opts *o, const struct ovl_seccomp *filter, int exec_fd)
{
	ovl_error_t err = NULL;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	for (size_t i = 0; i < o->nrlimits; i++)
		if (setrlimit(o->rlimits[i].resource, &o->rlimits[i].lim) < 0) {
			ovl_error(&err, errno, "--rlimit %s", o->rlimits[i].spec);
			action_fail(exec_fd, 0, &err);
		}
	const char *cwd = o->cwd ? o->cwd : o->workspace_abs;
	if (chdir(cwd) < 0) {
		ovl_error(&err, errno, "--cwd %s", ovl_qp(cwd));
		action_fail(exec_fd, 0, &err);
	}
	if (ovl_caps_restrict(&o->caps, &err) < 0 ||
	    (filter && ovl_seccomp_install(filter, &err) < 0))
		action_fail(exec_fd, 0, &err);
	if (o->exec_path)
		execve(o->exec_path, o->argv, o->envp);
	else
		execvpe(o->argv[0], o->argv, o->envp);
	int e = errno;
	struct exec_failure f = {.errnum = e};
	ovl_write_all(exec_fd, &f, sizeof(f));
	_exit(e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
}

/* Passes one fd over a unix socket (SCM_RIGHTS). */
static int send_fd(int sock, int fd)
{
	char byte = 'f';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	struct cmsghdr *c = n == 1 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (c == NULL || c->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* --upper-size: a detached, size-limited tmpfs holding upper/ and work/, made inside the
 * sandbox's namespaces (so it works rootless) and handed to the parent, which outlives it. */
static int make_upper_tmpfs(const struct run_opts *o, const struct ovl_layers *l,
			    struct ovl_layer_fds *fds, int sock, ovl_error_t *err)
{
	cleanup_close int fsfd = fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (fsfd < 0 || fsconfig(fsfd, FSCONFIG_SET_STRING, "size", o->upper_size, 0) < 0 ||
	    fsconfig(fsfd, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0 ||
	    fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return ovl_error(err, errno, "--upper-size %s: create the tmpfs", o->upper_size);
	cleanup_close int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
	if (mfd < 0)
		return ovl_error(err, errno, "--upper-size: mount the tmpfs");
	if (mkdirat(mfd, "upper", 0755) < 0 || mkdirat(mfd, "work", 0700) < 0)
		return ovl_error(err, errno, "--upper-size: create upper and work");
	cleanup_close int lower = open(l->lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int upper = openat(mfd, "upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lower < 0 || upper < 0)
		return ovl_error(err, errno, "--upper-size: open layers");
	if (ovl_layers_copy_root_meta(lower, upper, err) < 0)
		return ovl_error_wrap(err, "--upper-size: workspace root metadata");
	if (send_fd(sock, mfd) < 0)
		return ovl_error(err, errno, "--upper-size: hand the tmpfs to ovlbox");
	fds->lower = open(l->lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
	fds->upper = openat(mfd, "upper", O_PATH | O_DIRECTORY | O_CLOEXEC);
	fds->work = openat(mfd, "work", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fds->lower < 0 || fds->upper < 0 || fds->work < 0)
		return ovl_error(err, errno, "--upper-size: open layers");
	return 0;
}

/* pid 1 of the new pid namespace: mount, build the view, start the action, reap everything,
 * report. tmpfs_sock >= 0: make the --upper-size tmpfs and send it back through it. */
static void sandbox_init(const struct run_opts *o, const struct ovl_layers *l,
			 const struct ovl_seccomp *filter, bool rootless, int sync_fd,
			 int report_fd, int tmpfs_sock) __attribute__((noreturn));
static void sandbox_init(const struct run_opts *o, const struct ovl_layers *l,
			 const struct ovl_seccomp *filter, bool rootless, int sync_fd,
			 int report_fd, int tmpfs_sock)
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
	if (sethostname(o->hostname, strlen(o->hostname)) < 0) {
		ovl_error(&err, errno, "set hostname %s", ovl_qp(o->hostname));
		init_fail(report_fd, &rep, &err);
	}
	if (!o->net_host && loopback_up(&err) < 0)
		init_fail(report_fd, &rep, &err);
	struct ovl_layer_fds fds = {-1, -1, -1};
	if (tmpfs_sock >= 0 ? make_upper_tmpfs(o, l, &fds, tmpfs_sock, &err) < 0
			    : ovl_layers_open(l, &fds, &err) < 0)
		init_fail(report_fd, &rep, &err);
	if (tmpfs_sock >= 0)
		close(tmpfs_sock);
	/* nosuid, nodev: an action given CAP_MKNOD must not use a device node it made there */
	int ws_mnt = ovl_layers_mount_detached(&fds, rootless, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
					       fds.lower, &err);
	if (ws_mnt < 0) {
		ovl_error_wrap(&err, "workspace %s", ovl_qp(l->lower));
		init_fail(report_fd, &rep, &err);
	}
	ovl_layer_fds_close(&fds);
	struct rootfs_config rc = {.workspace = l->lower,
				   .workspace_mnt = ws_mnt,
				   .private_net = !o->net_host,
				   .mounts = o->mounts,
				   .nmounts = o->nmounts};
	if (rootfs_enter(&rc, &err) < 0)
		init_fail(report_fd, &rep, &err);

	int exec_pipe[2];
	if (pipe2(exec_pipe, O_CLOEXEC) < 0) {
		ovl_error(&err, errno, "pipe");
		init_fail(report_fd, &rep, &err);
	}
	install_handlers(forward_signal);
	pid_t pid = fork();
	if (pid < 0) {
		ovl_error(&err, errno, "fork the action");
		init_fail(report_fd, &rep, &err);
	}
	if (pid == 0) {
		close(exec_pipe[0]);
		close(report_fd);
		exec_action(o, filter, exec_pipe[1]);
	}
	action_pid = pid;
	close(exec_pipe[1]);
	struct exec_failure f = {0};
	if (read(exec_pipe[0], &f, sizeof(f)) == (ssize_t)sizeof(f)) {
		if (f.msg[0]) {
			snprintf(rep.msg, sizeof(rep.msg), "%s", f.msg);
			rep.setup_failed = 1;
		}
		rep.exec_errno = f.errnum;
	}
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
	/* The overlay goes with this mount namespace when init exits: the kernel tears the
	 * namespace down before the parent can reap init, so the parent applies afterwards. */
	getrusage(RUSAGE_CHILDREN, &rep.usage);
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

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Waits for init, enforcing --timeout (SIGTERM to the action) and --kill-after (SIGKILL to the
 * whole pid namespace). */
static void wait_init(pid_t pid, const struct run_opts *o, double start, struct run_result *res)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int stage = 0; /* 0 running, 1 SIGTERM sent, 2 SIGKILL sent */
	while (pidfd >= 0 && o->timeout > 0 && stage < 2) {
		double deadline = start + o->timeout * 1e3 + (stage == 1 ? o->kill_after * 1e3 : 0);
		double left = deadline - now_ms();
		struct pollfd p = {.fd = pidfd, .events = POLLIN};
		int r = left > 0 ? poll(&p, 1, (int)(left + 1)) : 0;
		if (r > 0)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (now_ms() < deadline)
			continue;
		res->timed_out = true;
		if (stage == 0) {
			kill(pid, SIGTERM); /* init forwards it to the action */
			stage = 1;
		} else {
			kill(pid, SIGKILL); /* the pid namespace dies with its init */
			stage = 2;
		}
	}
	if (pidfd >= 0)
		close(pidfd);
}

/* Starts the sandbox and waits for it. Returns 0, or -1 if the sandbox never ran the action. */
static int run_sandbox(const struct run_opts *o, const struct ovl_layers *l,
		       const struct ovl_seccomp *filter, bool rootless, struct run_result *res,
		       int *tmpfs_fd, ovl_error_t *err)
{
	int sync_pipe[2], report_pipe[2], sock[2] = {-1, -1};
	if (pipe2(sync_pipe, O_CLOEXEC) < 0)
		return ovl_error(err, errno, "pipe");
	if (pipe2(report_pipe, O_CLOEXEC) < 0 ||
	    (o->upper_size && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) < 0)) {
		close(sync_pipe[0]);
		close(sync_pipe[1]);
		return ovl_error(err, errno, "pipe");
	}
	unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
			      (o->net_host ? 0 : CLONE_NEWNET) | (rootless ? CLONE_NEWUSER : 0);
	fflush(NULL);
	double start = now_ms();
	pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		int e = errno;
		close(sync_pipe[0]);
		close(sync_pipe[1]);
		close(report_pipe[0]);
		close(report_pipe[1]);
		if (sock[0] >= 0) {
			close(sock[0]);
			close(sock[1]);
		}
		return ovl_error(err, e, "create namespaces for the action%s",
				 rootless ? " (are unprivileged user namespaces disabled?)" : "");
	}
	if (pid == 0) {
		close(sync_pipe[1]);
		close(report_pipe[0]);
		if (sock[0] >= 0)
			close(sock[0]);
		sandbox_init(o, l, filter, rootless, sync_pipe[0], report_pipe[1], sock[1]);
	}
	close(sync_pipe[0]);
	close(report_pipe[1]);
	if (sock[1] >= 0)
		close(sock[1]);
	init_pid = pid;
	install_handlers(relay_signal);

	int r = 0;
	if (rootless && write_id_maps(pid, err) < 0)
		r = -1;
	if (r == 0 && write(sync_pipe[1], "g", 1) != 1)
		r = ovl_error(err, errno, "start the sandbox");
	close(sync_pipe[1]);
	if (r == 0 && sock[0] >= 0)
		*tmpfs_fd = recv_fd(sock[0]); /* -1 if set-up failed first: the report says why */
	if (sock[0] >= 0)
		close(sock[0]);
	if (r < 0)
		kill(pid, SIGKILL);
	else
		wait_init(pid, o, start, res);

	struct init_report rep = {0};
	ssize_t n;
	do
		n = read(report_pipe[0], &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	close(report_pipe[0]);
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		;
	init_pid = 0;
	res->wall_ms = now_ms() - start;
	if (r < 0)
		return -1;
	if (n != (ssize_t)sizeof(rep)) {
		if (!res->timed_out)
			return ovl_error(err, 0, "the sandbox died before reporting (status %d)",
					 status);
		/* killed after --kill-after: the action died of SIGKILL with its namespace */
		res->wait_status = SIGKILL;
		res->usage = ru;
		return 0;
	}
	if (rep.setup_failed)
		return ovl_error(err, 0, "%s", rep.msg);
	res->exec_errno = rep.exec_errno;
	res->wait_status = rep.wait_status;
	res->usage = rep.usage;
	return 0;
}

static int action_exit_code(const struct run_result *res, const struct run_opts *o)
{
	if (res->exec_errno) {
		ovl_errorf("run: %s: %s", ovl_qp(o->argv[0]), strerror(res->exec_errno));
		return res->exec_errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
	}
	if (res->timed_out)
		return EXIT_TIMED_OUT;
	if (WIFSIGNALED(res->wait_status))
		return 128 + WTERMSIG(res->wait_status);
	return WEXITSTATUS(res->wait_status);
}

/* True if path lies in a part of the view that differs from the host's. */
static bool differs_in_sandbox(const struct run_opts *o, const char *path)
{
	static const char *const private[] = {"/tmp/", "/dev/", "/proc/", "/sys/"};
	for (size_t i = 0; i < sizeof(private) / sizeof(private[0]); i++)
		if (strncmp(path, private[i], strlen(private[i])) == 0)
			return true;
	for (size_t i = 0; i < o->nmounts; i++) {
		size_t n = strlen(o->mounts[i].dst);
		if (strncmp(path, o->mounts[i].dst, n) == 0 && path[n] == '/')
			return true;
	}
	return false;
}

/* Looks a command without a slash up on the action's PATH now, so that the action's exec does
 * not walk PATH with failing execve()s under its seccomp filter. Only where the sandbox sees the
 * same file as the host (read-only); otherwise, or when not found, the action's execvpe() decides
 * (and reports 126/127 itself). */
static char *resolve_command(const struct run_opts *o)
{
	const char *cmd = o->argv[0];
	if (strchr(cmd, '/') || o->cwd)
		return NULL;
	const char *path = "/bin:/usr/bin"; /* execvpe's default */
	for (char **e = o->envp; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	cleanup_free char *dirs = strdup(path);
	if (dirs == NULL)
		abort();
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		if (d[0] != '/')
			return NULL; /* relative to the action's cwd: leave it to the action */
		char *full = NULL;
		if (asprintf(&full, "%s/%s", d, cmd) < 0)
			abort();
		struct stat st;
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0 &&
		    !differs_in_sandbox(o, full))
			return full;
		free(full);
	}
	return NULL;
}

/* Brings the layers to a state where a run can start: finishes an interrupted apply, refuses
 * unapplied changes. */
static int ready_layers(const struct ovl_layers *l, bool rootless, bool on_tmpfs, ovl_error_t *err)
{
	int state = ovl_layers_state(l, err);
	if (state < 0)
		return -1;
	if (state == OVL_STATE_PENDING)
		return ovl_error(
		    err, 0,
		    "upper dir %s holds changes that were not applied: run `ovlbox apply "
		    "%s` or `ovlbox discard %s` first",
		    ovl_qp(l->upper), ovl_qp(l->lower), ovl_qp(l->lower));
	if (state == OVL_STATE_JOURNAL) {
		ovl_warn("finishing an interrupted apply of %s first", ovl_qp(l->lower));
		if (apply_locked(l, false, false, NULL, err) < 0)
			return -1;
	}
	return on_tmpfs ? 0 : ovl_layers_prepare(l, rootless, err);
}

/* --upper-size: copies the tmpfs upper onto the workspace's filesystem (a temporary name, then
 * a rename), so the apply can rename from it and a crash before the apply loses nothing that
 * was applied: the workspace is untouched until the copy is complete. */
static int adopt_tmpfs_upper(const struct ovl_layers *l, int tmpfs_fd, bool rootless,
			     ovl_error_t *err)
{
	if (enter_rootless_userns(err) < 0)
		return -1;
	cleanup_close int src = openat(tmpfs_fd, "upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src < 0)
		return ovl_error(err, errno, "--upper-size: open the tmpfs upper");
	cleanup_free char *parent = strdup(l->upper);
	if (parent == NULL)
		abort();
	char *slash = strrchr(parent, '/');
	*slash = '\0';
	cleanup_free char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp", slash + 1) < 0)
		abort();
	cleanup_close int pfd = open(parent[0] ? parent : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return ovl_error(err, errno, "open %s", ovl_qp(parent));
	if (ovl_remove_tree_at(pfd, tmp, err) < 0 || ovl_copy_tree(src, pfd, tmp, err) < 0)
		return ovl_error_wrap(err, "--upper-size: copy the changes to %s",
				      ovl_qp(l->upper));
	if (renameat(pfd, tmp, pfd, slash + 1) < 0)
		return ovl_error(err, errno, "--upper-size: rename into %s", ovl_qp(l->upper));
	return ovl_layers_record_mode(l, rootless, err);
}

/* Carries out --on-exit; fills the change counts for --stats. */
static int finish_layers(const struct run_opts *o, const struct ovl_layers *l,
			 struct run_result *res, ovl_error_t *err)
{
	if (enter_rootless_userns(err) < 0)
		return -1;
	struct ovl_change_counts *counts = o->stats ? &res->changes : NULL;
	if (o->on_exit == ON_EXIT_APPLY) {
		if (apply_locked(l, o->keep_setuid, o->allow_devices, counts, err) < 0)
			return -1;
		res->applied = true;
		return 0;
	}
	if (counts && ovl_diff_counts(l, counts, err) < 0)
		return -1;
	if (o->on_exit == ON_EXIT_DISCARD)
		return ovl_layers_discard(l, err);
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o;
	int r = run_opts_parse(argc, argv, &o);
	if (r != 0)
		return r > 0 ? 0 : EXIT_OVLBOX;
	cleanup_error ovl_error_t err = NULL;
	struct ovl_layers l = {0};
	struct ovl_seccomp *filter = NULL;
	struct run_result res = {0};
	int status = EXIT_OVLBOX;
	bool rootless = geteuid() != 0;
	cleanup_close int lock = -1;
	cleanup_close int tmpfs_fd = -1;
	if (ovl_layers_init(&l, o.workspace_abs, o.upper_abs, o.work_abs, &err) < 0 ||
	    ovl_seccomp_from_arg(o.seccomp, &o.caps, &filter, &err) < 0)
		goto out;
	o.exec_path = resolve_command(&o);
	lock = ovl_layers_lock(&l, &err);
	if (lock < 0 || (rootless && ovl_layers_check_owners(&l, geteuid(), getegid(), &err) < 0) ||
	    ready_layers(&l, rootless, o.upper_size != NULL, &err) < 0)
		goto out;
	if (run_sandbox(&o, &l, filter, rootless, &res, &tmpfs_fd, &err) < 0) {
		/* Nothing ran: leave no upper/work behind. */
		ovl_error_t e2 = NULL;
		if (ovl_layers_discard(&l, &e2) < 0)
			ovl_error_free(&e2);
		goto out;
	}
	res.exit_code = action_exit_code(&res, &o);
	if (tmpfs_fd >= 0 && adopt_tmpfs_upper(&l, tmpfs_fd, rootless, &err) < 0) {
		ovl_error_wrap(&err, "after the action exited with %d", res.exit_code);
		goto out;
	}
	if (finish_layers(&o, &l, &res, &err) < 0) {
		ovl_error_wrap(&err, "after the action exited with %d", res.exit_code);
		goto out;
	}
	status = res.exit_code;
out:
	report(&err);
	if (o.stats && run_write_stats(o.stats, &res, status, &err) < 0)
		report(&err);
	ovl_seccomp_free(filter);
	ovl_layers_free(&l);
	run_opts_free(&o);
	return status;
}
