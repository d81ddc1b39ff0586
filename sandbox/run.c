/* ovlbox run: the action in new namespaces with the overlay over its workspace, a read-only view
 * of the host, no capabilities and a seccomp filter. The parent stays outside, waits until every
 * process of the action is gone, then applies, discards or keeps the changes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ovlbox/alloc.h"
#include "ovlbox/apply.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/copy.h"
#include "ovlbox/diff.h"
#include "ovlbox/fs.h"
#include "ovlbox/layers.h"
#include "ovlbox/log.h"
#include "ovlbox/ns.h"
#include "ovlbox/owner.h"
#include "ovlbox/owners.h"
#include "ovlbox/prepare.h"
#include "ovlbox/ready.h"
#include "ovlbox/seccomp.h"
#include "init.h"
#include "run.h"
#include "runopts.h"
#include "runstats.h"

static volatile sig_atomic_t init_pid;

static void relay_signal(int sig)
{
	if (init_pid > 0)
		kill(init_pid, sig);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail for CLOCK_MONOTONIC */
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The sandbox seen from outside: its init and the pipes to it. */
struct sandbox {
	pid_t pid;
	int sync;   /* unix socket: a byte once the layers are ready, with the work dir's fd; the
		     * work dir's fd again after the report */
	int report; /* unix socket, read: struct init_report */
	int sock;   /* --upper-size: receives the tmpfs */
	int work;   /* the work dir, for init (see sandbox_go); -1 when it gets none */
	bool reaped;
	int status; /* init's, once reaped */
	struct rusage usage;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Clones init into new pid (and, as non-root, user) namespaces; init and the action's process
 * make the others (see init.h). init closes lock, ovlbox's lock fd, at once. Its channels to
 * ovlbox are unix sockets, not pipes: a pipe in init's fd table can be opened again through
 * /proc/1/fd (by an action given CAP_SYS_PTRACE), which would let the action write init's report
 * or read the work dir's fd; a socket cannot be. */
static int sandbox_start(const struct run_opts *o, struct ovl_layers *l, struct ovl_seccomp *filter,
			 bool rootless, int lock, struct sandbox *sb, ovl_error_t *err)
{
	int sync_sock[2], report_sock[2], sock[2] = {-1, -1};
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync_sock) < 0)
		return ovl_error(err, errno, "socketpair");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, report_sock) < 0 ||
	    (o->upper_size && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) < 0)) {
		close(sync_sock[0]);
		close(sync_sock[1]);
		return ovl_error(err, errno, "socketpair");
	}
	/* init (and ovlbox) must not die writing to a pipe whose reader is gone */
	signal(SIGPIPE, SIG_IGN);
	unsigned long flags = CLONE_NEWPID | (rootless ? CLONE_NEWUSER : 0);
	fflush(NULL);

	/* The forwarded signals are blocked until the handler that relays them to init is
	 * installed, and init inherits the mask (see sandbox_init): one that comes meanwhile is
	 * delivered then, rather than killing ovlbox or being lost. */
	forwarded_signals_mask(SIG_BLOCK);
	pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		close(sync_sock[1]);
		close(report_sock[0]);
		close_fd(&sock[0]);
		sandbox_init(o, l, filter, rootless, lock, sync_sock[0], report_sock[1], sock[1]);
	}
	int e = errno;
	close(sync_sock[0]);
	close(report_sock[1]);
	close_fd(&sock[1]);
	*sb = (struct sandbox){.pid = pid,
			       .sync = sync_sock[1],
			       .report = report_sock[0],
			       .sock = sock[0],
			       .work = -1};
	if (pid > 0) {
		init_pid = pid;
		install_handlers(relay_signal);
	}
	forwarded_signals_mask(SIG_UNBLOCK);
	if (pid < 0) {
		sb->reaped = true;
		return ovl_error(err, e, "create namespaces for the action%s",
				 rootless ? " (are unprivileged user namespaces disabled?)" : "");
	}
	/* No waiting for init to run: where a CPU is at hand, init runs while ovlbox prepares;
	 * where none is, it runs once ovlbox blocks, and a handshake would only add a wake-up. */
	return rootless ? ovl_ns_map_root(pid, geteuid(), getegid(), err) : 0;
}

/* Lets init go on: the layers are ready. With them goes the work dir (not when the layers are
 * kept, nor on the --upper-size tmpfs), opened here because in init's namespace it is
 * read-only once the view is built: through it init clears the volatile overlay's marker
 * before it releases the action. init closes it then; it gets it again after its report
 * (sandbox_hand_back_work), to remove overlayfs' scratch dir. A send fails only if init died
 * already; its report (or its absence) says why. */
static void sandbox_go(struct sandbox *sb, const struct ovl_layers *l, const struct run_opts *o,
		       int *tmpfs_fd)
{
	if (!o->upper_size && o->on_exit != OVL_ON_EXIT_KEEP)
		sb->work = fcntl(l->work_fd, F_DUPFD_CLOEXEC, 0);
	if (sb->work < 0 || ovl_send_fd(sb->sync, sb->work) < 0)
		ovl_write_all(sb->sync, "g", 1);
	if (sb->sock >= 0)
		*tmpfs_fd =
		    ovl_recv_fd(sb->sock); /* -1 if set-up failed first: the report says why */
	close_fd(&sb->sock);
}

static void sandbox_reap(struct sandbox *sb)
{
	if (sb->reaped)
		return;
	while (wait4(sb->pid, &sb->status, 0, &sb->usage) < 0 && errno == EINTR)
		;
	sb->reaped = true;
	init_pid = 0;
}

/* After init's report, when it unmounted the workspace: no process of the action is left, so
 * init may have the work dir again (see sandbox_go). Closing the socket tells init there is
 * none. */
static void sandbox_hand_back_work(struct sandbox *sb, bool unmounted)
{
	if (unmounted && sb->work >= 0)
		ovl_send_fd(sb->sync,
			    sb->work); /* fails only if init is gone: nothing to do then */
	close_fd(&sb->sync);
	close_fd(&sb->work);
}

/* Ends the sandbox if it still runs (init dies of SIGKILL, and its pid namespace with it) and
 * reaps init. */
static void sandbox_stop(struct sandbox *sb)
{
	close_fd(&sb->sync);
	close_fd(&sb->work);
	close_fd(&sb->sock);
	close_fd(&sb->report);
	if (!sb->reaped) {
		kill(sb->pid, SIGKILL);
		sandbox_reap(sb);
	}
}

/* Waits until init's report can be read or init is gone, enforcing --timeout (SIGTERM to the
 * action) and --kill-after (SIGKILL to the whole pid namespace). */
static void wait_report(const struct sandbox *sb, const struct run_opts *o, double start,
			struct run_result *res)
{
	int stage = 0; /* 0 running, 1 SIGTERM sent, 2 SIGKILL sent */
	for (;;) {
		int wait_ms = -1;
		if (o->timeout > 0 && stage < 2) {
			double deadline =
			    start + o->timeout * 1e3 + (stage == 1 ? o->kill_after * 1e3 : 0);
			double left = deadline - now_ms();
			if (left <= 0) {
				res->timed_out = true;
				/* SIGTERM: init forwards it to the action; SIGKILL: the pid
				 * namespace dies with its init */
				kill(sb->pid, stage == 0 ? SIGTERM : SIGKILL);
				stage++;
				continue;
			}
			wait_ms = (int)left + 1;
		}
		struct pollfd p = {.fd = sb->report, .events = POLLIN};
		int r = poll(&p, 1, wait_ms);
		if ((r < 0 && errno == EINTR) || r == 0)
			continue;
		return; /* readable: the report, or end of file if init died */
	}
}

/* Waits for the end of the action. Returns 0, or -1 if the sandbox never ran it. Init may
 * still be exiting when this returns (the workspace unmounted already); sandbox_stop() reaps
 * it. */
static int sandbox_wait(struct sandbox *sb, const struct run_opts *o, double start,
			struct run_result *res, ovl_error_t *err)
{
	struct init_report rep = {0};
	wait_report(sb, o, start, res);
	bool reported = ovl_read_all(sb->report, &rep, sizeof(rep)) == 0;
	close_fd(&sb->report);
	sandbox_hand_back_work(sb, reported && rep.unmounted);
	res->wall_ms = now_ms() - start;
	if (!reported || !rep.unmounted)
		sandbox_reap(sb); /* then the overlay went with init's mount namespace */
	if (!reported) {
		if (!res->timed_out)
			return ovl_error(err, 0, "the sandbox died before reporting (status %d)",
					 sb->status);
		/* killed after --kill-after: the action died of SIGKILL with its namespace */
		res->wait_status = SIGKILL;
		res->usage = sb->usage;
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
	for (size_t i = 0; i < N_ELEMENTS(private); i++)
		if (strncmp(path, private[i], strlen(private[i])) == 0)
			return true;
	for (size_t i = 0; i < o->nmounts; i++) {
		size_t n = strlen(o->mounts[i].dst);
		if (strncmp(path, o->mounts[i].dst, n) == 0 && path[n] == '/')
			return true;
	}
	return false;
}

/* Looks a command without a slash up now, so that the action's exec does not walk PATH with
 * failing execve()s under its seccomp filter. The PATH is ovlbox's own, as the README says and
 * as the action's execvpe() would use (glibc's takes the caller's, not envp's), whatever the
 * action's environment or --cwd. Only while the entries are where the sandbox sees the same
 * files as the host (read-only); at the first that is not, or is relative to the cwd (an empty
 * one is "."), or when not found, the action's execvpe() decides (and reports 126/127). */
static char *resolve_command(const struct run_opts *o)
{
	const char *cmd = o->argv[0];
	if (strchr(cmd, '/'))
		return NULL;
	const char *path = getenv("PATH");
	if (path == NULL)
		path = "/bin:/usr/bin"; /* execvpe's default */
	for (const char *d = path;; d++) {
		size_t n = strcspn(d, ":");
		if (d[0] != '/')
			return NULL; /* relative to the action's cwd: leave it to the action */
		char *full = xasprintf("%.*s/%s", (int)n, d, cmd);
		if (differs_in_sandbox(o, full)) {
			free(full); /* what the action finds there is not what the host has */
			return NULL;
		}
		struct stat st;
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
			return full;
		free(full);
		d += n;
		if (*d == '\0')
			return NULL;
	}
}

/* Brings the layers to a state where a run can start: finishes an interrupted apply, refuses
 * unapplied changes. */
static int ready_layers(struct ovl_layers *l, const struct ovl_apply_opts *opts, bool rootless,
			bool on_tmpfs, ovl_error_t *err)
{
	struct ovl_ready_info info;
	int r = ovl_layers_ready(l, OVL_READY_FOR_MOUNT, NULL, opts, &info, err);
	if (r < 0) {
		cli_apply_advice(l, err); /* finishing a journal, or a gone owner's apply */
		return -1;
	}
	if (info.journal)
		ovl_warn("finished an interrupted apply of %s first", ovl_qp(l->lower));
	report_recovered(l, &info);
	if (r == OVL_READY_IN_USE || r == OVL_READY_SWAPPED)
		return refuse_owned(l, r, &info.mark, err);
	if (r == OVL_READY_PENDING) {
		cleanup_free char *apply = cli_layers_cmd(l, "apply");
		cleanup_free char *discard = cli_layers_cmd(l, "discard");
		return ovl_error(err, 0,
				 "upper dir %s holds changes that were not applied: run `%s` or "
				 "`%s` first",
				 ovl_qp(l->upper), apply, discard);
	}
	return on_tmpfs ? 0 : ovl_layers_prepare(l, rootless, NULL, err);
}

/* --upper-size: copies the tmpfs upper onto the workspace's filesystem (a temporary name, then
 * a rename), so the apply can rename from it and a crash before the apply loses nothing that
 * was applied: the workspace is untouched until the copy is complete. */
static int adopt_tmpfs_upper(struct ovl_layers *l, int tmpfs_fd, bool rootless, ovl_error_t *err)
{
	if (enter_rootless_userns(err) < 0)
		return -1;
	cleanup_close int src = openat(tmpfs_fd, "upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src < 0)
		return ovl_error(err, errno, "--upper-size: open the tmpfs upper");
	const char *name = ovl_layers_upper_name(l);
	cleanup_free char *tmp = xasprintf("%s.tmp", name);
	int pfd = l->upper_parent;
	if (ovl_remove_tree_at(pfd, tmp, err) < 0 || ovl_copy_tree(src, pfd, tmp, err) < 0)
		return ovl_error_wrap(err, "--upper-size: copy the changes to %s",
				      ovl_qp(l->upper));
	if (renameat(pfd, tmp, pfd, name) < 0)
		return ovl_error(err, errno, "--upper-size: rename into %s", ovl_qp(l->upper));
	return ovl_layers_record_mode(l, rootless, err);
}

/* The apply options of o: for its own changes and a gone container's it recovers. */
static struct ovl_apply_opts apply_opts(const struct run_opts *o)
{
	return (struct ovl_apply_opts){.keep_setuid = o->keep_setuid,
				       .allow_devices = o->allow_devices};
}

/* Carries out --on-exit; fills the change counts for --stats. */
static int finish_layers(const struct run_opts *o, struct ovl_layers *l, struct run_result *res,
			 ovl_error_t *err)
{
	if (enter_rootless_userns(err) < 0)
		return -1;
	struct ovl_change_counts *counts = o->stats ? &res->changes : NULL;
	if (o->on_exit == OVL_ON_EXIT_APPLY) {
		struct ovl_apply_opts opts = apply_opts(o);
		if (cli_apply(l, &opts, counts, err) < 0)
			return -1;
		res->applied = true;
		return 0;
	}
	if (counts && ovl_diff_counts(l, OVL_XATTR_NS_AUTO, counts, err) < 0)
		return -1;
	if (o->on_exit == OVL_ON_EXIT_DISCARD)
		return ovl_layers_discard(l, err);
	return 0;
}

/* As non-root, before the run: the workspace root must be the caller's (one fstat of ws_fd, the
 * workspace); with --check-owners every entry, which walks the whole workspace. Without it a run
 * costs the same whatever the workspace's size, and entries of other owners are looked for only
 * after an action that failed (look_for_unmapped_owners). */
static int check_owners(const struct run_opts *o, const struct ovl_layers *l, int ws_fd,
			ovl_error_t *err)
{
	if (ovl_owners_check_root(ws_fd, l->lower, geteuid(), getegid(), err) < 0)
		return -1;
	return o->check_owners ? ovl_owners_refuse(ws_fd, geteuid(), getegid(), err) : 0;
}

/* Entries named by a note after a failed rootless action; the rest are counted. */
#define UNMAPPED_NOTES 5

/* After a rootless action that failed: a failure may have been the kernel's EOVERFLOW on an entry
 * of an owner the run could not map, which the action's own message does not explain. Before the
 * apply (ovlbox's ids are still the caller's), so the notes name the owners the entries had. A
 * walk that fails only costs the notes. */
static void look_for_unmapped_owners(const struct ovl_layers *l, int ws_fd,
				     struct ovl_owners *found, struct run_result *res)
{
	ovl_error_t e = NULL;
	if (ovl_owners_collect(ws_fd, l->lower, geteuid(), getegid(), UNMAPPED_NOTES, found, &e) <
	    0) {
		ovl_warn("%s", e->msg);
		ovl_error_free(&e);
		return;
	}
	res->unmapped_owners = (long long)found->total;
}

/* uid, gid: the caller's (ovlbox's own may be 0 by now, in the user namespace of its apply). */
static void print_unmapped_owners(const struct ovl_layers *l, const struct ovl_owners *found,
				  uid_t uid, gid_t gid)
{
	for (size_t i = 0; i < found->n; i++) {
		const struct ovl_owner_entry *e = &found->first[i];
		cleanup_free char *path = xasprintf("%s/%s", l->lower, e->path);
		ovl_errorf("note: %s is owned by %u:%u, which this run cannot map (writes to it "
			   "fail with EOVERFLOW): chown it to %u:%u",
			   ovl_qp(path), (unsigned)e->uid, (unsigned)e->gid, (unsigned)uid,
			   (unsigned)gid);
	}
	if (found->total > found->n)
		ovl_errorf("note: %llu more entries are owned by ids this run cannot map",
			   (unsigned long long)(found->total - found->n));
}

/* One run, from the opening of its layers to its --stats file. */
struct run {
	struct run_opts o;
	struct ovl_layers l;
	struct ovl_seccomp *filter;
	struct run_result res;
	struct ovl_owners unmapped; /* found by look_for_unmapped_owners */
	struct sandbox sb;
	bool rootless;
	int lock;     /* ovlbox's lock on the layers, held for the whole run */
	int tmpfs_fd; /* --upper-size: the tmpfs init made */
};

/* Before the sandbox: the layers opened and locked, their owners checked, a profile file read. */
static int run_prepare(struct run *r, ovl_error_t *err)
{
	struct run_opts *o = &r->o;
	if (ovl_layers_init(&r->l, o->workspace_abs, o->upper_abs, o->work_abs, err) < 0)
		return -1;
	o->exec_path = resolve_command(o);
	if (ovl_layers_open(&r->l, err) < 0)
		return -1;
	r->lock = ovl_layers_lock(&r->l, err);
	if (r->lock < 0 || (r->rootless && check_owners(o, &r->l, r->lock, err) < 0))
		return -1;
	if (o->check_owners)
		r->res.unmapped_owners = 0;
	/* A profile file is read here, where a mistake in it is easy to report; the built-in
	 * profile, which has none, is built in the sandbox. Either is compiled there. */
	if (strcmp(o->seccomp, "default") != 0 &&
	    ovl_seccomp_from_arg(o->seccomp, &o->caps, &r->filter, err) < 0)
		return -1;
	return 0;
}

/* The action in the sandbox, then --on-exit. Returns 0 (r->res.exit_code is the action's) or
 * -1. */
static int run_action(struct run *r, ovl_error_t *err)
{
	const struct run_opts *o = &r->o;
	struct run_result *res = &r->res;
	double start = now_ms();
	struct ovl_apply_opts opts = apply_opts(o);
	/* The sandbox makes its namespaces while the layers are readied; until sandbox_go() it
	 * has changed nothing outside itself. */
	if (sandbox_start(o, &r->l, r->filter, r->rootless, r->lock, &r->sb, err) < 0 ||
	    ready_layers(&r->l, &opts, r->rootless, o->upper_size != NULL, err) < 0)
		return -1;
	sandbox_go(&r->sb, &r->l, o, &r->tmpfs_fd);
	if (sandbox_wait(&r->sb, o, start, res, err) < 0) {
		/* Nothing ran: leave no upper/work behind. */
		sandbox_stop(&r->sb);
		cleanup_error ovl_error_t ignored = NULL;
		ovl_layers_discard(&r->l, &ignored);
		return -1;
	}
	res->exit_code = action_exit_code(res, o);
	if (r->rootless && !o->check_owners && res->exit_code != 0)
		look_for_unmapped_owners(&r->l, r->lock, &r->unmapped, res);
	if ((r->tmpfs_fd >= 0 && adopt_tmpfs_upper(&r->l, r->tmpfs_fd, r->rootless, err) < 0) ||
	    finish_layers(o, &r->l, res, err) < 0)
		return ovl_error_wrap(err, "after the action exited with %d", res->exit_code);
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct run r = {.res = {.unmapped_owners = -1},
			.sb = {.reaped = true, .sync = -1, .report = -1, .sock = -1, .work = -1},
			.rootless = geteuid() != 0,
			.lock = -1,
			.tmpfs_fd = -1};
	int parsed = run_opts_parse(argc, argv, &r.o);
	if (parsed != 0)
		return parsed > 0 ? 0 : EXIT_OVLBOX;
	cleanup_error ovl_error_t err = NULL;
	if (r.o.stats && run_check_stats_path(r.o.stats, &err) < 0) {
		/* Found out after the run, the run's outcome would be lost. */
		report(&err);
		run_opts_free(&r.o);
		return EXIT_OVLBOX;
	}
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (!r.rootless)
		r.res.unmapped_owners = 0; /* root maps every id */
	int status = EXIT_OVLBOX;
	if (run_prepare(&r, &err) == 0 && run_action(&r, &err) == 0)
		status = r.res.exit_code;
	sandbox_stop(&r.sb);
	report(&err);
	print_unmapped_owners(&r.l, &r.unmapped, uid, gid);
	ovl_owners_free(&r.unmapped);
	if (r.o.stats && run_write_stats(r.o.stats, &r.res, status, &err) < 0) {
		report(&err);
		status = EXIT_OVLBOX;
	}
	ovl_closep(&r.lock);
	ovl_closep(&r.tmpfs_fd);
	ovl_seccomp_free(r.filter);
	ovl_layers_free(&r.l);
	run_opts_free(&r.o);
	return status;
}
