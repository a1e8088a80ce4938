/* tcplab-agent - the lab's socket agent.
 *
 * One process per lab host serves any number of named TCP sockets. Commands
 * arrive as one JSON object per line on stdin; events leave as one JSON
 * object per line on stdout, each with "t" (CLOCK_REALTIME microseconds),
 * "name" (the socket), "type" and, when the command carried one, its "id".
 * Failures carry "errno" (the symbolic name) and "message" (strerror).
 *
 * A single-threaded ppoll() loop drives every socket. Sockets are
 * non-blocking; the "blocking" behaviour of connect and send is emulated by
 * the loop, so one slow socket never holds up another. The agent never
 * forks. SIGPIPE is ignored, so a write to a reset connection is reported as
 * EPIPE. EOF on stdin, SIGTERM or SIGINT close every socket and exit 0.
 *
 * src/agent/protocol.ts documents every command and event; keep both in step.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/sockios.h>
#include <linux/tcp.h>

#include "cmd.h"
#include "errnames.h"
#include "events.h"
#include "fdwatch.h"
#include "json.h"
#include "options.h"
#include "plan.h"
#include "relay.h"
#include "procs.h"
#include "rtguard.h"
#include "sockdiag.h"
#include "tcpinfo.h"
#include "util.h"

#define AGENT_PROTOCOL_VERSION 1
#define MAX_LINE_BYTES (4u << 20)      /* longest command line accepted */
#define READ_CHUNK_BYTES 65536u        /* one recv() */
#define READS_PER_WAKEUP 16            /* fairness: at most 1 MiB per socket per wakeup */
#define ACCEPTS_PER_WAKEUP 64
#define MAX_SEND_BYTES (64u << 20)     /* "bytes" and one-shot "read" limit */
#define MAX_SEND_COUNT 1000000LL
#define FILL_PATTERN_BYTES 65536u      /* untilFull writes this much per call */
#define UNTIL_FULL_MAX_BYTES (1ull << 30)
#define UNTIL_FULL_MAX_NS (5LL * 1000000000LL)

enum kind { K_LISTENER, K_STREAM };

/* Connection state as the agent tracks it (the kernel's is in TCP_INFO). */
enum cstate {
	C_NONE,        /* listener */
	C_CONNECTING,  /* connect() returned EINPROGRESS; the loop watches POLLOUT */
	C_ESTABLISHED, /* connected or accepted */
	C_FAILED,      /* connect failed (reported, or left pending for a nonblock connect) */
};

enum accept_mode { A_AUTO, A_MANUAL, A_NEVER };
static const char *const ACCEPT_MODES[] = { "auto", "manual", "never", NULL };
static const char *const READ_MODES[] = { "pause", "auto", NULL }; /* index = read_auto */
static const char *const SHUT_HOWS[] = { "rd", "wr", "rdwr", NULL }; /* index = SHUT_* */

/* A send command in progress (blocking semantics: the queue head runs first). */
struct sendop {
	struct sendop *next;
	char *id;
	char *buf;               /* the bytes of one repeat; for untilFull a repeating pattern */
	size_t len, off;
	long long count;         /* repeats left, including the current one */
	long long every_ms;
	int64_t due_ns;          /* CLOCK_MONOTONIC time the current repeat may start (0: now) */
	int64_t rep_start_ns;    /* when the current repeat started (0: not yet) */
	int until_full;
	int continue_on_error;   /* a failed repeat does not end the command (a write loop that ignores errors) */
	unsigned long long total;
};

/* A manual accept waiting for the kernel to have a connection. */
struct acceptreq {
	struct acceptreq *next;
	char *id;
	char *as;                /* name for the accepted socket, or NULL */
};

/* A poll command waiting (inside the loop) for readiness. */
struct pollreq {
	int active;
	char *id;
	short events;            /* as requested; POLLERR/POLLHUP/POLLNVAL are always reported */
	int64_t start_ns;
	int64_t deadline_ns;     /* -1: no timeout */
};

struct sock {
	char *name;
	int fd;                  /* -1 once closed: later operations get EBADF from the kernel */
	int closed;
	enum kind kind;
	enum cstate cstate;
	int nonblock_connect;
	char *connect_id;        /* id of the connect command, echoed by connected/error */
	int read_auto;           /* 1: the loop reads what arrives; 0: paused */
	int rd_done;             /* auto reading saw EOF or an error: stop watching */
	unsigned long long rd_total;
	optmask_t optmask;       /* options set explicitly, read back in events */
	/* listener */
	enum accept_mode accept_mode;
	char *as;
	int child_read_auto;
	unsigned naccepted;
	struct acceptreq *accq;
	/* stream */
	struct sendop *sendq;
	int want_out;            /* the queue head is waiting for POLLOUT */
	struct pollreq poll;
};

/* The socket table and the event loop's buffers: the agent's only state. */
struct agent {
	struct sock **socks;
	size_t nsocks, capsocks;
	int sigfd;
	char *line;
	size_t linelen, linecap;
	int line_overlong;
	char *rbuf;              /* READ_CHUNK_BYTES scratch for reads */
	struct pollfd *pfds;
	struct sock **pmap;      /* pfds[i] belongs to pmap[i] (NULL for stdin/signalfd) */
	size_t pcap;
};

/* struct cmd: cmd.h (shared with procs.c and plan.c). */

/* ------------------------------------------------------------------ events */

/* error {op, errno: EINVAL} for a command the agent cannot run as written. */
void emit_invalid(const struct cmd *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct jbuf b;
	ev_error_begin(&b, c->name, c->id, c->op, EINVAL, msg);
	ev_end(&b);
}

/* ---------------------------------------------------------------- addresses */

/* An IPv4 or IPv6 literal ("198.18.0.1", "::1", "[::1]"); no name lookup. */
static int parse_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len = sizeof *in4;
		return 0;
	}
	if (n >= 2 && n < sizeof tmp && host[0] == '[' && host[n - 1] == ']') {
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		host = tmp;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof *in6;
		return 0;
	}
	return -1;
}

/* "198.18.0.1:8000" or "[::1]:8000" (as ss(8) prints them), and the port. */
static int format_endpoint(const struct sockaddr_storage *ss, char *buf, size_t buflen, int *port)
{
	char ip[INET6_ADDRSTRLEN];
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)ss;
		if (inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof ip) == NULL)
			return -1;
		*port = ntohs(in4->sin_port);
		snprintf(buf, buflen, "%s:%d", ip, *port);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		if (inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip) == NULL)
			return -1;
		*port = ntohs(in6->sin6_port);
		snprintf(buf, buflen, "[%s]:%d", ip, *port);
		return 0;
	}
	return -1;
}

/* Append "<key>": "addr:port", "<portkey>": port for getsockname/getpeername;
 * nothing when the call fails (an unconnected socket has no peer). */
static void put_endpoint(struct jbuf *b, int fd, int peer, const char *key, const char *portkey)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char text[INET6_ADDRSTRLEN + 16];
	int port;
	int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len) : getsockname(fd, (struct sockaddr *)&ss, &len);
	if (r < 0 || format_endpoint(&ss, text, sizeof text, &port) < 0)
		return;
	jb_key(b, key);
	jb_str(b, text);
	jb_key(b, portkey);
	jb_int(b, port);
}

static void put_endpoints(struct jbuf *b, int fd)
{
	put_endpoint(b, fd, 0, "local", "lport");
	put_endpoint(b, fd, 1, "peer", "rport");
}

/* ------------------------------------------------------------- socket table */

static struct sock *find_sock(struct agent *a, const char *name)
{
	for (size_t i = 0; i < a->nsocks; i++)
		if (strcmp(a->socks[i]->name, name) == 0)
			return a->socks[i];
	return NULL;
}

int agent_has_open_socket(struct agent *a, const char *name)
{
	const struct sock *s = find_sock(a, name);
	return s != NULL && !s->closed;
}

static void free_pending(struct sock *s)
{
	while (s->sendq != NULL) {
		struct sendop *op = s->sendq;
		s->sendq = op->next;
		free(op->id);
		free(op->buf);
		free(op);
	}
	while (s->accq != NULL) {
		struct acceptreq *r = s->accq;
		s->accq = r->next;
		free(r->id);
		free(r->as);
		free(r);
	}
	free(s->poll.id);
	memset(&s->poll, 0, sizeof s->poll);
	free(s->connect_id);
	s->connect_id = NULL;
}

/* A fresh entry for name: a new one, or the closed socket of that name reused. */
static struct sock *add_sock(struct agent *a, const char *name, int fd, enum kind kind)
{
	struct sock *s = find_sock(a, name);
	if (s != NULL) {
		free_pending(s);
		free(s->as);
		free(s->name);
	} else {
		if (a->nsocks == a->capsocks) {
			a->capsocks = a->capsocks ? a->capsocks * 2 : 16;
			a->socks = xrealloc(a->socks, a->capsocks * sizeof *a->socks);
		}
		s = xmalloc(sizeof *s);
		a->socks[a->nsocks++] = s;
	}
	memset(s, 0, sizeof *s);
	s->name = xstrdup(name);
	s->fd = fd;
	s->kind = kind;
	s->read_auto = 1;
	return s;
}

/* close(2) on a path where an earlier failure is what gets reported. */
static void close_quietly(int fd)
{
	if (close(fd) < 0)
		fprintf(stderr, "tcplab-agent: close(%d): %s\n", fd, strerror(errno));
}

/* Report every operation still pending on s as cancelled (the socket is going away). */
static void cancel_pending(struct sock *s)
{
	for (struct sendop *op = s->sendq; op != NULL; op = op->next) {
		struct jbuf b;
		ev_error_begin(&b, s->name, op->id, "send", ECANCELED, "socket closed before the send finished");
		jb_key(&b, "total");
		jb_uint(&b, op->total);
		jb_key(&b, "done");
		jb_bool(&b, 1);
		ev_end(&b);
	}
	for (struct acceptreq *r = s->accq; r != NULL; r = r->next) {
		struct jbuf b;
		ev_error_begin(&b, s->name, r->id, "accept", ECANCELED, "listener closed before a connection was accepted");
		ev_end(&b);
	}
	if (s->poll.active) {
		struct jbuf b;
		ev_error_begin(&b, s->name, s->poll.id, "poll", ECANCELED, "socket closed while the poll was waiting");
		ev_end(&b);
	}
	if (s->cstate == C_CONNECTING && !s->nonblock_connect) {
		struct jbuf b;
		ev_error_begin(&b, s->name, s->connect_id, "connect", ECANCELED, "socket closed while connecting");
		ev_end(&b);
	}
	free_pending(s);
}

/* ---------------------------------------------------------------- arguments */

/* Whether key is one of the space-separated words of list. */
static int has_word(const char *list, const char *key)
{
	size_t n = strlen(key);
	for (const char *p = list; (p = strstr(p, key)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return 0;
}

/* Reject fields the op does not know (a typo must not be silently ignored). */
static int check_fields(const struct cmd *c, const char *allowed)
{
	for (size_t i = 0; i < c->root->n; i++) {
		const char *k = c->root->keys[i];
		if (strcmp(k, "op") != 0 && strcmp(k, "id") != 0 && !has_word(allowed, k)) {
			emit_invalid(c, "unknown field \"%s\" for op \"%s\" (known: %s)", k, c->op, allowed);
			return -1;
		}
	}
	return 0;
}

/* Each arg_* returns 1 (present), 0 (absent and optional) or -1 (an error event was emitted). */
int arg_str(const struct cmd *c, const char *key, const char **out, int required)
{
	const struct jval *v = json_get(c->root, key);
	if (v == NULL) {
		if (required)
			emit_invalid(c, "missing \"%s\"", key);
		return required ? -1 : 0;
	}
	if (v->type != J_STR || strlen(v->str) != v->len || v->len == 0) {
		emit_invalid(c, "\"%s\": expected a non-empty string, got %s", key, json_type_name(v->type));
		return -1;
	}
	*out = v->str;
	return 1;
}

int arg_int(const struct cmd *c, const char *key, long long min, long long max, int required,
            long long *out)
{
	const struct jval *v = json_get(c->root, key);
	if (v == NULL) {
		if (required)
			emit_invalid(c, "missing \"%s\"", key);
		return required ? -1 : 0;
	}
	/* Range first: converting an out-of-range double to an integer is undefined. */
	if (v->type != J_NUM || v->num < (double)min || v->num > (double)max || v->num != floor(v->num)) {
		emit_invalid(c, "\"%s\": expected an integer from %lld to %lld", key, min, max);
		return -1;
	}
	*out = (long long)v->num;
	return 1;
}

int arg_bool(const struct cmd *c, const char *key, int *out)
{
	const struct jval *v = json_get(c->root, key);
	if (v == NULL)
		return 0;
	if (v->type != J_BOOL) {
		emit_invalid(c, "\"%s\": expected true or false, got %s", key, json_type_name(v->type));
		return -1;
	}
	*out = v->boolean;
	return 1;
}

/* A string from choices; *out is its index. */
static int arg_enum(const struct cmd *c, const char *key, const char *const *choices, int *out)
{
	const char *s;
	int r = arg_str(c, key, &s, 0);
	if (r <= 0)
		return r;
	for (int i = 0; choices[i] != NULL; i++) {
		if (strcmp(choices[i], s) == 0) {
			*out = i;
			return 1;
		}
	}
	emit_invalid(c, "\"%s\": unknown value \"%s\"", key, s);
	return -1;
}

int arg_object(const struct cmd *c, const char *key, const struct jval **out)
{
	const struct jval *v = json_get(c->root, key);
	if (v == NULL)
		return 0;
	if (v->type != J_OBJ) {
		emit_invalid(c, "\"%s\": expected an object, got %s", key, json_type_name(v->type));
		return -1;
	}
	*out = v;
	return 1;
}

/* The socket a command names; an unknown name is an error event. */
static struct sock *need_sock(struct agent *a, const struct cmd *c)
{
	if (c->name[0] == '\0') {
		emit_invalid(c, "missing \"name\"");
		return NULL;
	}
	struct sock *s = find_sock(a, c->name);
	if (s == NULL)
		emit_invalid(c, "no socket named \"%s\"", c->name);
	return s;
}

/* A name for a new socket: free, or used by a closed socket. */
static int need_new_name(struct agent *a, const struct cmd *c)
{
	if (c->name[0] == '\0') {
		emit_invalid(c, "missing \"name\"");
		return -1;
	}
	struct sock *s = find_sock(a, c->name);
	if (s != NULL && !s->closed) {
		struct jbuf b;
		ev_error_begin(&b, c->name, c->id, c->op, EEXIST, "a socket of this name is open (close it first)");
		ev_end(&b);
		return -1;
	}
	if (procs_is_running(c->name)) {
		struct jbuf b;
		ev_error_begin(&b, c->name, c->id, c->op, EEXIST, "a running process has this name");
		ev_end(&b);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ options */

/* Set one option; an error event names the option. */
static int apply_opt(const struct cmd *c, int fd, const struct optdef *d, const struct jval *v, optmask_t *mask)
{
	char msg[256];
	int r = opt_set(fd, d, v, msg, sizeof msg);
	if (r == -2) {
		emit_invalid(c, "%s", msg);
		return -1;
	}
	if (r < 0) {
		struct jbuf b;
		ev_error_begin(&b, c->name, c->id, c->op, errno, NULL);
		jb_key(&b, "syscall");
		jb_str(&b, "setsockopt");
		jb_key(&b, "opt");
		jb_str(&b, d->key);
		ev_end(&b);
		return -1;
	}
	*mask |= (optmask_t)1 << opt_index(d);
	return 0;
}

/* Set every option of an "opts" object, in the order written. */
static int apply_opts(const struct cmd *c, int fd, const struct jval *opts, optmask_t *mask)
{
	if (opts == NULL)
		return 0;
	for (size_t i = 0; i < opts->n; i++) {
		const struct optdef *d = opt_find(opts->keys[i]);
		if (d == NULL || strcmp(d->key, opts->keys[i]) != 0) {
			emit_invalid(c, "unknown option \"%s\"", opts->keys[i]);
			return -1;
		}
		if (apply_opt(c, fd, d, &opts->items[i], mask) < 0)
			return -1;
	}
	return 0;
}

/* ---------------------------------------------------------- listen / accept */

/* Options (reuseaddr on unless given), bind, listen. Returns 0, or -1 after an error event. */
static int setup_listener(const struct cmd *c, int fd, const struct sockaddr_storage *ss, socklen_t sslen,
                          const struct jval *opts, int backlog, optmask_t *mask)
{
	struct jval yes = { .type = J_BOOL, .boolean = 1 };
	/* socket(7) SO_REUSEADDR: on by default for listeners, as servers do. */
	if (json_get(opts, "reuseaddr") == NULL && apply_opt(c, fd, opt_find("reuseaddr"), &yes, mask) < 0)
		return -1;
	if (apply_opts(c, fd, opts, mask) < 0)
		return -1;
	if (bind(fd, (const struct sockaddr *)ss, sslen) < 0) {
		emit_syscall_error(c->name, c->id, "listen", "bind", errno);
		return -1;
	}
	if (listen(fd, backlog) < 0) {
		emit_syscall_error(c->name, c->id, "listen", "listen", errno);
		return -1;
	}
	return 0;
}

static void cmd_listen(struct agent *a, struct cmd *c)
{
	const char *addr = "0.0.0.0", *as = NULL;
	long long port = 0, backlog = 128;
	int accept_mode = A_AUTO, read_auto = 1;
	const struct jval *opts = NULL;
	if (need_new_name(a, c) < 0 || arg_int(c, "port", 0, 65535, 1, &port) < 0 ||
	    arg_str(c, "addr", &addr, 0) < 0 || arg_int(c, "backlog", 0, INT_MAX, 0, &backlog) < 0 ||
	    arg_enum(c, "accept", ACCEPT_MODES, &accept_mode) < 0 || arg_str(c, "as", &as, 0) < 0 ||
	    arg_enum(c, "read", READ_MODES, &read_auto) < 0 || arg_object(c, "opts", &opts) < 0)
		return;
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (parse_addr(addr, (int)port, &ss, &sslen) < 0) {
		emit_invalid(c, "\"addr\": not an IPv4 or IPv6 address: %s", addr);
		return;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0) {
		emit_syscall_error(c->name, c->id, "listen", "socket", errno);
		return;
	}
	optmask_t mask = 0;
	if (setup_listener(c, fd, &ss, sslen, opts, (int)backlog, &mask) < 0) {
		close_quietly(fd);
		return;
	}
	struct sock *s = add_sock(a, c->name, fd, K_LISTENER);
	s->accept_mode = (enum accept_mode)accept_mode;
	s->as = as != NULL ? xstrdup(as) : xasprintf("%s-conn", c->name);
	s->child_read_auto = read_auto;
	s->optmask = mask;
	struct jbuf b;
	ev_begin(&b, s->name, "listening", c->id);
	put_endpoint(&b, fd, 0, "local", "lport");
	opt_put_readback(fd, mask, &b);
	ev_end(&b);
}

/* The name of the next accepted socket: `as` (or the listener's) if free,
 * else with -2, -3... (the listener's counter numbers its connections). */
static char *child_name(struct agent *a, struct sock *l, const char *as)
{
	if (as != NULL) {
		char *name = xstrdup(as);
		for (unsigned k = 2; find_sock(a, name) != NULL; k++) {
			free(name);
			name = xasprintf("%s-%u", as, k);
		}
		return name;
	}
	for (;;) {
		unsigned n = ++l->naccepted;
		char *name = n == 1 ? xstrdup(l->as) : xasprintf("%s-%u", l->as, n);
		if (find_sock(a, name) == NULL)
			return name;
		free(name);
	}
}

/* accept4() one connection and announce it. Returns 0, or -1 with errno. */
static int accept_one(struct agent *a, struct sock *l, const char *as, const char *id)
{
	int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return -1;
	char *name = child_name(a, l, as);
	struct sock *s = add_sock(a, name, fd, K_STREAM);
	free(name);
	s->cstate = C_ESTABLISHED;
	s->read_auto = l->child_read_auto;
	s->optmask = l->optmask;
	struct jbuf b;
	ev_begin(&b, s->name, "accepted", id);
	jb_key(&b, "listener");
	jb_str(&b, l->name);
	put_endpoints(&b, fd);
	opt_put_readback(fd, s->optmask, &b);
	ev_end(&b);
	return 0;
}

/* accept(2) errors that concern one connection, not the listener. */
static int is_transient_accept_error(int err)
{
	return err == EINTR || err == ECONNABORTED || err == EPROTO;
}

/* Accept what the listener's mode asks for, now that it is readable. */
static void service_listener(struct agent *a, struct sock *l)
{
	if (l->accept_mode == A_AUTO) {
		for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
			if (accept_one(a, l, NULL, NULL) == 0)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (is_transient_accept_error(errno))
				continue;
			/* Retrying would spin (EMFILE...): stop accepting by itself. */
			struct jbuf b;
			ev_error_begin(&b, l->name, NULL, "accept", errno, NULL);
			jb_key(&b, "stopped");
			jb_bool(&b, 1);
			ev_end(&b);
			l->accept_mode = A_MANUAL;
			return;
		}
		return;
	}
	while (l->accq != NULL) {
		struct acceptreq *r = l->accq;
		if (accept_one(a, l, r->as, r->id) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (is_transient_accept_error(errno))
				continue;
			emit_error(l->name, r->id, "accept", errno);
		}
		l->accq = r->next;
		free(r->id);
		free(r->as);
		free(r);
	}
}

static void cmd_accept(struct agent *a, struct cmd *c)
{
	const char *as = NULL;
	struct sock *l = need_sock(a, c);
	if (l == NULL || arg_str(c, "as", &as, 0) < 0)
		return;
	if (l->closed || l->kind != K_LISTENER) {
		/* Let the kernel say what accept() on this descriptor does (EBADF, EINVAL). */
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			close_quietly(fd);
			emit_invalid(c, "\"%s\" is not a listener", c->name);
		} else {
			emit_error(c->name, c->id, "accept", errno);
		}
		return;
	}
	if (l->accept_mode != A_MANUAL) {
		emit_invalid(c, "listener \"%s\" was created with accept: %s", c->name, ACCEPT_MODES[l->accept_mode]);
		return;
	}
	struct acceptreq *r = xmalloc(sizeof *r), **tail = &l->accq;
	r->next = NULL;
	r->id = c->id != NULL ? xstrdup(c->id) : NULL;
	r->as = as != NULL ? xstrdup(as) : NULL;
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = r;
	service_listener(a, l);
}

/* ------------------------------------------------------------------ connect */

static void announce_connected(struct sock *s)
{
	s->cstate = C_ESTABLISHED;
	struct jbuf b;
	ev_begin(&b, s->name, "connected", s->connect_id);
	put_endpoints(&b, s->fd);
	opt_put_readback(s->fd, s->optmask, &b);
	ev_end(&b);
	free(s->connect_id);
	s->connect_id = NULL;
}

/* Bind the source port (sport) on the wildcard address of the family. */
static int bind_source_port(int fd, int family, int sport)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (parse_addr(family == AF_INET6 ? "::" : "0.0.0.0", sport, &ss, &len) < 0) {
		errno = EINVAL;
		return -1;
	}
	return bind(fd, (struct sockaddr *)&ss, len);
}

static void cmd_connect(struct agent *a, struct cmd *c)
{
	const char *host = NULL;
	long long port = 0, sport = 0;
	int nonblock = 0, read_auto = 1;
	const struct jval *opts = NULL;
	if (need_new_name(a, c) < 0 || arg_str(c, "host", &host, 1) < 0 ||
	    arg_int(c, "port", 1, 65535, 1, &port) < 0 || arg_int(c, "sport", 0, 65535, 0, &sport) < 0 ||
	    arg_bool(c, "nonblock", &nonblock) < 0 || arg_enum(c, "read", READ_MODES, &read_auto) < 0 ||
	    arg_object(c, "opts", &opts) < 0)
		return;
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (parse_addr(host, (int)port, &ss, &sslen) < 0) {
		emit_invalid(c, "\"host\": not an IPv4 or IPv6 address: %s", host);
		return;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0) {
		emit_syscall_error(c->name, c->id, "connect", "socket", errno);
		return;
	}
	optmask_t mask = 0;
	if (apply_opts(c, fd, opts, &mask) < 0) {
		close_quietly(fd);
		return;
	}
	if (sport != 0 && bind_source_port(fd, ss.ss_family, (int)sport) < 0) {
		emit_syscall_error(c->name, c->id, "connect", "bind", errno);
		close_quietly(fd);
		return;
	}
	/* Taken before connect(): the first SYN leaves inside the call, so this is
	 * the earliest moment the socket's 4-tuple can be on the wire. */
	int64_t issued_us = realtime_us();
	int err = connect(fd, (struct sockaddr *)&ss, sslen) < 0 ? errno : 0;
	/* From here the socket exists under its name, whatever connect() said. */
	struct sock *s = add_sock(a, c->name, fd, K_STREAM);
	s->read_auto = read_auto;
	s->optmask = mask;
	s->nonblock_connect = nonblock;
	s->connect_id = c->id != NULL ? xstrdup(c->id) : NULL;
	if (err == 0) {
		announce_connected(s);
	} else if (err == EINPROGRESS) {
		s->cstate = C_CONNECTING;
		/* Every connect in progress is announced with its full 4-tuple (the
		 * peer is the target), so the handshake's packets and SYN-SENT rows
		 * carry the name even when the connection never completes. Only a
		 * nonblock connect returned EINPROGRESS to its caller. */
		struct jbuf b;
		char peer[INET6_ADDRSTRLEN + 16];
		int rport = 0;
		ev_begin(&b, s->name, "connecting", c->id);
		put_endpoint(&b, fd, 0, "local", "lport");
		if (format_endpoint(&ss, peer, sizeof peer, &rport) == 0) {
			jb_key(&b, "peer");
			jb_str(&b, peer);
			jb_key(&b, "rport");
			jb_int(&b, rport);
		}
		jb_key(&b, "issuedUs");
		jb_int(&b, issued_us);
		jb_key(&b, "blocking");
		jb_bool(&b, !nonblock);
		if (nonblock)
			put_errno(&b, EINPROGRESS, NULL);
		opt_put_readback(fd, mask, &b);
		ev_end(&b);
	} else {
		s->cstate = C_FAILED;
		emit_syscall_error(s->name, c->id, "connect", "connect", err);
	}
}

/* The handshake ended (POLLOUT/POLLERR on a connecting socket). A blocking
 * connect reports the outcome, consuming SO_ERROR as connect() would. A
 * nonblock connect announces success (getpeername works) but leaves a failure
 * pending for poll / getsockopt SO_ERROR / read / send to find. */
static void finish_connect(struct sock *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int connected = getpeername(s->fd, (struct sockaddr *)&ss, &len) == 0;
	if (s->nonblock_connect) {
		if (connected) {
			announce_connected(s);
		} else {
			s->cstate = C_FAILED;
			free(s->connect_id);
			s->connect_id = NULL;
		}
		return;
	}
	int err = 0;
	socklen_t errlen = sizeof err;
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
		err = errno;
	if (err == 0 && connected) {
		announce_connected(s);
		return;
	}
	if (err == 0)
		return; /* spurious wakeup: still connecting */
	s->cstate = C_FAILED;
	emit_error(s->name, s->connect_id, "connect", err);
	free(s->connect_id);
	s->connect_id = NULL;
}

/* --------------------------------------------------------------------- send */

static void pop_send(struct sock *s)
{
	struct sendop *op = s->sendq;
	s->sendq = op->next;
	free(op->id);
	free(op->buf);
	free(op);
}

/* error op "send" with the total so far; done tells whether the command ends with it. */
static void emit_send_error(struct sock *s, struct sendop *op, int err, int done)
{
	struct jbuf b;
	ev_error_begin(&b, s->name, op->id, "send", err, NULL);
	jb_key(&b, "total");
	jb_uint(&b, op->total);
	jb_key(&b, "done");
	jb_bool(&b, done);
	ev_end(&b);
}

/* Write non-blocking until the kernel says EAGAIN (or a safety bound), then
 * report once: sent {n, total, full}. Returns 0 when the command is over, 1
 * when its slice is (rtg_slice_over): the loop comes back to it at once, but
 * turns in between (deadlines, other sockets, the real-time guard). */
static int send_until_full(struct sock *s, struct sendop *op)
{
	int64_t start = op->rep_start_ns, slice = monotonic_ns();
	/* When the repeat's first send() was issued (rep_start_ns, on the realtime clock):
	 * a run cut into slices reports once, for all of them. */
	int64_t issued_us = realtime_us() - (monotonic_ns() - start) / 1000;
	int full = 0;
	for (;;) {
		ssize_t w = send(s->fd, op->buf + op->off, op->len - op->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				full = 1;
				break;
			}
			emit_send_error(s, op, errno, 1);
			return 0;
		}
		op->total += (unsigned long long)w;
		op->off = (op->off + (size_t)w) % op->len;
		/* A peer that keeps reading would keep us here forever. */
		if (op->total >= UNTIL_FULL_MAX_BYTES || monotonic_ns() - start > UNTIL_FULL_MAX_NS)
			break;
		if (rtg_slice_over(slice))
			return 1;
	}
	struct jbuf b;
	ev_begin(&b, s->name, "sent", op->id);
	jb_key(&b, "n");
	jb_uint(&b, op->total);
	jb_key(&b, "total");
	jb_uint(&b, op->total);
	jb_key(&b, "issuedUs");
	jb_int(&b, issued_us);
	jb_key(&b, "full");
	jb_bool(&b, full);
	jb_key(&b, "done");
	jb_bool(&b, 1);
	ev_end(&b);
	return 0;
}

/* The current repeat is over (written, or failed with continueOnError): the
 * next one starts everyMs after this one started. */
static void next_repeat(struct sendop *op)
{
	op->count--;
	op->off = 0;
	op->due_ns = op->rep_start_ns + op->every_ms * 1000000LL;
	op->rep_start_ns = 0;
}

/* Make progress on the send queue: write while the kernel takes bytes and
 * repeats are due; on EAGAIN wait for POLLOUT (blocking semantics). */
static void pump_send(struct sock *s)
{
	int64_t now = monotonic_ns(), slice = now;
	struct sendop *op;
	s->want_out = 0;
	while ((op = s->sendq) != NULL) {
		if (op->due_ns > now)
			return;
		/* A peer that keeps taking the bytes of count repeats (everyMs 0):
		 * the rest at the next turn of the loop (the op is still due). */
		if (rtg_slice_over(slice))
			return;
		if (op->rep_start_ns == 0)
			op->rep_start_ns = now;
		if (op->until_full) {
			if (send_until_full(s, op) == 0)
				pop_send(s);
			else
				return;
			continue;
		}
		/* Taken before send(): the segment it transmits leaves inside the call,
		 * before the event's own time (taken when it is written). */
		int64_t issued_us = realtime_us();
		ssize_t w = send(s->fd, op->buf + op->off, op->len - op->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				s->want_out = 1;
				return;
			}
			int more = op->continue_on_error && op->count > 1;
			emit_send_error(s, op, errno, !more);
			if (!more)
				pop_send(s);
			else
				next_repeat(op);
			now = monotonic_ns();
			continue;
		}
		op->off += (size_t)w;
		op->total += (unsigned long long)w;
		int last = op->off == op->len && op->count == 1;
		struct jbuf b;
		ev_begin(&b, s->name, "sent", op->id);
		jb_key(&b, "n");
		jb_int(&b, (long long)w);
		jb_key(&b, "total");
		jb_uint(&b, op->total);
		jb_key(&b, "issuedUs");
		jb_int(&b, issued_us);
		if (last) {
			jb_key(&b, "done");
			jb_bool(&b, 1);
		}
		ev_end(&b);
		if (op->off < op->len)
			continue;
		if (op->count == 1) {
			pop_send(s);
			continue;
		}
		next_repeat(op);
		now = monotonic_ns();
	}
}

/* The bytes of one repeat: data, or n bytes of 'x'. For untilFull, a
 * pattern of whole copies of data (or 'x') at least FILL_PATTERN_BYTES long,
 * so that writing from any offset keeps the stream a repetition of data. */
static void fill_sendop(struct sendop *op, const char *data, size_t datalen, size_t nbytes)
{
	if (!op->until_full) {
		op->len = data != NULL ? datalen : nbytes;
		op->buf = xmalloc(op->len);
		if (data != NULL)
			memcpy(op->buf, data, datalen);
		else
			memset(op->buf, 'x', nbytes);
		return;
	}
	if (data == NULL) {
		op->len = FILL_PATTERN_BYTES;
		op->buf = xmalloc(op->len);
		memset(op->buf, 'x', op->len);
		return;
	}
	size_t copies = FILL_PATTERN_BYTES / datalen + 1;
	op->len = copies * datalen;
	op->buf = xmalloc(op->len);
	for (size_t i = 0; i < copies; i++)
		memcpy(op->buf + i * datalen, data, datalen);
}

static void cmd_send(struct agent *a, struct cmd *c)
{
	long long nbytes = -1, count = 1, every_ms = 0;
	int until_full = 0, continue_on_error = 0;
	struct sock *s = need_sock(a, c);
	if (s == NULL || arg_int(c, "bytes", 0, MAX_SEND_BYTES, 0, &nbytes) < 0 ||
	    arg_int(c, "count", 1, MAX_SEND_COUNT, 0, &count) < 0 ||
	    arg_int(c, "everyMs", 0, 86400000, 0, &every_ms) < 0 || arg_bool(c, "untilFull", &until_full) < 0 ||
	    arg_bool(c, "continueOnError", &continue_on_error) < 0)
		return;
	const struct jval *data = json_get(c->root, "data");
	if (data != NULL && data->type != J_STR) {
		emit_invalid(c, "\"data\": expected a string, got %s", json_type_name(data->type));
		return;
	}
	if ((data != NULL) == (nbytes >= 0) && !(until_full && data == NULL)) {
		emit_invalid(c, "give exactly one of \"data\" and \"bytes\"");
		return;
	}
	if (until_full && data != NULL && data->len == 0) {
		emit_invalid(c, "\"untilFull\" needs non-empty \"data\" (or none)");
		return;
	}
	struct sendop *op = xmalloc(sizeof *op), **tail = &s->sendq;
	memset(op, 0, sizeof *op);
	op->id = c->id != NULL ? xstrdup(c->id) : NULL;
	op->count = until_full ? 1 : count;
	op->every_ms = every_ms;
	op->until_full = until_full;
	op->continue_on_error = continue_on_error;
	fill_sendop(op, data != NULL ? data->str : NULL, data != NULL ? data->len : 0,
	            nbytes >= 0 ? (size_t)nbytes : 0);
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = op;
	if (s->sendq == op)
		pump_send(s);
}

/* --------------------------------------------------------------------- read */

static void emit_read(struct sock *s, const char *id, size_t n)
{
	struct jbuf b;
	ev_begin(&b, s->name, "read", id);
	jb_key(&b, "n");
	jb_uint(&b, n);
	jb_key(&b, "total");
	jb_uint(&b, s->rd_total);
	ev_end(&b);
}

/* Auto mode: read what is there (coalesced into one event per wakeup); after
 * EOF or an error the socket is no longer watched for reading. */
static void auto_read(struct agent *a, struct sock *s)
{
	size_t n = 0;
	int eof = 0, err = 0;
	for (int i = 0; i < READS_PER_WAKEUP; i++) {
		ssize_t r = recv(s->fd, a->rbuf, READ_CHUNK_BYTES, MSG_DONTWAIT);
		if (r > 0) {
			n += (size_t)r;
			continue;
		}
		if (r == 0)
			eof = 1;
		else if (errno == EINTR)
			continue;
		else if (errno != EAGAIN && errno != EWOULDBLOCK)
			err = errno;
		break;
	}
	if (n > 0) {
		s->rd_total += n;
		emit_read(s, NULL, n);
	}
	if (eof) {
		s->rd_done = 1;
		emit_simple(s->name, "eof", NULL);
	} else if (err) {
		s->rd_done = 1;
		emit_error(s->name, NULL, "read", err);
	}
}

/* One recv() of up to `bytes`, or (all, the default) recv() until the queue is empty. */
static void cmd_read(struct agent *a, struct cmd *c)
{
	long long want = -1;
	int all = 0;
	struct sock *s = need_sock(a, c);
	if (s == NULL || arg_int(c, "bytes", 1, MAX_SEND_BYTES, 0, &want) < 0 || arg_bool(c, "all", &all) < 0)
		return;
	if (want > 0 && all) {
		emit_invalid(c, "give \"bytes\" or \"all\", not both");
		return;
	}
	size_t cap = want > 0 ? (size_t)want : READ_CHUNK_BYTES;
	char *buf = cap > READ_CHUNK_BYTES ? xmalloc(cap) : a->rbuf;
	size_t n = 0;
	int eof = 0, err = 0;
	for (;;) {
		ssize_t r = recv(s->fd, buf, cap, MSG_DONTWAIT);
		if (r > 0) {
			n += (size_t)r;
			if (want > 0 || n >= MAX_SEND_BYTES)
				break;
			continue;
		}
		if (r == 0)
			eof = 1;
		else if (errno == EINTR)
			continue;
		else
			err = errno;
		break;
	}
	if (buf != a->rbuf)
		free(buf);
	s->rd_total += n;
	if (n > 0)
		emit_read(s, c->id, n);
	if (eof) {
		emit_simple(s->name, "eof", c->id);
	} else if (err == EAGAIN || err == EWOULDBLOCK) {
		if (n == 0) {
			struct jbuf b;
			ev_begin(&b, s->name, "read", c->id);
			jb_key(&b, "n");
			jb_int(&b, 0);
			jb_key(&b, "total");
			jb_uint(&b, s->rd_total);
			put_errno(&b, EAGAIN, NULL);
			ev_end(&b);
		}
	} else if (err != 0) {
		emit_error(s->name, c->id, "read", err);
	}
}

static void cmd_read_mode(struct agent *a, struct cmd *c, int read_auto)
{
	struct sock *s = need_sock(a, c);
	if (s == NULL)
		return;
	s->read_auto = read_auto;
	struct jbuf b;
	ev_begin(&b, s->name, read_auto ? "resumed" : "paused", c->id);
	jb_key(&b, "read");
	jb_str(&b, READ_MODES[read_auto]);
	ev_end(&b);
}

static void cmd_pause(struct agent *a, struct cmd *c)
{
	cmd_read_mode(a, c, 0);
}

static void cmd_resume(struct agent *a, struct cmd *c)
{
	cmd_read_mode(a, c, 1);
}

/* --------------------------------------------------------------------- poll */

static const struct {
	const char *name;
	short bit;
} POLL_BITS[] = {
	{ "in", POLLIN }, { "pri", POLLPRI }, { "out", POLLOUT }, { "err", POLLERR },
	{ "hup", POLLHUP }, { "rdhup", POLLRDHUP }, { "nval", POLLNVAL },
};
#define NPOLL_BITS (sizeof POLL_BITS / sizeof POLL_BITS[0])

/* POLLERR, POLLHUP and POLLNVAL are reported whether asked for or not: poll(2). */
#define POLL_ALWAYS (POLLERR | POLLHUP | POLLNVAL)

static void put_revents(struct jbuf *b, short revents)
{
	jb_key(b, "revents");
	jb_arr_begin(b);
	for (size_t i = 0; i < NPOLL_BITS; i++)
		if (revents & POLL_BITS[i].bit)
			jb_str(b, POLL_BITS[i].name);
	jb_arr_end(b);
}

static void emit_polled(struct sock *s, const char *id, short revents, int timeout, int64_t elapsed_ns)
{
	struct jbuf b;
	ev_begin(&b, s->name, "polled", id);
	put_revents(&b, revents);
	jb_key(&b, "elapsedMs");
	jb_fixed3(&b, (double)elapsed_ns / 1e6);
	if (timeout) {
		jb_key(&b, "timeout");
		jb_bool(&b, 1);
	}
	ev_end(&b);
}

static void finish_poll(struct sock *s, short revents, int timeout)
{
	emit_polled(s, s->poll.id, revents, timeout, monotonic_ns() - s->poll.start_ns);
	free(s->poll.id);
	memset(&s->poll, 0, sizeof s->poll);
}

static int parse_poll_events(const struct cmd *c, short *events)
{
	const struct jval *v = json_get(c->root, "events");
	*events = POLLIN;
	if (v == NULL)
		return 0;
	if (v->type != J_ARR) {
		emit_invalid(c, "\"events\": expected an array of strings");
		return -1;
	}
	*events = 0;
	for (size_t i = 0; i < v->n; i++) {
		const struct jval *e = &v->items[i];
		size_t k = 0;
		while (k < NPOLL_BITS && (e->type != J_STR || strcmp(e->str, POLL_BITS[k].name) != 0))
			k++;
		if (k == NPOLL_BITS) {
			emit_invalid(c, "\"events\": expected names from in, pri, out, err, hup, rdhup, nval");
			return -1;
		}
		*events |= POLL_BITS[k].bit;
	}
	return 0;
}

static void cmd_poll(struct agent *a, struct cmd *c)
{
	long long timeout_ms = -1;
	short events;
	struct sock *s = need_sock(a, c);
	if (s == NULL || parse_poll_events(c, &events) < 0 ||
	    arg_int(c, "timeoutMs", -1, 86400000LL * 365, 0, &timeout_ms) < 0)
		return;
	if (s->closed) {
		/* poll(2) on a descriptor that is not open reports POLLNVAL. */
		emit_polled(s, c->id, POLLNVAL, 0, 0);
		return;
	}
	if (s->poll.active) {
		struct jbuf b;
		ev_error_begin(&b, s->name, c->id, "poll", EALREADY, "a poll is already waiting on this socket");
		ev_end(&b);
		return;
	}
	s->poll.active = 1;
	s->poll.id = c->id != NULL ? xstrdup(c->id) : NULL;
	s->poll.events = events;
	s->poll.start_ns = monotonic_ns();
	s->poll.deadline_ns = timeout_ms < 0 ? -1 : s->poll.start_ns + timeout_ms * 1000000LL;
}

/* -------------------------------------------------------------- getsockopt */

/* ioctl(2) queue sizes, tcp(7) "Ioctls": unread bytes, unsent+unacked bytes, unsent bytes. */
static int queue_ioctl(const char *name, unsigned long *req)
{
	if (strcmp(name, "SIOCINQ") == 0)
		*req = SIOCINQ;
	else if (strcmp(name, "SIOCOUTQ") == 0)
		*req = SIOCOUTQ;
	else if (strcmp(name, "SIOCOUTQNSD") == 0)
		*req = SIOCOUTQNSD;
	else
		return -1;
	return 0;
}

/* "all": every option of the table (null where the kernel refuses, e.g. v6only on IPv4). */
static void emit_all_opts(struct sock *s, const char *id)
{
	optmask_t all = 0;
	for (size_t i = 0; i < opt_count(); i++)
		all |= (optmask_t)1 << i;
	struct jbuf b;
	ev_begin(&b, s->name, "opts", id);
	opt_put_readback(s->fd, all, &b);
	ev_end(&b);
}

static void emit_getsockopt_error(struct sock *s, const char *id, const char *opt, int err)
{
	struct jbuf b;
	ev_error_begin(&b, s->name, id, "getsockopt", err, NULL);
	jb_key(&b, "opt");
	jb_str(&b, opt);
	ev_end(&b);
}

static void cmd_getsockopt(struct agent *a, struct cmd *c)
{
	const char *opt;
	struct sock *s = need_sock(a, c);
	if (s == NULL || arg_str(c, "opt", &opt, 1) < 0)
		return;
	struct jbuf b;
	unsigned long req;
	const struct optdef *d = opt_find(opt);
	if (strcmp(opt, "all") == 0) {
		emit_all_opts(s, c->id);
	} else if (strcmp(opt, "SO_ERROR") == 0) {
		int v = 0;
		socklen_t len = sizeof v;
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &v, &len) < 0) {
			emit_getsockopt_error(s, c->id, opt, errno);
			return;
		}
		ev_begin(&b, s->name, "sockopt", c->id);
		jb_key(&b, "opt");
		jb_str(&b, opt);
		jb_key(&b, "value");
		jb_int(&b, v);
		if (v != 0)
			put_errno(&b, v, NULL);
		ev_end(&b);
	} else if (strcmp(opt, "TCP_INFO") == 0) {
		ev_begin(&b, s->name, "tcpinfo", c->id);
		if (put_tcp_info(s->fd, &b) < 0) {
			int err = errno;
			jb_free(&b);
			emit_getsockopt_error(s, c->id, opt, err);
			return;
		}
		ev_end(&b);
	} else if (queue_ioctl(opt, &req) == 0) {
		int v = 0;
		if (ioctl(s->fd, req, &v) < 0) {
			emit_getsockopt_error(s, c->id, opt, errno);
			return;
		}
		ev_begin(&b, s->name, "sockopt", c->id);
		jb_key(&b, "opt");
		jb_str(&b, opt);
		jb_key(&b, "value");
		jb_int(&b, v);
		ev_end(&b);
	} else if (d != NULL) {
		ev_begin(&b, s->name, "sockopt", c->id);
		jb_key(&b, "opt");
		jb_str(&b, opt);
		jb_key(&b, "value");
		if (opt_read(s->fd, d, &b) < 0) {
			int err = errno;
			jb_free(&b);
			emit_getsockopt_error(s, c->id, opt, err);
			return;
		}
		ev_end(&b);
	} else {
		emit_invalid(c, "unknown opt \"%s\" (SO_ERROR, TCP_INFO, SIOCINQ, SIOCOUTQ, SIOCOUTQNSD, all, or an option name)", opt);
	}
}

static void cmd_setsockopt(struct agent *a, struct cmd *c)
{
	const struct jval *opts = NULL;
	struct sock *s = need_sock(a, c);
	if (s == NULL || arg_object(c, "opts", &opts) < 0)
		return;
	if (opts == NULL || opts->n == 0) {
		emit_invalid(c, "missing \"opts\"");
		return;
	}
	optmask_t mask = 0;
	if (apply_opts(c, s->fd, opts, &mask) < 0)
		return;
	s->optmask |= mask;
	struct jbuf b;
	ev_begin(&b, s->name, "opts", c->id);
	opt_put_readback(s->fd, mask, &b);
	ev_end(&b);
}

/* ------------------------------------------------- shutdown / close / abort */

static void cmd_shutdown(struct agent *a, struct cmd *c)
{
	int how = SHUT_RDWR;
	struct sock *s = need_sock(a, c);
	if (s == NULL || arg_enum(c, "how", SHUT_HOWS, &how) < 0)
		return;
	int64_t issued_us = realtime_us(); /* a FIN leaves inside shutdown() */
	if (shutdown(s->fd, how) < 0) {
		emit_error(s->name, c->id, "shutdown", errno);
		return;
	}
	struct jbuf b;
	ev_begin(&b, s->name, "shutdown", c->id);
	jb_key(&b, "how");
	jb_str(&b, SHUT_HOWS[how]);
	jb_key(&b, "issuedUs");
	jb_int(&b, issued_us);
	ev_end(&b);
}

/* close(2) the socket; the name stays, with fd -1, so that later operations
 * on it get EBADF from the kernel like an application using a closed fd. */
static void close_sock(struct sock *s, const char *id, const char *op, int aborted)
{
	if (s->closed) {
		if (close(s->fd) < 0) /* fd is -1: EBADF */
			emit_error(s->name, id, op, errno);
		return;
	}
	cancel_pending(s);
	int64_t issued_us = realtime_us(); /* a FIN or RST leaves inside close() */
	int r = close(s->fd);
	int err = errno;
	s->fd = -1;
	s->closed = 1;
	s->cstate = C_NONE;
	if (r < 0) {
		emit_error(s->name, id, op, err);
		return;
	}
	struct jbuf b;
	ev_begin(&b, s->name, "closed", id);
	jb_key(&b, "issuedUs");
	jb_int(&b, issued_us);
	if (aborted) {
		jb_key(&b, "abort");
		jb_bool(&b, 1);
	}
	ev_end(&b);
}

static void cmd_close(struct agent *a, struct cmd *c)
{
	struct sock *s = need_sock(a, c);
	if (s != NULL)
		close_sock(s, c->id, "close", 0);
}

/* socket(7) SO_LINGER with l_linger 0: close() discards queued data and sends a RST. */
static void cmd_abort(struct agent *a, struct cmd *c)
{
	struct sock *s = need_sock(a, c);
	if (s == NULL)
		return;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	if (setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0) {
		emit_syscall_error(s->name, c->id, "abort", "setsockopt", errno);
		return;
	}
	close_sock(s, c->id, "abort", 1);
}

/* --------------------------------------------------------------------- list */

static const char *state_word(const struct sock *s)
{
	if (s->closed)
		return "closed";
	if (s->kind == K_LISTENER)
		return "listening";
	switch (s->cstate) {
	case C_CONNECTING: return "connecting";
	case C_ESTABLISHED: return "connected";
	case C_FAILED: return "failed";
	case C_NONE: break;
	}
	return "open";
}

static void cmd_list(struct agent *a, struct cmd *c)
{
	struct jbuf b;
	ev_begin(&b, c->name, "sockets", c->id);
	jb_key(&b, "sockets");
	jb_arr_begin(&b);
	for (size_t i = 0; i < a->nsocks; i++) {
		const struct sock *s = a->socks[i];
		jb_obj_begin(&b);
		jb_key(&b, "name");
		jb_str(&b, s->name);
		jb_key(&b, "fd");
		jb_int(&b, s->fd);
		jb_key(&b, "kind");
		jb_str(&b, s->kind == K_LISTENER ? "listener" : "stream");
		jb_key(&b, "state");
		jb_str(&b, state_word(s));
		jb_key(&b, "read");
		jb_str(&b, READ_MODES[s->kind == K_LISTENER ? s->child_read_auto : s->read_auto]);
		if (s->kind == K_LISTENER) {
			jb_key(&b, "accept");
			jb_str(&b, ACCEPT_MODES[s->accept_mode]);
		}
		if (!s->closed)
			put_endpoints(&b, s->fd);
		jb_obj_end(&b);
	}
	jb_arr_end(&b);
	ev_end(&b);
}

/* ------------------------------------------------------------------ dispatch */

static const struct {
	const char *op;
	void (*run)(struct agent *, struct cmd *);
	const char *fields; /* besides op and id */
} COMMANDS[] = {
	{ "exec", cmd_exec, "name argv stdin lines keepPriority" },
	{ "write", cmd_write, "name data" },
	{ "endStdin", cmd_end_stdin, "name" },
	{ "signal", cmd_signal, "name signal" },
	{ "plan", cmd_plan, "steps" },
	{ "trigger", cmd_trigger, "ref tUs" },
	{ "go", cmd_go, "t0Us" },
	{ "cancel", cmd_cancel, "" },
	{ "relayBind", cmd_relay_bind, "path" },
	{ "relay", cmd_relay, "ref to" },
	{ "listen", cmd_listen, "name port addr backlog accept as read opts" },
	{ "connect", cmd_connect, "name host port sport nonblock read opts" },
	{ "accept", cmd_accept, "name as" },
	{ "send", cmd_send, "name data bytes count everyMs untilFull continueOnError" },
	{ "read", cmd_read, "name bytes all" },
	{ "pause", cmd_pause, "name" },
	{ "resume", cmd_resume, "name" },
	{ "poll", cmd_poll, "name events timeoutMs" },
	{ "getsockopt", cmd_getsockopt, "name opt" },
	{ "setsockopt", cmd_setsockopt, "name opts" },
	{ "shutdown", cmd_shutdown, "name how" },
	{ "close", cmd_close, "name" },
	{ "abort", cmd_abort, "name" },
	{ "list", cmd_list, "" },
	{ "sample", cmd_sample, "intervalMs fullEveryMs" },
	{ "unsample", cmd_unsample, "" },
	{ "watch", cmd_watch, "name states local peer" },
};

/* Serialise "id" so events can echo it verbatim: a string or an integer. */
static char *serialise_id(const struct jval *v)
{
	/* |id| < 2^53: exact in a double, and in range for long long. */
	if (v->type == J_NUM && fabs(v->num) < 9007199254740992.0 && v->num == floor(v->num))
		return xasprintf("%lld", (long long)v->num);
	if (v->type != J_STR)
		return NULL;
	struct jbuf b;
	jb_init(&b);
	jb_strn(&b, v->str, v->len);
	return b.p; /* ownership passes to the caller */
}

static void run_command(struct agent *a, const struct jval *root)
{
	struct cmd c = { root, "", "", NULL };
	const struct jval *op = json_get(root, "op"), *name = json_get(root, "name"), *id = json_get(root, "id");
	if (op != NULL && op->type == J_STR)
		c.op = op->str;
	if (name != NULL && name->type == J_STR)
		c.name = name->str;
	if (id != NULL && (c.id = serialise_id(id)) == NULL) {
		emit_invalid(&c, "\"id\": expected a string or an integer");
		return;
	}
	if (name != NULL && (name->type != J_STR || name->len == 0 || strlen(name->str) != name->len)) {
		emit_invalid(&c, "\"name\": expected a non-empty string");
	} else if (op == NULL || op->type != J_STR) {
		emit_invalid(&c, "missing \"op\"");
	} else {
		size_t i = 0, n = sizeof COMMANDS / sizeof COMMANDS[0];
		while (i < n && strcmp(COMMANDS[i].op, c.op) != 0)
			i++;
		if (i == n)
			emit_invalid(&c, "unknown op \"%s\"", c.op);
		else if (check_fields(&c, COMMANDS[i].fields) == 0)
			COMMANDS[i].run(a, &c);
	}
	free(c.id);
}

int agent_knows_op(const char *op)
{
	for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
		if (strcmp(COMMANDS[i].op, op) == 0)
			return 1;
	return 0;
}

/* A plan step's command (plan.c), through the same dispatcher as stdin. */
void agent_run_command(struct agent *a, const struct jval *root)
{
	run_command(a, root);
}

/* One line of stdin: a command, or an error event saying why it is not one. */
static void handle_line(struct agent *a, char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	size_t start = 0;
	while (start < len && (line[start] == ' ' || line[start] == '\t'))
		start++;
	if (start == len)
		return;
	struct jval root;
	char err[160];
	struct cmd bad = { NULL, "", "", NULL };
	if (json_parse(line + start, len - start, &root, err, sizeof err) < 0) {
		emit_invalid(&bad, "unparseable command: %s", err);
		return;
	}
	if (root.type != J_OBJ)
		emit_invalid(&bad, "a command is a JSON object, got %s", json_type_name(root.type));
	else
		run_command(a, &root);
	json_free(&root);
}

/* Read what stdin has and run each complete line. Returns -1 at EOF. */
static int read_stdin(struct agent *a)
{
	char chunk[65536];
	ssize_t r = read(STDIN_FILENO, chunk, sizeof chunk);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r <= 0) {
		/* EOF (or a broken stdin): run a last command that lacked its newline. */
		if (a->linelen > 0 && !a->line_overlong)
			handle_line(a, a->line, a->linelen);
		a->linelen = 0;
		return -1;
	}
	for (ssize_t i = 0; i < r; i++) {
		char ch = chunk[i];
		if (ch == '\n') {
			if (!a->line_overlong)
				handle_line(a, a->line, a->linelen);
			a->linelen = 0;
			a->line_overlong = 0;
			continue;
		}
		if (a->line_overlong)
			continue;
		if (a->linelen + 1 >= MAX_LINE_BYTES) {
			struct cmd bad = { NULL, "", "", NULL };
			emit_invalid(&bad, "command line longer than %u bytes: ignored", MAX_LINE_BYTES);
			a->line_overlong = 1;
			continue;
		}
		if (a->linelen + 1 >= a->linecap) {
			a->linecap = a->linecap ? a->linecap * 2 : 4096;
			a->line = xrealloc(a->line, a->linecap);
		}
		a->line[a->linelen++] = ch;
	}
	return 0;
}

/* ---------------------------------------------------------------- the loop */

/* What the loop waits for on s right now (-1: nothing, leave it out of ppoll). */
static short wanted_events(const struct sock *s)
{
	short ev = 0;
	int watch = 0;
	if (s->closed)
		return -1;
	if (s->poll.active) {
		ev |= s->poll.events & ~POLL_ALWAYS;
		watch = 1;
	}
	if (s->kind == K_LISTENER) {
		if (s->accept_mode == A_AUTO || (s->accept_mode == A_MANUAL && s->accq != NULL)) {
			ev |= POLLIN;
			watch = 1;
		}
		return watch ? ev : -1;
	}
	if (s->cstate == C_CONNECTING) {
		ev |= POLLOUT;
		watch = 1;
	}
	if (s->want_out) {
		ev |= POLLOUT;
		watch = 1;
	}
	if (s->cstate == C_ESTABLISHED && s->read_auto && !s->rd_done) {
		ev |= POLLIN | POLLRDHUP;
		watch = 1;
	}
	return watch ? ev : -1;
}

/* pfds[0] = signalfd, pfds[1] = stdin, then every socket the loop watches. */
static size_t build_pollfds(struct agent *a)
{
	if (a->pcap < a->nsocks + 3) {
		a->pcap = a->nsocks + 3 + 16;
		a->pfds = xrealloc(a->pfds, a->pcap * sizeof *a->pfds);
		a->pmap = xrealloc(a->pmap, a->pcap * sizeof *a->pmap);
	}
	a->pfds[0] = (struct pollfd){ .fd = a->sigfd, .events = POLLIN };
	a->pfds[1] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	a->pmap[0] = a->pmap[1] = NULL;
	size_t n = 2;
	for (size_t i = 0; i < a->nsocks; i++) {
		short ev = wanted_events(a->socks[i]);
		if (ev < 0)
			continue;
		a->pfds[n] = (struct pollfd){ .fd = a->socks[i]->fd, .events = ev };
		a->pmap[n++] = a->socks[i];
	}
	/* Processes and the plan's timer (procs.c, plan.c), behind one epoll fd. */
	a->pfds[n] = (struct pollfd){ .fd = fdw_fd(), .events = POLLIN };
	a->pmap[n++] = NULL;
	return n;
}

/* The earliest timer (a poll timeout, a repeat of a send), or NULL for none. */
static struct timespec *next_timeout(struct agent *a, struct timespec *ts)
{
	int64_t now = monotonic_ns(), next = -1;
	for (size_t i = 0; i < a->nsocks; i++) {
		const struct sock *s = a->socks[i];
		if (s->poll.active && s->poll.deadline_ns >= 0 && (next < 0 || s->poll.deadline_ns < next))
			next = s->poll.deadline_ns;
		if (s->sendq != NULL && !s->want_out && (next < 0 || s->sendq->due_ns < next))
			next = s->sendq->due_ns;
	}
	int64_t guard = rtg_wakeup_ns(); /* demoted: a look at the end of the window */
	if (guard >= 0 && (next < 0 || guard < next))
		next = guard;
	if (next < 0)
		return NULL;
	int64_t wait = next > now ? next - now : 0;
	ts->tv_sec = wait / 1000000000;
	ts->tv_nsec = wait % 1000000000;
	return ts;
}

static void handle_revents(struct agent *a, struct sock *s, short revents)
{
	if (s->poll.active) {
		short hit = revents & (s->poll.events | POLL_ALWAYS);
		if (hit)
			finish_poll(s, hit, 0);
	}
	if (s->kind == K_LISTENER) {
		if (revents & (POLLIN | POLL_ALWAYS))
			service_listener(a, s);
		return;
	}
	if (s->cstate == C_CONNECTING && (revents & (POLLOUT | POLL_ALWAYS)))
		finish_connect(s);
	if (s->want_out && (revents & (POLLOUT | POLL_ALWAYS)))
		pump_send(s);
	if (s->cstate == C_ESTABLISHED && s->read_auto && !s->rd_done &&
	    (revents & (POLLIN | POLLRDHUP | POLL_ALWAYS)))
		auto_read(a, s);
}

/* Poll timeouts and send repeats that are due. */
static void service_timers(struct agent *a)
{
	int64_t now = monotonic_ns();
	for (size_t i = 0; i < a->nsocks; i++) {
		struct sock *s = a->socks[i];
		if (s->poll.active && s->poll.deadline_ns >= 0 && now >= s->poll.deadline_ns)
			finish_poll(s, 0, 1);
		if (s->sendq != NULL && !s->want_out && s->sendq->due_ns <= now)
			pump_send(s);
	}
}

/* Close every socket, say goodbye, and return the exit code (0). */
static int finish(struct agent *a, const char *reason, const char *signame)
{
	/* No step fires any more; processes go first (each reports its exit),
	 * while their peers still exist. */
	plan_stop();
	sd_shutdown(); /* no `ss` after `exit` */
	unsigned processes = procs_shutdown();
	unsigned closed = 0;
	for (size_t i = 0; i < a->nsocks; i++) {
		struct sock *s = a->socks[i];
		if (!s->closed) {
			close_quietly(s->fd);
			closed++;
		}
	}
	struct jbuf b;
	ev_begin(&b, "", "exit", NULL);
	jb_key(&b, "reason");
	jb_str(&b, reason);
	if (signame != NULL) {
		jb_key(&b, "signal");
		jb_str(&b, signame);
	}
	jb_key(&b, "closed");
	jb_uint(&b, closed);
	jb_key(&b, "processes");
	jb_uint(&b, processes);
	ev_end(&b);
	return 0;
}

/* Release the table (sockets are already closed), so leak checkers see real leaks only. */
static void free_agent(struct agent *a)
{
	for (size_t i = 0; i < a->nsocks; i++) {
		struct sock *s = a->socks[i];
		free_pending(s);
		free(s->as);
		free(s->name);
		free(s);
	}
	free(a->socks);
	free(a->line);
	free(a->rbuf);
	free(a->pfds);
	free(a->pmap);
	close_quietly(a->sigfd);
	plan_free();
	procs_free();
	sd_free();
	fdw_free();
}

static const char *read_signal(int sigfd)
{
	struct signalfd_siginfo si;
	ssize_t r = read(sigfd, &si, sizeof si);
	if (r != (ssize_t)sizeof si)
		return NULL;
	return si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
}

static int run_loop(struct agent *a)
{
	for (;;) {
		size_t n = build_pollfds(a);
		struct timespec ts;
		if (ppoll(a->pfds, n, next_timeout(a, &ts), NULL) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "tcplab-agent: ppoll: %s\n", strerror(errno));
			return 2;
		}
		if (a->pfds[0].revents & POLLIN) {
			const char *sig = read_signal(a->sigfd);
			if (sig != NULL)
				return finish(a, "signal", sig);
		}
		for (size_t i = 2; i < n; i++)
			if (a->pfds[i].revents && a->pmap[i] != NULL)
				handle_revents(a, a->pmap[i], a->pfds[i].revents);
		service_timers(a);
		fdw_dispatch(0);
		if (a->pfds[1].revents && read_stdin(a) < 0)
			return finish(a, "stdin", NULL);
		rtg_check(); /* a busy agent leaves SCHED_FIFO (rtguard.h) */
	}
}

/* SIGTERM/SIGINT arrive through a signalfd (handled in the loop); SIGPIPE is
 * ignored so that writes report EPIPE (socket(7), send(2)). */
static int setup_signals(void)
{
	sigset_t set;
	if (sigemptyset(&set) < 0 || sigaddset(&set, SIGTERM) < 0 || sigaddset(&set, SIGINT) < 0)
		return -1;
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* --connect=PATH: commands and events go over a unix stream socket the runner
 * listens on, instead of stdin and stdout: the socket becomes fd 0 and fd 1,
 * so nothing else changes. The runner uses it where a relay would otherwise
 * sit between it and the agent (its process spawner serves many processes on
 * one pipe, at the normal priority: a `go` or a trigger queued behind their
 * output arrived tens of ms late on a busy machine). */
static int connect_control(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	/* As the 1 MiB stdout pipe: the events of seconds, should the runner fall behind. */
	int sz = 1 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

/* --caps=HEX: keep only these capabilities (bounding, permitted, effective and
 * inheritable sets), once the priority is set. The docker backend starts the
 * agent from outside its container (nsenter, to leave the container's cgroup,
 * which has no real-time budget) and passes the container's own bounding set,
 * so the agent and each program it starts hold what the container's processes
 * hold, no more (a root execve gets the bounding set as its permitted set). */
static int limit_caps(const char *hex)
{
	char *end;
	errno = 0;
	unsigned long long keep = strtoull(hex, &end, 16);
	if (errno != 0 || end == hex || *end != '\0') {
		errno = EINVAL;
		return -1;
	}
	for (int cap = 0; cap < 64; cap++) {
		if (keep & (1ULL << cap))
			continue;
		/* EINVAL: beyond this kernel's last capability. */
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	}
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof d);
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		uint32_t k = (uint32_t)(keep >> (32 * i));
		d[i].effective &= k;
		d[i].permitted &= k;
		d[i].inheritable &= k;
	}
	return syscall(SYS_capset, &h, d) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
		printf("tcplab-agent protocol %d\n", AGENT_PROTOCOL_VERSION);
		return 0;
	}
	/* A controller that falls behind (a starved runner) must not block the
	 * agent's writes for long: the events of seconds fit in a 1 MiB pipe
	 * (fcntl(2) F_SETPIPE_SZ; capped by /proc/sys/fs/pipe-max-size, and a
	 * failure, or stdout not being a pipe, changes nothing). */
	(void)fcntl(STDOUT_FILENO, F_SETPIPE_SZ, 1 << 20);
	/* Opt-in only: --priority=nice|fifo (see plan_raise_priority in plan.c). */
	const char *priority = NULL, *control = NULL, *caps = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--priority=nice") == 0 || strcmp(argv[i], "--priority=fifo") == 0)
			priority = argv[i] + strlen("--priority=");
		else if (strncmp(argv[i], "--connect=", strlen("--connect=")) == 0 && argv[i][strlen("--connect=")] != '\0')
			control = argv[i] + strlen("--connect=");
		else if (strncmp(argv[i], "--caps=", strlen("--caps=")) == 0)
			caps = argv[i] + strlen("--caps=");
		else {
			fprintf(stderr, "usage: tcplab-agent [--priority=nice|fifo] [--connect=PATH] [--caps=HEX]   (JSON commands on stdin,\n"
					"       events on stdout, or both on the unix stream socket PATH; see src/agent/protocol.ts)\n");
			return 2;
		}
	}
	if (control != NULL && connect_control(control) < 0) {
		fprintf(stderr, "tcplab-agent: --connect=%s: %s\n", control, strerror(errno));
		return 2;
	}
	struct agent a;
	memset(&a, 0, sizeof a);
	a.sigfd = setup_signals();
	if (a.sigfd < 0) {
		fprintf(stderr, "tcplab-agent: setting up signals: %s\n", strerror(errno));
		return 2;
	}
	if (fdw_init() < 0 || procs_init(&a) < 0 || plan_init(&a) < 0) {
		fprintf(stderr, "tcplab-agent: setting up processes and the plan timer: %s\n", strerror(errno));
		return 2;
	}
	/* What it runs at goes into `ready` (sched, and schedError when the
	 * priority asked for was refused): the runner records it in the verdict. */
	const char *sched = "normal", *sched_err = NULL;
	if (priority != NULL && plan_raise_priority(priority) < 0) {
		sched_err = strerror(errno);
		fprintf(stderr, "tcplab-agent: --priority=%s: %s (running at the normal priority)\n", priority, sched_err);
	} else if (priority != NULL) {
		sched = priority;
		if (rtg_arm() < 0)
			fprintf(stderr, "tcplab-agent: arming the real-time guard: %s\n", strerror(errno));
	}
	if (caps != NULL && limit_caps(caps) < 0) {
		fprintf(stderr, "tcplab-agent: --caps=%s: %s\n", caps, strerror(errno));
		return 2;
	}
	a.rbuf = xmalloc(READ_CHUNK_BYTES);
	struct jbuf b;
	ev_begin(&b, "", "ready", NULL);
	jb_key(&b, "pid");
	jb_int(&b, getpid());
	jb_key(&b, "version");
	jb_int(&b, AGENT_PROTOCOL_VERSION);
	jb_key(&b, "sched");
	jb_str(&b, sched);
	if (sched_err != NULL) {
		jb_key(&b, "schedError");
		jb_str(&b, sched_err);
	}
	ev_end(&b);
	int code = run_loop(&a);
	free_agent(&a);
	return code;
}
