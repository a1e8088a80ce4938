/* plan.c - the host's timeline, run by the agent itself.
 *
 * The runner loads steps (`plan`), then starts the clock (`go`). A step fires
 * when its gate is open AND every earlier step of this host (in step order)
 * has fired and, where that step has waits: true, is done:
 *   {atUs}               at an absolute CLOCK_REALTIME time, and with
 *                        notBefore: [K...] not before steps K (of other
 *                        hosts: a rule, a listen that this step relies on)
 *                        are done; it is then due at atUs all the same, so
 *                        its lateness says how long it waited for them;
 *   {on: "NAME.TYPE"}    delayMs after the t of the first such event this agent
 *                        writes once the step is loaded (or of a `trigger`);
 *   {afterStep: K}       delayMs after step K (here or on another host, then
 *                        known from a `trigger` "step:K") is done.
 * Done = the command's final event (the first one echoing its id that is not
 * an intermediate one) when waits is true; the firing itself when it is false.
 *
 * Deadlines are met with one timerfd on CLOCK_REALTIME armed with
 * TFD_TIMER_ABSTIME (timerfd_create(2)) for the next step that may fire, so
 * the wakeup comes from an hrtimer, not a rounded poll timeout. Events are
 * seen through ev_set_observer (events.c); the observer only records, and
 * steps fire from the timer callback, never from inside another command.
 */
#define _GNU_SOURCE
#include "plan.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "fdwatch.h"
#include "procs.h"
#include "relay.h"
#include "util.h"

#define MAX_STEPS 100000
#define MAX_DELAY_MS (7LL * 24 * 3600 * 1000)
#define MAX_EXACT 9007199254740991.0 /* 2^53 - 1: integers exact in a double */

enum gate { G_AT, G_ON, G_AFTER };

struct step {
	long long num;
	enum gate gate;
	int64_t at_us;           /* G_AT */
	long long *not_before;   /* G_AT: steps that must be done first */
	size_t n_not_before;
	char *ref;               /* G_ON: "NAME.TYPE" */
	long long after;         /* G_AFTER: the step number */
	int64_t delay_us;        /* G_ON, G_AFTER */
	int64_t open_us;         /* G_ON: t of the matching event or trigger; -1 until then */
	struct jval cmd;         /* a copy of the command, with an "id" */
	char *id;                /* that id, serialised as events echo it */
	const char *op;          /* points into cmd */
	int nonblock;            /* connect: a nonblock connect ends with `connecting` */
	int waits;
	int fired, done, reported;
	int64_t done_us;
};

/* A time learnt from a `trigger`: "step:K" (key = K) or "NAME.TYPE" (ref). */
struct mark {
	char *ref;
	long long step;
	int64_t t_us;
};

static struct agent *agent;
static int tfd = -1;
static int going;
static struct step **steps;  /* sorted by num */
static size_t nsteps, capsteps;
static struct mark *marks;
static size_t nmarks, capmarks;

/* ------------------------------------------------------------------- values */

static void copy_jval(struct jval *dst, const struct jval *src)
{
	*dst = (struct jval){ .type = src->type, .boolean = src->boolean, .num = src->num, .len = src->len, .n = src->n };
	if (src->str != NULL) {
		dst->str = xmalloc(src->len + 1);
		memcpy(dst->str, src->str, src->len + 1);
	}
	if (src->n > 0) {
		dst->items = xmalloc(src->n * sizeof *dst->items);
		for (size_t i = 0; i < src->n; i++)
			copy_jval(&dst->items[i], &src->items[i]);
		if (src->keys != NULL) {
			dst->keys = xmalloc(src->n * sizeof *dst->keys);
			for (size_t i = 0; i < src->n; i++)
				dst->keys[i] = xstrdup(src->keys[i]);
		}
	}
}

/* Add "id": "step-N" to a copied command object. */
static void add_id(struct jval *obj, long long num)
{
	obj->items = xrealloc(obj->items, (obj->n + 1) * sizeof *obj->items);
	obj->keys = xrealloc(obj->keys, (obj->n + 1) * sizeof *obj->keys);
	char *s = xasprintf("step-%lld", num);
	obj->keys[obj->n] = xstrdup("id");
	obj->items[obj->n] = (struct jval){ .type = J_STR, .str = s, .len = strlen(s) };
	obj->n++;
}

/* The id as events echo it (tcplab-agent.c serialise_id): an integer, or a JSON string. */
static char *serialise_id(const struct jval *v)
{
	if (v->type == J_NUM && fabs(v->num) <= MAX_EXACT && v->num == floor(v->num))
		return xasprintf("%lld", (long long)v->num);
	if (v->type != J_STR)
		return NULL;
	struct jbuf b;
	jb_init(&b);
	jb_strn(&b, v->str, v->len);
	free(b.meta);
	return b.p;
}

static int is_int(const struct jval *v, double min)
{
	return v != NULL && v->type == J_NUM && v->num >= min && v->num <= MAX_EXACT && v->num == floor(v->num);
}

static void free_step(struct step *s)
{
	json_free(&s->cmd);
	free(s->ref);
	free(s->not_before);
	free(s->id);
	free(s);
}

static struct step *find_step(long long num)
{
	for (size_t i = 0; i < nsteps; i++)
		if (steps[i]->num == num)
			return steps[i];
	return NULL;
}

static struct mark *find_mark(const char *ref, long long step)
{
	for (size_t i = 0; i < nmarks; i++)
		if (ref != NULL ? marks[i].ref != NULL && strcmp(marks[i].ref, ref) == 0
		                : marks[i].ref == NULL && marks[i].step == step)
			return &marks[i];
	return NULL;
}

/* Whether an event NAME, TYPE is what "NAME.TYPE" names. */
int plan_ref_matches(const char *ref, const char *name, const char *type)
{
	size_t ln = strlen(name);
	return strncmp(ref, name, ln) == 0 && ref[ln] == '.' && strcmp(ref + ln + 1, type) == 0;
}

/* ------------------------------------------------------------------- timing */

static void arm_at(int64_t us)
{
	struct itimerspec its = { 0 };
	if (us > 0) {
		its.it_value.tv_sec = us / 1000000;
		its.it_value.tv_nsec = (us % 1000000) * 1000;
	}
	if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		fprintf(stderr, "tcplab-agent: timerfd_settime: %s\n", strerror(errno));
}

/* Look again as soon as the loop comes round (a time in the past expires at once). */
static void kick(void)
{
	if (tfd >= 0)
		arm_at(1);
}

/* When the step's gate opens (CLOCK_REALTIME µs); 0 when not known yet. */
static int gate_due(const struct step *s, int64_t *due)
{
	switch (s->gate) {
	case G_AT:
		for (size_t i = 0; i < s->n_not_before; i++) {
			const struct step *k = find_step(s->not_before[i]);
			if (k != NULL ? !k->done : find_mark(NULL, s->not_before[i]) == NULL)
				return 0;
		}
		*due = s->at_us;
		return 1;
	case G_ON:
		if (s->open_us < 0)
			return 0;
		*due = s->open_us + s->delay_us;
		return 1;
	case G_AFTER: {
		const struct step *k = find_step(s->after);
		if (k != NULL) {
			if (!k->done)
				return 0;
			*due = k->done_us + s->delay_us;
			return 1;
		}
		const struct mark *m = find_mark(NULL, s->after);
		if (m == NULL)
			return 0;
		*due = m->t_us + s->delay_us;
		return 1;
	}
	}
	return 0;
}

static void report_done(void)
{
	for (size_t i = 0; i < nsteps; i++) {
		struct step *s = steps[i];
		if (!s->done || s->reported)
			continue;
		s->reported = 1;
		struct jbuf b;
		ev_begin(&b, "", "step-done", NULL);
		jb_key(&b, "step");
		jb_int(&b, s->num);
		jb_key(&b, "doneUs");
		jb_int(&b, s->done_us);
		ev_end(&b);
	}
}

static void fire(struct step *s, int64_t due)
{
	s->fired = 1; /* before running: its events may already be final */
	int64_t actual = realtime_us();
	agent_run_command(agent, &s->cmd);
	if (!s->waits && !s->done) {
		/* Done as it fired: other hosts learn it before the `step` line is even written. */
		s->done = 1;
		s->done_us = actual;
		relay_step_done(s->num, actual);
	}
	struct jbuf b;
	ev_begin(&b, "", "step", NULL);
	jb_key(&b, "step");
	jb_int(&b, s->num);
	jb_key(&b, "op");
	jb_str(&b, s->op);
	jb_key(&b, "scheduledUs");
	jb_int(&b, due);
	jb_key(&b, "actualUs");
	jb_int(&b, actual);
	jb_key(&b, "lateUs");
	jb_int(&b, actual - due);
	ev_end(&b);
}

/* Fire what may fire now, report what is done, arm the timer for the next. */
static void service(void)
{
	for (;;) {
		report_done();
		relay_report();
		if (!going)
			break;
		struct step *next = NULL;
		int blocked = 0;
		for (size_t i = 0; i < nsteps && next == NULL; i++) {
			if (!steps[i]->fired)
				next = steps[i];
			else if (steps[i]->waits && !steps[i]->done)
				blocked = 1;
		}
		int64_t due;
		if (next == NULL || blocked || !gate_due(next, &due))
			break; /* an event, a trigger or a done step will kick */
		if (realtime_us() < due) {
			arm_at(due);
			return;
		}
		fire(next, due);
	}
	arm_at(0);
}

static void on_timer(void *ctx, uint32_t events)
{
	(void)ctx;
	(void)events;
	uint64_t n;
	if (read(tfd, &n, sizeof n) < 0 && errno != EAGAIN)
		return;
	service();
}

/* Every event this agent writes: open `on` gates, mark steps done. */
static void observe(const struct ev_info *ev)
{
	/* Other hosts first (relay.c): a datagram, no event written here. */
	int changed = relay_event(ev->name, ev->type, ev->t);
	for (size_t i = 0; i < nsteps; i++) {
		struct step *s = steps[i];
		if (!s->fired && s->gate == G_ON && s->open_us < 0 && plan_ref_matches(s->ref, ev->name, ev->type)) {
			s->open_us = ev->t;
			changed = 1;
		}
	}
	if (ev->id != NULL) {
		for (size_t i = 0; i < nsteps; i++) {
			struct step *s = steps[i];
			if (!s->fired || s->done || strcmp(s->id, ev->id) != 0)
				continue;
			/* Mirrors isFinalEventFor (src/agent/client.ts). */
			const char *t = ev->type, *op = s->op;
			int final;
			if (strcmp(t, "error") == 0)
				final = ev->done != 0;
			else if (strcmp(op, "send") == 0)
				final = strcmp(t, "sent") == 0 && ev->done == 1;
			else if (strcmp(op, "connect") == 0)
				final = strcmp(t, "connected") == 0 || (s->nonblock && strcmp(t, "connecting") == 0);
			else if (strcmp(op, "accept") == 0)
				final = strcmp(t, "accepted") == 0;
			else if (strcmp(op, "exec") == 0)
				final = strcmp(t, "exited") == 0;
			else
				final = 1;
			if (final) {
				s->done = 1;
				s->done_us = ev->t;
				relay_step_done(s->num, ev->t);
				changed = 1;
			}
			break; /* the earliest step with this id that is in flight */
		}
	}
	if (changed)
		kick();
}

/* ----------------------------------------------------------------- commands */

static const char *const STEP_FIELDS[] = { "step", "gate", "cmd", "waits", NULL };
static const char *const GATE_FIELDS[] = { "atUs", "on", "afterStep", "delayMs", "notBefore", NULL };
#define MAX_NOT_BEFORE 64
static const char *const NOT_IN_STEPS[] = { "plan", "go", "cancel", "relayBind", "relay", NULL };

static int in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* An object whose keys are all in allowed. */
static int check_keys(const struct cmd *c, const struct jval *o, const char *const *allowed, const char *where)
{
	for (size_t i = 0; i < o->n; i++)
		if (!in_list(allowed, o->keys[i])) {
			emit_invalid(c, "%s: unknown field \"%s\"", where, o->keys[i]);
			return -1;
		}
	return 0;
}

/* One step object, validated; NULL after an error event. */
static struct step *parse_step(const struct cmd *c, const struct jval *o, size_t i)
{
	char where[64];
	snprintf(where, sizeof where, "steps[%zu]", i);
	if (o->type != J_OBJ) {
		emit_invalid(c, "%s: expected an object", where);
		return NULL;
	}
	if (check_keys(c, o, STEP_FIELDS, where) < 0)
		return NULL;
	const struct jval *num = json_get(o, "step"), *gate = json_get(o, "gate"), *cmd = json_get(o, "cmd"),
	                  *waits = json_get(o, "waits");
	if (!is_int(num, 0)) {
		emit_invalid(c, "%s.step: expected an integer >= 0", where);
		return NULL;
	}
	if (waits != NULL && waits->type != J_BOOL) {
		emit_invalid(c, "%s.waits: expected true or false", where);
		return NULL;
	}
	if (gate == NULL || gate->type != J_OBJ) {
		emit_invalid(c, "%s.gate: expected an object {atUs} | {on, delayMs} | {afterStep, delayMs}", where);
		return NULL;
	}
	if (check_keys(c, gate, GATE_FIELDS, where) < 0)
		return NULL;
	const struct jval *at = json_get(gate, "atUs"), *on = json_get(gate, "on"), *after = json_get(gate, "afterStep"),
	                  *delay = json_get(gate, "delayMs"), *nbf = json_get(gate, "notBefore");
	if ((at != NULL) + (on != NULL) + (after != NULL) != 1) {
		emit_invalid(c, "%s.gate: expected exactly one of atUs, on, afterStep", where);
		return NULL;
	}
	if (at != NULL && !is_int(at, 0)) {
		emit_invalid(c, "%s.gate.atUs: expected CLOCK_REALTIME microseconds, or an offset from go's t0Us (an integer >= 0)", where);
		return NULL;
	}
	if (at != NULL && delay != NULL) {
		emit_invalid(c, "%s.gate.delayMs: only with on or afterStep", where);
		return NULL;
	}
	if (nbf != NULL && at == NULL) {
		emit_invalid(c, "%s.gate.notBefore: only with atUs", where);
		return NULL;
	}
	if (nbf != NULL && (nbf->type != J_ARR || nbf->n > MAX_NOT_BEFORE)) {
		emit_invalid(c, "%s.gate.notBefore: expected an array of at most %d step numbers", where, MAX_NOT_BEFORE);
		return NULL;
	}
	for (size_t i = 0; nbf != NULL && i < nbf->n; i++)
		if (!is_int(&nbf->items[i], 0)) {
			emit_invalid(c, "%s.gate.notBefore[%zu]: expected a step number", where, i);
			return NULL;
		}
	if (on != NULL && (on->type != J_STR || strlen(on->str) != on->len || strchr(on->str, '.') == NULL)) {
		emit_invalid(c, "%s.gate.on: expected \"NAME.TYPE\"", where);
		return NULL;
	}
	if (after != NULL && !is_int(after, 0)) {
		emit_invalid(c, "%s.gate.afterStep: expected a step number", where);
		return NULL;
	}
	if (delay != NULL && (delay->type != J_NUM || !(delay->num >= 0) || delay->num > (double)MAX_DELAY_MS)) {
		emit_invalid(c, "%s.gate.delayMs: expected a number of ms from 0 to %lld", where, MAX_DELAY_MS);
		return NULL;
	}
	if (cmd == NULL || cmd->type != J_OBJ) {
		emit_invalid(c, "%s.cmd: expected a command object", where);
		return NULL;
	}
	const struct jval *op = json_get(cmd, "op"), *id = json_get(cmd, "id"), *nb = json_get(cmd, "nonblock");
	if (op == NULL || op->type != J_STR || !agent_knows_op(op->str) || in_list(NOT_IN_STEPS, op->str)) {
		emit_invalid(c, "%s.cmd.op: expected an agent op other than plan, go, cancel, relayBind, relay", where);
		return NULL;
	}
	char *sid = NULL;
	if (id != NULL && (sid = serialise_id(id)) == NULL) {
		emit_invalid(c, "%s.cmd.id: expected a string or an integer", where);
		return NULL;
	}
	struct step *s = xmalloc(sizeof *s);
	memset(s, 0, sizeof *s);
	s->num = (long long)num->num;
	s->waits = waits != NULL && waits->boolean;
	s->open_us = -1;
	s->delay_us = delay != NULL ? (int64_t)llround(delay->num * 1000.0) : 0;
	if (at != NULL) {
		s->gate = G_AT;
		s->at_us = (int64_t)at->num;
		if (nbf != NULL && nbf->n > 0) {
			s->not_before = xmalloc(nbf->n * sizeof *s->not_before);
			for (size_t i = 0; i < nbf->n; i++)
				s->not_before[i] = (long long)nbf->items[i].num;
			s->n_not_before = nbf->n;
		}
	} else if (on != NULL) {
		s->gate = G_ON;
		s->ref = xstrdup(on->str);
	} else {
		s->gate = G_AFTER;
		s->after = (long long)after->num;
	}
	copy_jval(&s->cmd, cmd);
	if (sid == NULL) {
		add_id(&s->cmd, s->num);
		sid = serialise_id(&s->cmd.items[s->cmd.n - 1]);
	}
	s->id = sid;
	s->op = json_get(&s->cmd, "op")->str;
	s->nonblock = nb != NULL && nb->type == J_BOOL && nb->boolean;
	return s;
}

static size_t count_pending(void)
{
	size_t n = 0;
	for (size_t i = 0; i < nsteps; i++)
		n += !steps[i]->fired;
	return n;
}

static void insert_step(struct step *s)
{
	if (nsteps == capsteps) {
		capsteps = capsteps ? capsteps * 2 : 64;
		steps = xrealloc(steps, capsteps * sizeof *steps);
	}
	size_t i = nsteps;
	while (i > 0 && steps[i - 1]->num > s->num) {
		steps[i] = steps[i - 1];
		i--;
	}
	steps[i] = s;
	nsteps++;
	if (s->gate == G_ON) {
		const struct mark *m = find_mark(s->ref, 0);
		if (m != NULL)
			s->open_us = m->t_us;
	}
}

void cmd_plan(struct agent *a, struct cmd *c)
{
	(void)a;
	const struct jval *arr = json_get(c->root, "steps");
	if (arr == NULL || arr->type != J_ARR) {
		emit_invalid(c, "\"steps\": expected an array of {step, gate, cmd, waits?}");
		return;
	}
	if (nsteps + arr->n > MAX_STEPS) {
		emit_invalid(c, "\"steps\": more than %d steps", MAX_STEPS);
		return;
	}
	/* All or nothing: a plan with one bad step loads no step. */
	struct step **parsed = xmalloc((arr->n + 1) * sizeof *parsed);
	size_t n = 0;
	for (; n < arr->n; n++) {
		parsed[n] = parse_step(c, &arr->items[n], n);
		if (parsed[n] == NULL)
			break;
		int dup = find_step(parsed[n]->num) != NULL;
		for (size_t j = 0; j < n && !dup; j++)
			dup = parsed[j]->num == parsed[n]->num;
		if (dup) {
			struct jbuf b;
			char msg[96];
			snprintf(msg, sizeof msg, "steps[%zu]: step %lld is already in the plan", n, parsed[n]->num);
			ev_error_begin(&b, c->name, c->id, "plan", EEXIST, msg);
			ev_end(&b);
			free_step(parsed[n]);
			break;
		}
	}
	if (n < arr->n) {
		for (size_t j = 0; j < n; j++)
			free_step(parsed[j]);
		free(parsed);
		return;
	}
	for (size_t j = 0; j < n; j++)
		insert_step(parsed[j]);
	free(parsed);
	struct jbuf b;
	ev_begin(&b, c->name, "planned", c->id);
	jb_key(&b, "added");
	jb_uint(&b, n);
	jb_key(&b, "pending");
	jb_uint(&b, count_pending());
	ev_end(&b);
	kick();
}

/* go {t0Us?}: start firing. With t0Us, the atUs of every step not fired yet
 * is an offset from it: the runner loads the plans first and picks t0 only
 * once every agent holds its plan, so no deadline can pass in transit. */
void cmd_go(struct agent *a, struct cmd *c)
{
	(void)a;
	const struct jval *t0 = json_get(c->root, "t0Us");
	if (t0 != NULL && !is_int(t0, 1)) {
		emit_invalid(c, "\"t0Us\": expected CLOCK_REALTIME microseconds (an integer > 0)");
		return;
	}
	if (t0 != NULL)
		for (size_t i = 0; i < nsteps; i++)
			if (steps[i]->gate == G_AT && !steps[i]->fired)
				steps[i]->at_us += (int64_t)t0->num;
	going = 1;
	struct jbuf b;
	ev_begin(&b, c->name, "go", c->id);
	jb_key(&b, "pending");
	jb_uint(&b, count_pending());
	if (t0 != NULL) {
		/* How long after t0 `go` was read (negative: before it). A late go makes every
		 * step due before it late: the runner records this beside their lateness. */
		jb_key(&b, "lateUs");
		jb_int(&b, realtime_us() - (int64_t)t0->num);
	}
	ev_end(&b);
	kick();
}

static void clear_marks(void)
{
	for (size_t i = 0; i < nmarks; i++)
		free(marks[i].ref);
	nmarks = 0;
}

void cmd_cancel(struct agent *a, struct cmd *c)
{
	(void)a;
	size_t dropped = 0, kept = 0;
	for (size_t i = 0; i < nsteps; i++) {
		struct step *s = steps[i];
		if (s->fired && !s->reported) {
			steps[kept++] = s; /* in flight: its step-done still comes */
			continue;
		}
		dropped += !s->fired;
		free_step(s);
	}
	nsteps = kept;
	going = 0;
	clear_marks();
	relay_clear();
	struct jbuf b;
	ev_begin(&b, c->name, "cancelled", c->id);
	jb_key(&b, "dropped");
	jb_uint(&b, dropped);
	ev_end(&b);
	kick();
}

int plan_parse_ref(const char *ref, long long *step)
{
	*step = -1;
	if (strncmp(ref, "step:", 5) == 0) {
		char *end;
		errno = 0;
		long long k = strtoll(ref + 5, &end, 10);
		if (ref[5] == '\0' || *end != '\0' || k < 0 || errno != 0)
			return -1;
		*step = k;
		return 0;
	}
	return strchr(ref, '.') == NULL ? -1 : 0;
}

void plan_trigger(const struct cmd *c, const char *via)
{
	const char *ref;
	long long t_us, k;
	if (arg_str(c, "ref", &ref, 1) < 0 || arg_int(c, "tUs", 1, (long long)MAX_EXACT, 1, &t_us) < 0)
		return;
	if (plan_parse_ref(ref, &k) < 0) {
		emit_invalid(c, "\"ref\": expected \"step:K\" or \"NAME.TYPE\", got \"%s\"", ref);
		return;
	}
	/* The first time wins, as for a local event. */
	int first = find_mark(k >= 0 ? NULL : ref, k) == NULL;
	if (first) {
		if (nmarks == capmarks) {
			capmarks = capmarks ? capmarks * 2 : 16;
			marks = xrealloc(marks, capmarks * sizeof *marks);
		}
		marks[nmarks++] = (struct mark){ .ref = k >= 0 ? NULL : xstrdup(ref), .step = k, .t_us = t_us };
		if (k < 0)
			for (size_t i = 0; i < nsteps; i++) {
				struct step *s = steps[i];
				if (!s->fired && s->gate == G_ON && s->open_us < 0 && strcmp(s->ref, ref) == 0)
					s->open_us = t_us;
			}
	}
	struct jbuf b;
	ev_begin(&b, c->name, "triggered", c->id);
	jb_key(&b, "ref");
	jb_str(&b, ref);
	jb_key(&b, "tUs");
	jb_int(&b, t_us);
	jb_key(&b, "first");
	jb_bool(&b, first);
	if (via != NULL) {
		jb_key(&b, "via");
		jb_str(&b, via);
	}
	ev_end(&b);
	kick();
}

void cmd_trigger(struct agent *a, struct cmd *c)
{
	(void)a;
	plan_trigger(c, NULL);
}

/* ------------------------------------------------------------ setup / exit */

int plan_init(struct agent *a)
{
	agent = a;
	tfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (tfd < 0)
		return -1;
	/* hrtimer slack (prctl(2) PR_SET_TIMERSLACK): the default 50 µs is added
	 * to every wakeup of a normal thread; 1 ns asks for the deadline itself. */
	prctl(PR_SET_TIMERSLACK, 1UL);
	fdw_add(tfd, EPOLLIN, on_timer, NULL);
	fdw_first(tfd);
	ev_set_observer(observe);
	return 0;
}

/* Opt-in (tcplab-agent --priority=nice|fifo), never by default. The plan's
 * lateness is the agent's wakeup latency: at nice 0 on a busy 2-CPU machine a
 * woken agent waits behind other runnable tasks (CFS/EEVDF), p99 6-34 ms for a
 * plain timer there. "nice" (nice -5) shortens that wait; "fifo" (SCHED_FIFO,
 * priority 2, just above the lab's commands: plan.h) runs the agent ahead of every normal
 * task, the only way to get ~1 ms on such a machine. Why not by default: it
 * needs CAP_SYS_NICE (or RLIMIT_NICE/RLIMIT_RTPRIO), and a real-time agent
 * takes precedence over everything else the lab runs, so a runaway loop could
 * starve the host until RT throttling (sched_rt_runtime_us, 95 %) steps in.
 * Programs the agent execs get the original policy and nice back before execve
 * (procs.c). Returns 0, or -1 with errno (the agent then runs as before). */
int plan_raise_priority(const char *mode)
{
	errno = 0;
	int nice0 = getpriority(PRIO_PROCESS, 0);
	if (nice0 == -1 && errno != 0)
		return -1;
	int policy = sched_getscheduler(0);
	struct sched_param param;
	if (policy < 0 || sched_getparam(0, &param) < 0)
		return -1;
	if (strcmp(mode, "nice") == 0) {
		if (nice0 <= -5)
			return 0;
		if (setpriority(PRIO_PROCESS, 0, -5) < 0)
			return -1;
	} else if (strcmp(mode, "fifo") == 0) {
		struct sched_param fifo = { .sched_priority = AGENT_FIFO_PRIORITY };
		if (sched_setscheduler(0, SCHED_FIFO, &fifo) < 0)
			return -1;
	} else {
		errno = EINVAL;
		return -1;
	}
	procs_restore_sched(policy, &param, nice0);
	return 0;
}

void plan_stop(void)
{
	going = 0;
	ev_set_observer(NULL);
	relay_stop();
	for (size_t i = 0; i < nsteps; i++)
		free_step(steps[i]);
	nsteps = 0;
	clear_marks();
	if (tfd >= 0) {
		fdw_del(tfd);
		close(tfd);
		tfd = -1;
	}
}

void plan_free(void)
{
	plan_stop();
	relay_free();
	free(steps);
	steps = NULL;
	capsteps = 0;
	free(marks);
	marks = NULL;
	capmarks = 0;
}
