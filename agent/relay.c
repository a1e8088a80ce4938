/* relay.c - cross-host gates sent straight from agent to agent.
 *
 * Where the agents share a filesystem (the netns backend: every agent runs on
 * the same machine, each in its own network namespace), the runner gives each
 * agent a path to bind an AF_UNIX SOCK_DGRAM socket to (`relayBind`). A
 * filesystem unix socket is found by its path whatever the network namespace
 * of the sender; an abstract one belongs to a network namespace and would not
 * be (unix(7)). Then `relay` {ref, to: [paths]} makes this agent, the moment it
 * writes the first event NAME.TYPE (or marks step K done, for "step:K"), send
 * each path the datagram {"ref": ref, "tUs": t} with sendto(MSG_DONTWAIT), t
 * being the event's t or the step's done time. The receiving agent reads its
 * socket from the fdwatch epoll and treats each datagram as a `trigger`
 * command (plan.c plan_trigger: the first time per ref wins), writing
 * `triggered` with "via": "relay". The runner still relays over stdin (the
 * only way where agents share no filesystem, e.g. docker): whichever comes
 * first opens the gate, the other changes nothing.
 *
 * Datagrams are sent from inside the event observer, which writes no event;
 * what was sent and what failed (ENOENT: nobody bound that path, ECONNREFUSED:
 * a stale socket file, EAGAIN: the receiver's queue is full) is reported right
 * after in a `relayed` event.
 */
#define _GNU_SOURCE
#include "relay.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "events.h"
#include "fdwatch.h"
#include "plan.h"
#include "util.h"

#define MAX_TO 64
#define MAX_ROUTES 4096
#define MAX_REF 512
#define DGRAM_MAX 2048
#define RECV_BATCH 64
#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Where to send what. */
struct route {
	char *ref;               /* "NAME.TYPE" or "step:K" */
	long long step;          /* K, or -1 for NAME.TYPE */
	char **to;
	size_t nto;
	int sent;                /* once per route: the first event wins anyway */
};

struct failure {
	char *path;
	int err;
};

/* What one route's sending did, for the `relayed` event. */
struct report {
	char *ref;
	int64_t t_us;
	unsigned sent;
	struct failure *fails;
	size_t nfails;
};

static int rfd = -1;             /* the bound socket, read through fdwatch */
static char *rpath;              /* its path, unlinked at exit */
static int sfd = -1;             /* an unbound socket the datagrams leave from */
static struct route *routes;
static size_t nroutes, caproutes;
static struct report *reports;
static size_t nreports, capreports;

static socklen_t unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	size_t len = strlen(path);
	memcpy(sun->sun_path, path, len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

/* ----------------------------------------------------------------- receiving */

static void on_readable(void *ctx, uint32_t events)
{
	(void)ctx;
	(void)events;
	char buf[DGRAM_MAX];
	/* A batch at a time; the epoll is level-triggered, the rest comes next round. */
	for (int i = 0; i < RECV_BATCH && rfd >= 0; i++) {
		ssize_t n = recv(rfd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				fprintf(stderr, "tcplab-agent: recv on the relay socket: %s\n", strerror(errno));
			return;
		}
		struct cmd c = { NULL, "relay", "", NULL };
		if ((size_t)n > sizeof buf) {
			emit_invalid(&c, "relay datagram of %zd bytes: more than %d", n, DGRAM_MAX);
			continue;
		}
		struct jval root;
		char err[160];
		if (json_parse(buf, (size_t)n, &root, err, sizeof err) < 0) {
			emit_invalid(&c, "relay datagram: %s", err);
			continue;
		}
		c.root = &root;
		if (root.type != J_OBJ)
			emit_invalid(&c, "relay datagram: expected an object {ref, tUs}, got %s", json_type_name(root.type));
		else
			plan_trigger(&c, "relay");
		json_free(&root);
	}
}

void cmd_relay_bind(struct agent *a, struct cmd *c)
{
	(void)a;
	const char *path;
	if (arg_str(c, "path", &path, 1) < 0)
		return;
	if (strlen(path) > SUN_PATH_MAX) {
		emit_invalid(c, "\"path\": longer than %zu bytes (sun_path, unix(7))", SUN_PATH_MAX);
		return;
	}
	if (rfd >= 0) {
		struct jbuf b;
		char msg[SUN_PATH_MAX + 32];
		snprintf(msg, sizeof msg, "already bound to %s", rpath);
		ev_error_begin(&b, c->name, c->id, c->op, EALREADY, msg);
		ev_end(&b);
		return;
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		emit_syscall_error(c->name, c->id, c->op, "socket", errno);
		return;
	}
	struct sockaddr_un sun;
	socklen_t len = unix_addr(path, &sun);
	if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
		int e = errno;
		close(fd);
		emit_syscall_error(c->name, c->id, c->op, "bind", e);
		return;
	}
	rfd = fd;
	rpath = xstrdup(path);
	fdw_add(rfd, EPOLLIN, on_readable, NULL);
	struct jbuf b;
	ev_begin(&b, c->name, "relay-bound", c->id);
	jb_key(&b, "path");
	jb_str(&b, rpath);
	ev_end(&b);
}

/* ------------------------------------------------------------------- sending */

void cmd_relay(struct agent *a, struct cmd *c)
{
	(void)a;
	const char *ref;
	long long k;
	if (arg_str(c, "ref", &ref, 1) < 0)
		return;
	if (strlen(ref) > MAX_REF || plan_parse_ref(ref, &k) < 0) {
		emit_invalid(c, "\"ref\": expected \"step:K\" or \"NAME.TYPE\" (at most %d bytes)", MAX_REF);
		return;
	}
	const struct jval *to = json_get(c->root, "to");
	if (to == NULL || to->type != J_ARR || to->n == 0 || to->n > MAX_TO) {
		emit_invalid(c, "\"to\": expected an array of 1 to %d socket paths", MAX_TO);
		return;
	}
	for (size_t i = 0; i < to->n; i++) {
		const struct jval *p = &to->items[i];
		if (p->type != J_STR || p->len == 0 || strlen(p->str) != p->len || p->len > SUN_PATH_MAX) {
			emit_invalid(c, "\"to\"[%zu]: expected a socket path of 1 to %zu bytes", i, SUN_PATH_MAX);
			return;
		}
	}
	if (nroutes >= MAX_ROUTES) {
		emit_invalid(c, "more than %d relays", MAX_ROUTES);
		return;
	}
	if (nroutes == caproutes) {
		caproutes = caproutes ? caproutes * 2 : 16;
		routes = xrealloc(routes, caproutes * sizeof *routes);
	}
	struct route *r = &routes[nroutes++];
	*r = (struct route){ .ref = xstrdup(ref), .step = k, .to = xmalloc(to->n * sizeof *r->to), .nto = to->n };
	for (size_t i = 0; i < to->n; i++)
		r->to[i] = xstrdup(to->items[i].str);
	struct jbuf b;
	ev_begin(&b, c->name, "relaying", c->id);
	jb_key(&b, "ref");
	jb_str(&b, ref);
	jb_key(&b, "to");
	jb_uint(&b, to->n);
	ev_end(&b);
}

static void add_failure(struct report *rep, const char *path, int err)
{
	rep->fails = xrealloc(rep->fails, (rep->nfails + 1) * sizeof *rep->fails);
	rep->fails[rep->nfails++] = (struct failure){ .path = xstrdup(path), .err = err };
}

static void send_route(struct route *r, int64_t t_us)
{
	r->sent = 1;
	struct report rep = { .ref = xstrdup(r->ref), .t_us = t_us };
	struct jbuf d;
	jb_init(&d);
	jb_obj_begin(&d);
	jb_key(&d, "ref");
	jb_str(&d, r->ref);
	jb_key(&d, "tUs");
	jb_int(&d, t_us);
	jb_obj_end(&d);
	if (sfd < 0)
		sfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int serr = errno;
	for (size_t i = 0; i < r->nto; i++) {
		if (sfd < 0) {
			add_failure(&rep, r->to[i], serr);
			continue;
		}
		struct sockaddr_un sun;
		socklen_t len = unix_addr(r->to[i], &sun);
		ssize_t w;
		do
			w = sendto(sfd, d.p, d.len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sun, len);
		while (w < 0 && errno == EINTR);
		if (w < 0)
			add_failure(&rep, r->to[i], errno);
		else
			rep.sent++;
	}
	jb_free(&d);
	if (nreports == capreports) {
		capreports = capreports ? capreports * 2 : 16;
		reports = xrealloc(reports, capreports * sizeof *reports);
	}
	reports[nreports++] = rep;
}

int relay_event(const char *name, const char *type, int64_t t_us)
{
	int any = 0;
	for (size_t i = 0; i < nroutes; i++)
		if (!routes[i].sent && routes[i].step < 0 && plan_ref_matches(routes[i].ref, name, type)) {
			send_route(&routes[i], t_us);
			any = 1;
		}
	return any;
}

int relay_step_done(long long step, int64_t done_us)
{
	int any = 0;
	for (size_t i = 0; i < nroutes; i++)
		if (!routes[i].sent && routes[i].step == step) {
			send_route(&routes[i], done_us);
			any = 1;
		}
	return any;
}

static void free_report(struct report *rep)
{
	for (size_t j = 0; j < rep->nfails; j++)
		free(rep->fails[j].path);
	free(rep->fails);
	free(rep->ref);
}

void relay_report(void)
{
	/* Writing an event runs the observer, which may add a report: index, not pointer. */
	for (size_t i = 0; i < nreports; i++) {
		struct report rep = reports[i];
		struct jbuf b;
		ev_begin(&b, "", "relayed", NULL);
		jb_key(&b, "ref");
		jb_str(&b, rep.ref);
		jb_key(&b, "tUs");
		jb_int(&b, rep.t_us);
		jb_key(&b, "sent");
		jb_uint(&b, rep.sent);
		jb_key(&b, "failed");
		jb_arr_begin(&b);
		for (size_t j = 0; j < rep.nfails; j++) {
			jb_obj_begin(&b);
			jb_key(&b, "path");
			jb_str(&b, rep.fails[j].path);
			put_errno(&b, rep.fails[j].err, NULL);
			jb_obj_end(&b);
		}
		jb_arr_end(&b);
		ev_end(&b);
		free_report(&rep);
	}
	nreports = 0;
}

/* ------------------------------------------------------------------ cleanup */

void relay_clear(void)
{
	for (size_t i = 0; i < nroutes; i++) {
		for (size_t j = 0; j < routes[i].nto; j++)
			free(routes[i].to[j]);
		free(routes[i].to);
		free(routes[i].ref);
	}
	nroutes = 0;
}

void relay_stop(void)
{
	relay_clear();
	for (size_t i = 0; i < nreports; i++)
		free_report(&reports[i]);
	nreports = 0;
	if (rfd >= 0) {
		fdw_del(rfd);
		close(rfd);
		rfd = -1;
		unlink(rpath);
		free(rpath);
		rpath = NULL;
	}
	if (sfd >= 0) {
		close(sfd);
		sfd = -1;
	}
}

void relay_free(void)
{
	relay_stop();
	free(routes);
	routes = NULL;
	caproutes = 0;
	free(reports);
	reports = NULL;
	capreports = 0;
}
