/* procs.c - processes run by the agent: iptables, tc, sysctl, ip link and user
 * programs, started inside the agent's own namespace so that nothing waits on
 * the controller.
 *
 * Each process leads its own process group (signals go to the group), reads
 * /dev/null or a pipe the agent writes, and has its stdout and stderr read by
 * the loop, line by line. Exits come through a signalfd for SIGCHLD; `exited`
 * is written once the child has been reaped AND both of its output pipes
 * reached EOF, so it follows every line.
 *
 * The child is made with clone(CLONE_VM | CLONE_VFORK) on a stack of its own,
 * as glibc's posix_spawn does, not with fork(): fork() copies the agent's page
 * tables and makes every page copy-on-write, which cost ~0.5 ms per exec (up to
 * 19 ms when preempted inside it) on a loaded 2-CPU VM, all of it stolen from
 * the plan's next deadline. The agent thread sleeps until the child has called
 * execve (or exited), which takes tens of microseconds: the child only makes
 * async-signal-safe system calls. It stamps CLOCK_REALTIME right before
 * execvp (the "t" of `started`, vDSO) and, if execvp fails, the errno, both
 * into memory the parent reads once clone() returns: so `started` (or the
 * exec error) is known at once, without a status pipe to watch.
 */
#define _GNU_SOURCE
#include "procs.h"
#include "plan.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "fdwatch.h"
#include "util.h"

#define TAIL_BYTES 2048              /* stdoutTail / stderrTail */
#define MAX_LINE_BYTES_OUT 65536     /* a longer line is emitted in pieces */
#define READ_CHUNK 65536
#define MAX_ARGS 4096
#define OUTPUT_GRACE_NS (500LL * 1000000LL) /* after the exit: wait this long for EOF (a grandchild may hold the pipe) */
#define TERM_GRACE_MS 1000           /* agent exit: SIGTERM, then SIGKILL after this */
#define CHILD_STACK_BYTES (256 * 1024) /* the clone child's stack, until execve (execvp's PATH buffer, sanitizers) */

/* One output pipe: the partial line, and the tail kept for error messages. */
struct stream {
	int fd;                  /* -1 at EOF */
	const char *type;        /* "stdout" / "stderr" */
	char *line;
	size_t len;
	char tail[TAIL_BYTES];
	size_t tail_len;
};

/* A write or endStdin waiting for the pipe. */
struct wreq {
	struct wreq *next;
	char *id;
	char *buf;
	size_t len, off;
	int end;                 /* endStdin: close once the writes before it are done */
};

struct proc {
	struct proc *next;
	char *name;
	char *id;                /* the exec command's id */
	char **argv;
	pid_t pid;
	int lines;               /* emit stdout/stderr lines */
	int failed;              /* execvp failed (error reported; no exited) */
	int reaped;
	int wstatus;
	int64_t reaped_us;
	int64_t grace_ns;        /* monotonic deadline for EOF after the exit */
	int finished;            /* exited (or error) written; the name is free */
	int in_fd;               /* stdin pipe, or -1 */
	struct wreq *wq;
	struct stream out, err;
};

static struct proc *procs;
static int chld_fd = -1;      /* signalfd for SIGCHLD */
static int grace_fd = -1;     /* timerfd (monotonic): EOF grace periods */
static char *rbuf;
static void *child_stack;     /* CHILD_STACK_BYTES, reused: CLONE_VFORK returns once the child is done with it */
static int ignored[NSIG];     /* signals ignored when procs_init ran (SIG_IGN survives execve; handlers do not) */
static int nignored;
static struct sched_restore { /* what exec'd programs get back when the agent raised its priority */
	int raised;
	int policy;
	struct sched_param param;
	int nice;
	int rttime_set;               /* RLIMIT_RTTIME as it was before rtguard.c lowered it */
	struct rlimit rttime;
} sched_restore;

static const struct { const char *name; int sig; } SIGNALS[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
	{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "BUS", SIGBUS }, { "FPE", SIGFPE },
	{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "CHLD", SIGCHLD },
	{ "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },
	{ "TTOU", SIGTTOU }, { "URG", SIGURG }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
	{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "SYS", SIGSYS },
};

/* "SIGKILL" for 9 (into buf when it has no name here). */
static const char *signal_name(int sig, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof SIGNALS / sizeof SIGNALS[0]; i++)
		if (SIGNALS[i].sig == sig) {
			snprintf(buf, len, "SIG%s", SIGNALS[i].name);
			return buf;
		}
	snprintf(buf, len, "SIG%d", sig);
	return buf;
}

/* "TERM" or "SIGTERM" -> SIGTERM; -1 when unknown. */
static int parse_signal(const char *s)
{
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof SIGNALS / sizeof SIGNALS[0]; i++)
		if (strcmp(SIGNALS[i].name, s) == 0)
			return SIGNALS[i].sig;
	return -1;
}

static struct proc *find_proc(const char *name)
{
	/* Newest first: a reused name finds its current process. */
	for (struct proc *p = procs; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

int procs_is_running(const char *name)
{
	const struct proc *p = find_proc(name);
	return p != NULL && !p->finished;
}

/* ------------------------------------------------------------------- output */

static void keep_tail(struct stream *st, const char *d, size_t n)
{
	if (n >= TAIL_BYTES) {
		memcpy(st->tail, d + n - TAIL_BYTES, TAIL_BYTES);
		st->tail_len = TAIL_BYTES;
		return;
	}
	if (st->tail_len + n > TAIL_BYTES) {
		size_t drop = st->tail_len + n - TAIL_BYTES;
		memmove(st->tail, st->tail + drop, st->tail_len - drop);
		st->tail_len -= drop;
	}
	memcpy(st->tail + st->tail_len, d, n);
	st->tail_len += n;
}

static void emit_line(struct proc *p, struct stream *st)
{
	struct jbuf b;
	ev_begin(&b, p->name, st->type, p->id);
	jb_key(&b, "text");
	jb_strn(&b, st->line, st->len);
	ev_end(&b);
	st->len = 0;
}

static void take_output(struct proc *p, struct stream *st, const char *d, size_t n)
{
	keep_tail(st, d, n);
	if (!p->lines)
		return;
	for (size_t i = 0; i < n; i++) {
		if (d[i] == '\n') {
			emit_line(p, st);
			continue;
		}
		if (st->line == NULL)
			st->line = xmalloc(MAX_LINE_BYTES_OUT);
		st->line[st->len++] = d[i];
		if (st->len == MAX_LINE_BYTES_OUT)
			emit_line(p, st);
	}
}

static void close_stream(struct proc *p, struct stream *st)
{
	if (st->fd < 0)
		return;
	if (p->lines && st->len > 0)
		emit_line(p, st); /* a last line without its newline */
	fdw_del(st->fd);
	close(st->fd);
	st->fd = -1;
}

static void maybe_finish(struct proc *p);

/* Read what the pipe has (bounded per wakeup, for fairness); EOF closes it. */
static void read_stream(struct proc *p, struct stream *st)
{
	for (int k = 0; k < 16 && st->fd >= 0; k++) {
		ssize_t r = read(st->fd, rbuf, READ_CHUNK);
		if (r > 0) {
			take_output(p, st, rbuf, (size_t)r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		close_stream(p, st);
	}
}

/* ------------------------------------------------------------ exec outcome */

static void close_stdin(struct proc *p)
{
	if (p->in_fd < 0)
		return;
	fdw_del(p->in_fd);
	close(p->in_fd);
	p->in_fd = -1;
}

static void fail_writes(struct proc *p, int err, const char *message);

/* The exec outcome, known as soon as clone() returns: `started` (t = the
 * child's stamp right before execvp), or the exec error and nothing else. */
static void exec_outcome(struct proc *p, int64_t exec_us, int err)
{
	if (err == 0 && exec_us > 0) {
		struct jbuf b;
		ev_begin_at(&b, exec_us, p->name, "started", p->id);
		jb_key(&b, "pid");
		jb_int(&b, p->pid);
		jb_key(&b, "argv");
		jb_arr_begin(&b);
		for (char **a = p->argv; *a != NULL; a++)
			jb_str(&b, *a);
		jb_arr_end(&b);
		ev_end(&b);
		return;
	}
	const char *msg = NULL;
	if (err == 0) {
		err = ECHILD;
		msg = "the child died before exec";
	}
	struct jbuf b;
	ev_error_begin(&b, p->name, p->id, "exec", err, msg);
	jb_key(&b, "argv0");
	jb_str(&b, p->argv[0]);
	ev_end(&b);
	p->failed = 1;
	p->finished = 1; /* the error is the command's last word; the name is free */
	fail_writes(p, EPIPE, "the process never started");
	close_stdin(p);
	/* Nothing to read from a child that is about to _exit(127). */
	p->out.len = p->err.len = 0;
	p->lines = 0;
	close_stream(p, &p->out);
	close_stream(p, &p->err);
}

/* --------------------------------------------------------------------- exit */

static void put_tail(struct jbuf *b, const char *key, const struct stream *st)
{
	jb_key(b, key);
	jb_strn(b, st->tail, st->tail_len);
}

static void arm_grace_timer(void)
{
	int64_t next = -1;
	for (struct proc *p = procs; p != NULL; p = p->next)
		if (p->reaped && !p->finished && (next < 0 || p->grace_ns < next))
			next = p->grace_ns;
	struct itimerspec its = { 0 };
	if (next >= 0) {
		its.it_value.tv_sec = next / 1000000000;
		its.it_value.tv_nsec = next % 1000000000;
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(grace_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* exited, once the child is reaped and its output fully read. */
static void maybe_finish(struct proc *p)
{
	if (p->finished || !p->reaped || p->out.fd >= 0 || p->err.fd >= 0)
		return;
	p->finished = 1;
	fail_writes(p, EPIPE, "the process exited");
	close_stdin(p);
	struct jbuf b;
	ev_begin_at(&b, p->reaped_us, p->name, "exited", p->id);
	jb_key(&b, "pid");
	jb_int(&b, p->pid);
	if (WIFEXITED(p->wstatus)) {
		jb_key(&b, "code");
		jb_int(&b, WEXITSTATUS(p->wstatus));
	} else if (WIFSIGNALED(p->wstatus)) {
		char tmp[16];
		jb_key(&b, "signal");
		jb_str(&b, signal_name(WTERMSIG(p->wstatus), tmp, sizeof tmp));
		if (WCOREDUMP(p->wstatus)) {
			jb_key(&b, "core");
			jb_bool(&b, 1);
		}
	}
	put_tail(&b, "stdoutTail", &p->out);
	put_tail(&b, "stderrTail", &p->err);
	ev_end(&b);
}

static struct proc *find_pid(pid_t pid)
{
	for (struct proc *p = procs; p != NULL; p = p->next)
		if (p->pid == pid && !p->reaped)
			return p;
	return NULL;
}

/* Reap every child that has exited (SIGCHLD coalesces). */
static void reap_children(void)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		struct proc *p = find_pid(pid);
		if (p == NULL)
			continue; /* an orphan we adopted, or already forgotten */
		p->reaped = 1;
		p->wstatus = st;
		p->reaped_us = realtime_us();
		p->grace_ns = monotonic_ns() + OUTPUT_GRACE_NS;
		/* Whatever is in the pipes was written before the exit: read it now. */
		read_stream(p, &p->out);
		read_stream(p, &p->err);
		maybe_finish(p);
	}
	arm_grace_timer();
}

static void on_sigchld(void *ctx, uint32_t events)
{
	(void)ctx;
	(void)events;
	struct signalfd_siginfo si;
	while (read(chld_fd, &si, sizeof si) == (ssize_t)sizeof si)
		;
	reap_children();
}

/* A grandchild kept a pipe open after the process exited: report the exit anyway. */
static void on_grace(void *ctx, uint32_t events)
{
	(void)ctx;
	(void)events;
	uint64_t n;
	if (read(grace_fd, &n, sizeof n) < 0 && errno != EAGAIN)
		return;
	int64_t now = monotonic_ns();
	for (struct proc *p = procs; p != NULL; p = p->next) {
		if (!p->reaped || p->finished || p->grace_ns > now)
			continue;
		read_stream(p, &p->out);
		read_stream(p, &p->err);
		close_stream(p, &p->out);
		close_stream(p, &p->err);
		maybe_finish(p);
	}
	arm_grace_timer();
}

static void on_out(void *ctx, uint32_t events)
{
	(void)events;
	struct proc *p = ctx;
	read_stream(p, &p->out);
	maybe_finish(p);
}

static void on_err(void *ctx, uint32_t events)
{
	(void)events;
	struct proc *p = ctx;
	read_stream(p, &p->err);
	maybe_finish(p);
}

/* -------------------------------------------------------------------- stdin */

static void free_wreq(struct wreq *w)
{
	free(w->id);
	free(w->buf);
	free(w);
}

static void fail_writes(struct proc *p, int err, const char *message)
{
	while (p->wq != NULL) {
		struct wreq *w = p->wq;
		p->wq = w->next;
		struct jbuf b;
		ev_error_begin(&b, p->name, w->id, w->end ? "endStdin" : "write", err, message);
		if (!w->end) {
			jb_key(&b, "n");
			jb_uint(&b, w->off);
		}
		ev_end(&b);
		free_wreq(w);
	}
}

/* Write queued data while the pipe takes it; close at an endStdin. */
static void pump_stdin(struct proc *p)
{
	while (p->wq != NULL && p->in_fd >= 0) {
		struct wreq *w = p->wq;
		if (w->end) {
			close_stdin(p);
			p->wq = w->next;
			emit_simple(p->name, "stdin-closed", w->id);
			free_wreq(w);
			break;
		}
		while (w->off < w->len) {
			ssize_t r = write(p->in_fd, w->buf + w->off, w->len - w->off);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno == EAGAIN) {
				fdw_mod(p->in_fd, EPOLLOUT);
				return;
			}
			if (r < 0) {
				int err = errno;
				close_stdin(p);
				fail_writes(p, err, NULL);
				return;
			}
			w->off += (size_t)r;
		}
		p->wq = w->next;
		struct jbuf b;
		ev_begin(&b, p->name, "written", w->id);
		jb_key(&b, "n");
		jb_uint(&b, w->len);
		ev_end(&b);
		free_wreq(w);
	}
	if (p->in_fd >= 0)
		fdw_mod(p->in_fd, 0);
}

static void on_stdin(void *ctx, uint32_t events)
{
	(void)events;
	pump_stdin(ctx);
}

/* ----------------------------------------------------------------- commands */

/* The process a command names: known, started with stdin when need_stdin. */
static struct proc *need_proc(const struct cmd *c)
{
	if (c->name[0] == '\0') {
		emit_invalid(c, "missing \"name\"");
		return NULL;
	}
	struct proc *p = find_proc(c->name);
	if (p == NULL)
		emit_invalid(c, "no process named \"%s\"", c->name);
	return p;
}

static void queue_wreq(struct proc *p, const struct cmd *c, const char *data, size_t len, int end)
{
	struct wreq *w = xmalloc(sizeof *w);
	*w = (struct wreq){ .id = c->id != NULL ? xstrdup(c->id) : NULL, .len = len, .end = end };
	w->buf = xmalloc(len + 1);
	memcpy(w->buf, data, len);
	struct wreq **pp = &p->wq;
	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = w;
	pump_stdin(p);
}

/* Whether stdin can take a write/endStdin; emits the error when not. */
static int stdin_open(struct proc *p, const struct cmd *c)
{
	int end_queued = 0;
	for (struct wreq *w = p->wq; w != NULL; w = w->next)
		end_queued |= w->end;
	if (p->in_fd >= 0 && !end_queued)
		return 1;
	int gone = p->finished || p->reaped;
	struct jbuf b;
	ev_error_begin(&b, p->name, c->id, c->op, gone ? EPIPE : EBADF,
	               gone ? "the process has exited" : "stdin is not open (exec with stdin: true; not after endStdin)");
	ev_end(&b);
	return 0;
}

void cmd_write(struct agent *a, struct cmd *c)
{
	(void)a;
	struct proc *p = need_proc(c);
	if (p == NULL)
		return;
	const struct jval *v = json_get(c->root, "data");
	if (v == NULL || v->type != J_STR) {
		emit_invalid(c, "\"data\": expected a string");
		return;
	}
	if (stdin_open(p, c))
		queue_wreq(p, c, v->str, v->len, 0);
}

void cmd_end_stdin(struct agent *a, struct cmd *c)
{
	(void)a;
	struct proc *p = need_proc(c);
	if (p != NULL && stdin_open(p, c))
		queue_wreq(p, c, "", 0, 1);
}

void cmd_signal(struct agent *a, struct cmd *c)
{
	(void)a;
	const char *name;
	struct proc *p = need_proc(c);
	if (p == NULL || arg_str(c, "signal", &name, 1) < 0)
		return;
	int sig = parse_signal(name);
	if (sig < 0) {
		emit_invalid(c, "\"signal\": unknown signal \"%s\" (TERM, KILL, INT, HUP, STOP, CONT, USR1...)", name);
		return;
	}
	if (p->reaped || p->failed) {
		struct jbuf b;
		ev_error_begin(&b, p->name, c->id, "signal", ESRCH, "the process has exited");
		ev_end(&b);
		return;
	}
	/* The whole group (kill(2) with -pgid): a shell's children too. */
	if (kill(-p->pid, sig) < 0) {
		emit_syscall_error(p->name, c->id, "signal", "kill", errno);
		return;
	}
	char tmp[16];
	struct jbuf b;
	ev_begin(&b, p->name, "signalled", c->id);
	jb_key(&b, "signal");
	jb_str(&b, signal_name(sig, tmp, sizeof tmp));
	jb_key(&b, "pid");
	jb_int(&b, p->pid);
	ev_end(&b);
}

/* What the clone child needs, and what it tells the parent (shared memory:
 * CLONE_VM; read after clone() returns, when the child has exec'd or exited). */
struct spawn {
	char **argv;
	int in_fd, out_fd, err_fd;
	pid_t parent;
	int keep_priority;         /* the lab's own short command (iptables, tc, sysctl...): runs at the agent's priority */
	volatile int64_t exec_us;  /* CLOCK_REALTIME right before execvp */
	volatile int err;          /* errno of the failed step, 0 if execvp was reached */
};

/* In the child, on its own stack, sharing the agent's memory until execve:
 * only system calls, no allocation, nothing written but *sp. Undo what the
 * agent changed in its own process (blocked signals, SIGPIPE ignored, timer
 * slack, a raised priority), wire the pipes, exec. Not instrumented: ASan
 * would take the switch to this stack for a stack overflow. */
__attribute__((no_sanitize_address))
static int spawn_child(void *arg)
{
	struct spawn *sp = arg;
	sigset_t none;
	sigemptyset(&none);
	setpgid(0, 0);
	/* The agent dying (even SIGKILL) must not leave the program running. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_TIMERSLACK, 0UL); /* the agent's 1 ns slack (plan.c) is not the program's */
	if (getppid() != sp->parent)
		_exit(127);
	for (int i = 0; i < nignored; i++)
		signal(ignored[i], SIG_DFL);
	/* Below the agents (plan.h), above every normal task: the lab's own commands keep this, and
	 * the RLIMIT_RTTIME guard with it (at SCHED_FIFO `iptables -A` takes its ~15 ms of CPU
	 * whatever else runs, where at the normal policy it took 300 ms behind two busy loops, and a
	 * rule meant to be in force at its step's time was not). A program under test execs at this
	 * level too, and the agent gives it the normal policy back as soon as clone() returns
	 * (unraise_child): the agent waits in CLONE_VFORK until the exec, and a child dropped to the
	 * normal policy here made it wait behind every runnable task, ms on a busy machine. */
	if (sched_restore.raised && sched_getscheduler(0) == SCHED_FIFO) {
		struct sched_param cmd = { .sched_priority = COMMAND_FIFO_PRIORITY };
		sched_setscheduler(0, SCHED_FIFO, &cmd);
	}
	int err = 0;
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0 || dup2(sp->in_fd, STDIN_FILENO) < 0 ||
	    dup2(sp->out_fd, STDOUT_FILENO) < 0 || dup2(sp->err_fd, STDERR_FILENO) < 0)
		err = errno;
	/* Nothing else of the agent's (sockets, epoll, timers) reaches the program. */
	if (err == 0 && close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		for (int fd = 3; fd < 4096; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	if (err == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		sp->exec_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
		execvp(sp->argv[0], sp->argv);
		err = errno;
	}
	sp->err = err != 0 ? err : EINVAL;
	_exit(127);
}

/* A program under test (not the lab's own command) gets the agent's original policy, nice and
 * RLIMIT_RTTIME back: right after its exec, from the agent, which preempts it (plan.h). It may
 * have exited already (ESRCH): nothing to do then. */
static void unraise_child(pid_t pid)
{
	if (!sched_restore.raised)
		return;
	sched_setscheduler(pid, sched_restore.policy, &sched_restore.param);
	setpriority(PRIO_PROCESS, (id_t)pid, sched_restore.nice);
	if (sched_restore.rttime_set)
		prlimit(pid, RLIMIT_RTTIME, &sched_restore.rttime, NULL);
}

/* Start argv; returns the pid (sp->exec_us / sp->err tell how far it got), or -1. */
static pid_t spawn(struct spawn *sp)
{
	if (child_stack == NULL) {
		void *st = mmap(NULL, CHILD_STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (st == MAP_FAILED)
			return -1;
		child_stack = st;
	}
	/* No signal may run in the child on the agent's behalf (posix_spawn does the same). */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid = clone(spawn_child, (char *)child_stack + CHILD_STACK_BYTES, CLONE_VM | CLONE_VFORK | SIGCHLD, sp);
	int err = errno;
	if (pid > 0 && !sp->keep_priority)
		unraise_child(pid);
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return pid;
}

static void free_argv(char **argv)
{
	if (argv == NULL)
		return;
	for (char **a = argv; *a != NULL; a++)
		free(*a);
	free(argv);
}

/* argv: a non-empty array of strings without NUL bytes. */
static char **parse_argv(const struct cmd *c)
{
	const struct jval *v = json_get(c->root, "argv");
	if (v == NULL) {
		emit_invalid(c, "missing \"argv\"");
		return NULL;
	}
	if (v->type != J_ARR || v->n == 0 || v->n > MAX_ARGS) {
		emit_invalid(c, "\"argv\": expected a non-empty array of strings");
		return NULL;
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct jval *s = &v->items[i];
		if (s->type != J_STR || strlen(s->str) != s->len || (i == 0 && s->len == 0)) {
			emit_invalid(c, "\"argv\"[%zu]: expected a string without NUL bytes%s", i, i == 0 ? ", non-empty" : "");
			return NULL;
		}
	}
	char **argv = xmalloc((v->n + 1) * sizeof *argv);
	for (size_t i = 0; i < v->n; i++)
		argv[i] = xstrdup(v->items[i].str);
	argv[v->n] = NULL;
	return argv;
}

static void free_proc(struct proc *p)
{
	for (struct wreq *w = p->wq; w != NULL;) {
		struct wreq *next = w->next;
		free_wreq(w);
		w = next;
	}
	free(p->out.line);
	free(p->err.line);
	free_argv(p->argv);
	free(p->name);
	free(p->id);
	free(p);
}

/* Drop finished entries whose name has been taken by a newer process. */
static void forget_finished(const char *name)
{
	for (struct proc **pp = &procs; *pp != NULL;) {
		struct proc *p = *pp;
		if (p->finished && p->reaped && strcmp(p->name, name) == 0) {
			*pp = p->next;
			free_proc(p);
		} else {
			pp = &p->next;
		}
	}
}

void cmd_exec(struct agent *a, struct cmd *c)
{
	int want_stdin = 0, lines = 1, keep_priority = 0;
	if (c->name[0] == '\0') {
		emit_invalid(c, "missing \"name\"");
		return;
	}
	if (arg_bool(c, "stdin", &want_stdin) < 0 || arg_bool(c, "lines", &lines) < 0 || arg_bool(c, "keepPriority", &keep_priority) < 0)
		return;
	if (procs_is_running(c->name) || agent_has_open_socket(a, c->name)) {
		struct jbuf b;
		ev_error_begin(&b, c->name, c->id, "exec", EEXIST,
		               procs_is_running(c->name) ? "a process of this name is running" : "a socket of this name is open");
		ev_end(&b);
		return;
	}
	char **argv = parse_argv(c);
	if (argv == NULL)
		return;
	int op[2] = { -1, -1 }, ep[2] = { -1, -1 }, ip[2] = { -1, -1 };
	const char *call = "pipe2";
	int ok = pipe2(op, O_CLOEXEC) == 0 && pipe2(ep, O_CLOEXEC) == 0;
	if (ok) {
		if (want_stdin) {
			ok = pipe2(ip, O_CLOEXEC) == 0;
		} else {
			call = "open";
			ip[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
			ok = ip[0] >= 0;
		}
	}
	pid_t pid = -1;
	struct spawn sp = { .argv = argv, .in_fd = ip[0], .out_fd = op[1], .err_fd = ep[1], .parent = getpid(), .keep_priority = keep_priority };
	if (ok) {
		call = "clone";
		pid = spawn(&sp);
		ok = pid > 0;
	}
	int err = errno;
	/* The parent keeps the read ends (and stdin's write end). */
	int close_fds[] = { op[1], ep[1], ip[0] };
	for (size_t i = 0; i < sizeof close_fds / sizeof close_fds[0]; i++)
		if (close_fds[i] >= 0)
			close(close_fds[i]);
	if (!ok) {
		int keep_fds[] = { op[0], ep[0], ip[1] };
		for (size_t i = 0; i < sizeof keep_fds / sizeof keep_fds[0]; i++)
			if (keep_fds[i] >= 0)
				close(keep_fds[i]);
		free_argv(argv);
		emit_syscall_error(c->name, c->id, "exec", call, err);
		return;
	}
	/* Also here, so a signal sent before the child ran finds the group (setpgid(2)). */
	setpgid(pid, pid);
	forget_finished(c->name);
	struct proc *p = xmalloc(sizeof *p);
	memset(p, 0, sizeof *p);
	p->name = xstrdup(c->name);
	p->id = c->id != NULL ? xstrdup(c->id) : NULL;
	p->argv = argv;
	p->pid = pid;
	p->lines = lines;
	p->in_fd = ip[1];
	p->out = (struct stream){ .fd = op[0], .type = "stdout" };
	p->err = (struct stream){ .fd = ep[0], .type = "stderr" };
	p->next = procs;
	procs = p;
	exec_outcome(p, sp.exec_us, sp.err);
	if (p->failed)
		return; /* its pipes are closed; the zombie is reaped with the next SIGCHLD */
	int fds[] = { op[0], ep[0], ip[1] };
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			fcntl(fds[i], F_SETFL, O_NONBLOCK);
	fdw_add(op[0], EPOLLIN, on_out, p);
	fdw_add(ep[0], EPOLLIN, on_err, p);
	if (p->in_fd >= 0)
		fdw_add(p->in_fd, 0, on_stdin, p);
}

/* ------------------------------------------------------------ setup / exit */

void procs_restore_sched(int policy, const struct sched_param *param, int nice)
{
	sched_restore.raised = 1;
	sched_restore.policy = policy;
	sched_restore.param = *param;
	sched_restore.nice = nice;
}

void procs_restore_rttime(const struct rlimit *rl)
{
	sched_restore.rttime = *rl;
	sched_restore.rttime_set = 1;
}

int procs_unraise_thread(void)
{
	int err = 0;
	prctl(PR_SET_TIMERSLACK, 0UL); /* back to the default 50 us (plan.c asked for 1 ns) */
	if (!sched_restore.raised)
		return 0;
	/* In Linux the policy and the nice value are per thread: pid 0 (sched)
	 * and the tid (setpriority) are this thread alone. */
	if (sched_setscheduler(0, sched_restore.policy, &sched_restore.param) < 0)
		err = errno;
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), sched_restore.nice) < 0 && err == 0)
		err = errno;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

int procs_init(struct agent *a)
{
	(void)a;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	chld_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	grace_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (chld_fd < 0 || grace_fd < 0)
		return -1;
	rbuf = xmalloc(READ_CHUNK);
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			ignored[nignored++] = sig;
	}
	fdw_add(chld_fd, EPOLLIN, on_sigchld, NULL);
	fdw_add(grace_fd, EPOLLIN, on_grace, NULL);
	return 0;
}

static int any_unfinished(void)
{
	for (struct proc *p = procs; p != NULL; p = p->next)
		if (!p->finished)
			return 1;
	return 0;
}

/* Run the loop's process fds until every process finished or the deadline. */
static void wait_finished(int64_t deadline_ns)
{
	for (;;) {
		reap_children();
		if (!any_unfinished())
			return;
		int64_t left = deadline_ns - monotonic_ns();
		if (left <= 0)
			return;
		fdw_dispatch((int)(left / 1000000) + 1);
	}
}

static void signal_unfinished(int sig)
{
	for (struct proc *p = procs; p != NULL; p = p->next)
		if (!p->finished && !p->reaped)
			kill(-p->pid, sig);
}

unsigned procs_shutdown(void)
{
	unsigned n = 0;
	for (struct proc *p = procs; p != NULL; p = p->next)
		n += !p->finished;
	if (n == 0)
		return 0;
	for (struct proc *p = procs; p != NULL; p = p->next)
		close_stdin(p); /* some programs end at EOF on stdin */
	signal_unfinished(SIGTERM);
	wait_finished(monotonic_ns() + TERM_GRACE_MS * 1000000LL);
	signal_unfinished(SIGKILL);
	wait_finished(monotonic_ns() + TERM_GRACE_MS * 1000000LL);
	/* Still not finished: a grandchild holds a pipe. Its group goes too. */
	for (struct proc *p = procs; p != NULL; p = p->next) {
		if (p->finished)
			continue;
		kill(-p->pid, SIGKILL);
		if (!p->reaped)
			continue;
		close_stream(p, &p->out);
		close_stream(p, &p->err);
		maybe_finish(p);
	}
	return n;
}

void procs_free(void)
{
	while (procs != NULL) {
		struct proc *p = procs;
		procs = p->next;
		if (p->out.fd >= 0)
			close(p->out.fd);
		if (p->err.fd >= 0)
			close(p->err.fd);
		if (p->in_fd >= 0)
			close(p->in_fd);
		free_proc(p);
	}
	free(rbuf);
	rbuf = NULL;
	if (child_stack != NULL)
		munmap(child_stack, CHILD_STACK_BYTES);
	child_stack = NULL;
	if (chld_fd >= 0)
		close(chld_fd);
	if (grace_fd >= 0)
		close(grace_fd);
	chld_fd = grace_fd = -1;
}
