/* The sandbox's init and the action's process (see init.h). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
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
#include <unistd.h>

#include "cli.h"
#include "default_filter.h"
#include "init.h"
#include "ovlbox/alloc.h"
#include "ovlbox/caps.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/fs.h"
#include "ovlbox/log.h"
#include "ovlbox/overlay.h"
#include "ovlbox/prepare.h"
#include "ovlbox/seccomp.h"
#include "rootfs.h"

static volatile sig_atomic_t action_pid;

static void forward_signal(int sig)
{
	if (action_pid > 0)
		kill(action_pid, sig);
}

static const int forwarded_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static void forwarded_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < N_ELEMENTS(forwarded_signals); i++)
		sigaddset(set, forwarded_signals[i]);
}

void install_handlers(void (*fn)(int))
{
	/* SA_RESTART: a forwarded signal must not fail a set-up step with EINTR */
	struct sigaction sa = {.sa_handler = fn, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	/* sigaction fails only for a signal that cannot be caught: none of these */
	for (size_t i = 0; i < N_ELEMENTS(forwarded_signals); i++)
		sigaction(forwarded_signals[i], &sa, NULL);
}

void forwarded_signals_mask(int how)
{
	sigset_t set;
	forwarded_set(&set);
	sigprocmask(how, &set, NULL); /* fails only for an invalid how */
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

/* The action's end of its pipes to init. */
struct action_fds {
	int go;	  /* read: a byte once the view is built */
	int exec; /* write: an exec_failure (closed on exec) */
	int net;  /* write: a byte once the network namespace is up; -1 with --net host */
};

/* The network namespace is made by the action's process, not by init or clone(): it is the
 * slowest namespace for the kernel to make (a whole network stack), and meanwhile init makes its
 * namespaces and builds the view (init joins it before it mounts /sys). */
static int make_net_namespace(int ready_fd, ovl_error_t *err)
{
	if (unshare(CLONE_NEWNET) < 0)
		return ovl_error(err, errno, "create the network namespace");
	if (loopback_up(err) < 0)
		return -1;
	int r = ovl_write_all(ready_fd, "n", 1);
	int e = errno;
	close(ready_fd);
	if (r < 0) /* init is gone: nobody hears of it, but the action must not run */
		return ovl_error(err, e, "tell init the network namespace is up");
	return 0;
}

/* The action's own IPC and UTS namespaces, made here rather than by init, whose making of the
 * view is the longer of the two paths to the exec; init needs neither. */
static int make_ipc_uts_namespaces(const struct run_opts *o, ovl_error_t *err)
{
	if (unshare(CLONE_NEWIPC | CLONE_NEWUTS) < 0)
		return ovl_error(err, errno, "create namespaces for the action");
	if (sethostname(o->hostname, strlen(o->hostname)) < 0)
		return ovl_error(err, errno, "set hostname %s", ovl_qp(o->hostname));
	return 0;
}

/* Moves into init's mount namespace (made after the action's process was forked); the cwd and
 * root become the new mount namespace's. */
static int join_init_namespaces(ovl_error_t *err)
{
	cleanup_close int init = (int)syscall(SYS_pidfd_open, 1, 0);
	if (init < 0 || setns(init, CLONE_NEWNS) < 0)
		return ovl_error(err, errno, "join the sandbox's namespaces");
	return 0;
}

/* --rlimit, as late as possible, so that the limits bind the command, not ovlbox's set-up
 * (nofile=4 would leave it no fd to join the namespaces with); still before the capabilities
 * are dropped, since raising a hard limit needs CAP_SYS_RESOURCE. */
static int set_rlimits(const struct run_opts *o, ovl_error_t *err)
{
	for (size_t i = 0; i < o->nrlimits; i++)
		if (setrlimit(o->rlimits[i].resource, &o->rlimits[i].lim) < 0)
			return ovl_error(err, errno, "--rlimit %s", o->rlimits[i].spec);
	return 0;
}

/* The action's process, forked by init as soon as init runs: what it can do without the view
 * (signals, a new session, the network namespace, compiling the seccomp filter) overlaps
 * init's making of the view; then it waits for go, joins init's namespaces, changes
 * directory, sets limits, drops capabilities, installs seccomp and executes. */
static void exec_action(const struct run_opts *o, struct ovl_seccomp *filter, struct action_fds fds)
    __attribute__((noreturn));
static void exec_action(const struct run_opts *o, struct ovl_seccomp *filter, struct action_fds fds)
{
	ovl_error_t err = NULL;
	/* SIGKILL, SIGSTOP and the C library's own signals refuse: nothing to reset there */
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	/* The forwarded signals stay blocked, as init forked us, until right before execve():
	 * one that comes during the set-up then ends the action (128+N), not the set-up (125). */
	sigset_t fwd;
	forwarded_set(&fwd);
	sigprocmask(SIG_SETMASK, &fwd, NULL);
	/* A new session, so no controlling terminal: the action cannot push input into the
	 * caller's terminal with TIOCSTI (CVE-2017-5226; the default seccomp profile refuses it
	 * too). Ctrl-C still reaches it: ovlbox and init get it and forward it. */
	if (setsid() < 0) {
		ovl_error(&err, errno, "setsid");
		action_fail(fds.exec, 0, &err);
	}
	if ((fds.net >= 0 && make_net_namespace(fds.net, &err) < 0) ||
	    make_ipc_uts_namespaces(o, &err) < 0)
		action_fail(fds.exec, 0, &err);
	/* Here, not in ovlbox: compiling a profile file is the costliest step of the action's
	 * set-up, and here it overlaps init's building of the view. The built-in profile was
	 * compiled at build time. */
	if (strcmp(o->seccomp, "default") == 0 && default_filter(&filter, &err) < 0)
		action_fail(fds.exec, 0, &err);
	if (filter && ovl_seccomp_compile(filter, &err) < 0)
		action_fail(fds.exec, 0, &err);
	char go;
	if (ovl_read_all(fds.go, &go, 1) < 0) /* init failed to build the view */
		_exit(EXIT_OVLBOX);
	close(fds.go);
	if (join_init_namespaces(&err) < 0)
		action_fail(fds.exec, 0, &err);
	const char *cwd = o->cwd ? o->cwd : o->workspace_abs;
	if (chdir(cwd) < 0) {
		ovl_error(&err, errno, "--cwd %s", ovl_qp(cwd));
		action_fail(fds.exec, 0, &err);
	}
	if (set_rlimits(o, &err) < 0 || ovl_caps_restrict(&o->caps, &err) < 0 ||
	    (filter && ovl_seccomp_install(filter, &err) < 0))
		action_fail(fds.exec, 0, &err);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (o->exec_path)
		execve(o->exec_path, o->argv, o->envp);
	else
		execvpe(o->argv[0], o->argv, o->envp);
	int e = errno;
	struct exec_failure f = {.errnum = e};
	ovl_write_all(fds.exec, &f, sizeof(f));
	_exit(e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
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
	if (ovl_send_fd(sock, mfd) < 0)
		return ovl_error(err, errno, "--upper-size: hand the tmpfs to ovlbox");
	fds->lower = open(l->lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
	fds->upper = openat(mfd, "upper", O_PATH | O_DIRECTORY | O_CLOEXEC);
	fds->work = openat(mfd, "work", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fds->lower < 0 || fds->upper < 0 || fds->work < 0)
		return ovl_error(err, errno, "--upper-size: open layers");
	return 0;
}

/* The mount namespace is made by init rather than by clone(), so that ovlbox goes on readying
 * the layers meanwhile where a second CPU is free; the network, IPC and UTS namespaces are the
 * action's (make_net_namespace, make_ipc_uts_namespaces). */
static int make_mount_namespace(ovl_error_t *err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return ovl_error(err, errno, "create namespaces for the action");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return ovl_error(err, errno, "make mounts private");
	return 0;
}

/* init's end of the action's pipes (see struct action_fds). */
struct action {
	pid_t pid;
	int go, exec, net;
};

static void close_pipe(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
}

static int fork_action(const struct run_opts *o, struct ovl_seccomp *filter,
		       const int close_in_child[], size_t nclose, struct action *a,
		       ovl_error_t *err)
{
	int go[2] = {-1, -1}, ex[2] = {-1, -1}, net[2] = {-1, -1};
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(ex, O_CLOEXEC) < 0 ||
	    (!o->net_host && pipe2(net, O_CLOEXEC) < 0)) {
		int e = errno;
		close_pipe(go);
		close_pipe(ex);
		return ovl_error(err, e, "pipe");
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close_pipe(go);
		close_pipe(ex);
		close_pipe(net);
		return ovl_error(err, e, "fork the action");
	}
	if (pid == 0) {
		close(go[1]);
		close(ex[0]);
		if (net[0] >= 0)
			close(net[0]);
		for (size_t i = 0; i < nclose; i++)
			if (close_in_child[i] >= 0)
				close(close_in_child[i]);
		exec_action(o, filter,
			    (struct action_fds){.go = go[0], .exec = ex[1], .net = net[1]});
	}
	close(go[0]);
	close(ex[1]);
	if (net[1] >= 0)
		close(net[1]);
	*a = (struct action){.pid = pid, .go = go[1], .exec = ex[0], .net = net[0]};
	action_pid = pid;
	return 0;
}

/* Why the action's process ended before it was released: the failure it sent, if any. */
static int action_ended(const struct action *a, ovl_error_t *err)
{
	struct exec_failure f = {0};
	if (ovl_read_all(a->exec, &f, sizeof(f)) == 0 && f.msg[0])
		return ovl_error(err, 0, "%s", f.msg);
	return ovl_error(err, 0, "the action's process ended before the sandbox was set up");
}

/* Joins the network namespace the action made, once it is up (rootfs mounts its /sys next). */
static int join_action_net(void *data, ovl_error_t *err)
{
	const struct action *a = data;
	char ready;
	if (ovl_read_all(a->net, &ready, 1) < 0)
		return action_ended(a, err);
	cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, a->pid, 0);
	if (pidfd < 0 || setns(pidfd, CLONE_NEWNET) < 0) {
		if (errno == ESRCH) /* it failed after making the namespace */
			return action_ended(a, err);
		return ovl_error(err, errno, "join the action's network namespace");
	}
	return 0;
}

/* Mounts the workspace overlay (made on the --upper-size tmpfs when tmpfs_sock >= 0) and builds
 * the view around it. Returns the overlay's mount fd. */
static int build_view(const struct run_opts *o, struct ovl_layers *l, bool rootless,
		      const struct action *a, int tmpfs_sock, ovl_error_t *err)
{
	struct ovl_layer_fds fds = {-1, -1, -1};
	/* by path, in init's mount namespace (see ovl_layers_open_paths), checked against the
	 * directories ovlbox opened (upper and work as ovlbox's parent fds hold them now: ovlbox
	 * readied and made them after the clone) */
	if (tmpfs_sock >= 0
		? make_upper_tmpfs(o, l, &fds, tmpfs_sock, err) < 0
		: (ovl_layers_reopen(l, err) < 0 || ovl_layers_open_paths(l, &fds, err) < 0 ||
		   ovl_layers_same_fds(l, &fds, err) < 0)) {
		ovl_layer_fds_close(&fds);
		return -1;
	}
	/* nosuid, nodev: an action given CAP_MKNOD must not use a device node it made there */
	cleanup_close int ws_mnt =
	    ovl_layers_fsmount(&fds, rootless, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
	ovl_layer_fds_close(&fds);
	if (ws_mnt < 0)
		return ovl_error_wrap(err, "workspace %s", ovl_qp(l->lower));
	struct rootfs_config rc = {.workspace = l->lower,
				   .workspace_mnt = ws_mnt,
				   .join_net = o->net_host ? NULL : join_action_net,
				   .join_net_data = (void *)a,
				   .mknod = !rootless,
				   .mounts = o->mounts,
				   .nmounts = o->nmounts};
	if (rootfs_enter(&rc, err) < 0)
		return -1;
	return ovl_steal_fd(&ws_mnt);
}

/* Reaps until the action exits; then no process may outlive it. */
static void reap_all(pid_t action, int *action_status)
{
	for (;;) {
		int status;
		pid_t w = waitpid(-1, &status, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		if (w == action) {
			*action_status = status;
			action_pid = 0;
			kill(-1, SIGKILL);
		}
	}
}

/* Detaches the workspace overlay (and whatever the user mounted on it) from the sandbox's
 * mount tree. With no process left inside, the overlay is gone when this returns, so the
 * parent can apply while the kernel tears the rest of the namespaces down. */
static bool unmount_workspace(int ws_mnt)
{
	char p[OVL_PROC_FD_PATH_MAX];
	ovl_proc_fd_path(p, ws_mnt);
	bool done = umount2(p, MNT_DETACH) == 0;
	close(ws_mnt);
	return done;
}

/* Runs op on the work dir (work_fd, which it closes; -1: none) for what it saves the end of the
 * run: a failure is ignored, the apply's removal of the work dir does it again. */
static void on_work_dir(int work_fd, int (*op)(int, ovl_error_t *))
{
	if (work_fd < 0)
		return;
	ovl_error_t ignored = NULL;
	if (op(work_fd, &ignored) < 0)
		ovl_error_free(&ignored);
	close(work_fd);
}

/* While the action starts would be too late: an action given CAP_SYS_PTRACE reaches init's fds
 * through /proc/1/fd, and the work dir's is on the host's writable mount. So the marker the
 * volatile overlay made in the work dir is removed before the action is released, and the fd
 * closed (ovl_layers_clear_volatile_marker_at: then its two directories need not be freed at the
 * end). */
static void clear_volatile_marker(int work_fd)
{
	on_work_dir(work_fd, ovl_layers_clear_volatile_marker_at);
}

/* After the report, with no process of the action left: ovlbox hands the work dir over again
 * (not when the layers are kept or on the --upper-size tmpfs), and init removes overlayfs'
 * scratch dirs while ovlbox applies, instead of the apply doing it after. ovlbox's apply removes
 * whatever is left, and reaps init before it returns. The fd is closed here, not by _exit:
 * ovlbox removes the work dir while init exits, and whoever drops the last reference frees its
 * block; left to _exit, that could be init, after its namespaces were torn down, with ovlbox
 * waiting for it. */
static void remove_scratch(int sync_fd)
{
	on_work_dir(ovl_recv_fd(sync_fd), ovl_layers_remove_scratch_at);
}

/* What the action's process reports through its exec pipe: a set-up failure, or exec's errno. */
static void read_exec_result(const struct action *a, struct init_report *rep)
{
	struct exec_failure f = {0};
	if (ovl_read_all(a->exec, &f, sizeof(f)) == 0) {
		if (f.msg[0]) {
			snprintf(rep->msg, sizeof(rep->msg), "%s", f.msg);
			rep->setup_failed = 1;
		}
		rep->exec_errno = f.errnum;
	}
	close(a->exec);
}

/* pid 1 of the new pid namespace: forks the action's process at once, makes its namespaces,
 * then (once ovlbox has the layers ready and says so through sync_fd) mounts the overlay and
 * builds the view; releases the action, reaps everything, reports. tmpfs_sock >= 0: make the
 * --upper-size tmpfs and send it back.
 *
 * init holds no fd of the host's mounts while the action runs (an action given CAP_SYS_PTRACE
 * can open them through /proc/1/fd): lock_fd, ovlbox's lock on the workspace inherited through
 * clone(), is closed at once (ovlbox keeps the lock for the run), the work dir's fd before the
 * action is released; its cwd moves to the view's root. The forwarded signals are blocked from
 * before clone() (see sandbox_start) until the action's process exists, so that none is lost: pid 1
 * of a pid namespace would drop one with no handler, and there is no action to forward it to before
 * the fork. */
void sandbox_init(const struct run_opts *o, struct ovl_layers *l, struct ovl_seccomp *filter,
		  bool rootless, int lock_fd, int sync_fd, int report_fd, int tmpfs_sock)
{
	struct init_report rep = {0};
	ovl_error_t err = NULL;
	/* ovlbox killed: init, and the whole sandbox with it, go too */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
		ovl_error(&err, errno, "prctl(PR_SET_PDEATHSIG)");
		init_fail(report_fd, &rep, &err);
	}
	close(lock_fd);
	install_handlers(forward_signal);
	struct action a = {.pid = -1, .go = -1, .exec = -1, .net = -1};
	const int not_for_action[] = {report_fd, tmpfs_sock, sync_fd};
	if (fork_action(o, filter, not_for_action, N_ELEMENTS(not_for_action), &a, &err) < 0)
		init_fail(report_fd, &rep, &err);
	forwarded_signals_mask(SIG_UNBLOCK); /* those that came meanwhile go to the action now */
	if (make_mount_namespace(&err) < 0)
		init_fail(report_fd, &rep, &err);
	int work_fd = ovl_recv_fd(sync_fd);
	if (work_fd < 0 && errno != ENODATA) /* ovlbox gave up */
		_exit(EXIT_OVLBOX);
	int ws_mnt = build_view(o, l, rootless, &a, tmpfs_sock, &err);
	/* init's cwd is ovlbox's, which a private mount of the view may cover (/tmp): the action
	 * must not reach it through /proc/1/cwd */
	if (ws_mnt < 0 || (chdir("/") < 0 && ovl_error(&err, errno, "chdir /") < 0))
		init_fail(report_fd, &rep, &err);
	/* ovlbox's fds of the layers, inherited through clone(): on the host's mounts */
	ovl_layers_close(l);
	if (tmpfs_sock >= 0)
		close(tmpfs_sock);
	if (a.net >= 0)
		close(a.net);
	clear_volatile_marker(work_fd);
	ovl_write_all(a.go, "g", 1); /* EPIPE if the action failed already: exec says why */
	close(a.go);
	read_exec_result(&a, &rep);

	reap_all(a.pid, &rep.wait_status);
	rep.unmounted = unmount_workspace(ws_mnt);
	getrusage(RUSAGE_CHILDREN, &rep.usage); /* cannot fail for RUSAGE_CHILDREN */
	/* a report that cannot be written: ovlbox reads a short one, "died before reporting" */
	ovl_write_all(report_fd, &rep, sizeof(rep));
	if (rep.unmounted)
		remove_scratch(sync_fd);
	_exit(0);
}
