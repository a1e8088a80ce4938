/* events.c - see events.h. Each event is built in memory and written with
 * one write(2), so a reader never sees half a line. Once the socket sampler's
 * thread exists (sockdiag.c), the write is done under a priority-inheritance
 * mutex: a SCHED_OTHER sampler preempted halfway through a line is boosted to
 * the real-time main thread's priority instead of holding it up. */
#define _GNU_SOURCE
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errnames.h"
#include "util.h"

static pthread_mutex_t out_lock;
static int out_locking;                  /* set before the second thread starts */
static __thread ev_forward_fn forward;   /* this thread's events are observed elsewhere */

int ev_enable_threads(void)
{
	if (out_locking)
		return 0;
	pthread_mutexattr_t ma;
	int err = pthread_mutexattr_init(&ma);
	if (err == 0) {
		err = pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
		if (err == 0)
			err = pthread_mutex_init(&out_lock, &ma);
		pthread_mutexattr_destroy(&ma);
	}
	if (err != 0) {
		errno = err;
		return -1;
	}
	out_locking = 1;
	return 0;
}

void ev_set_forward(ev_forward_fn fn)
{
	forward = fn;
}

/* Write all of buf to stdout. A controller that stopped reading leaves
 * nothing to report to: exit (the kernel closes the sockets). */
static void write_stdout(const char *buf, size_t len)
{
	if (out_locking)
		pthread_mutex_lock(&out_lock);
	while (len > 0) {
		ssize_t w = write(STDOUT_FILENO, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "tcplab-agent: writing an event to stdout: %s\n", strerror(errno));
			exit(1);
		}
		buf += w;
		len -= (size_t)w;
	}
	if (out_locking)
		pthread_mutex_unlock(&out_lock);
}

/* What the observer is told about an event, copied at ev_begin (the strings
 * follow the struct in the same allocation). */
struct evmeta {
	struct ev_info info;
};

static ev_observer_fn observer;

void ev_set_observer(ev_observer_fn fn)
{
	observer = fn;
}

static void *copy_meta(const char *name, const char *type, const char *id, int64_t t)
{
	size_t ln = strlen(name) + 1, lt = strlen(type) + 1, li = id != NULL ? strlen(id) + 1 : 0;
	struct evmeta *m = xmalloc(sizeof *m + ln + lt + li);
	char *p = (char *)(m + 1);
	m->info.t = t;
	m->info.name = memcpy(p, name, ln);
	m->info.type = memcpy(p + ln, type, lt);
	m->info.id = id != NULL ? memcpy(p + ln + lt, id, li) : NULL;
	m->info.done = -1;
	return m;
}

void ev_begin(struct jbuf *b, const char *name, const char *type, const char *id)
{
	ev_begin_at(b, realtime_us(), name, type, id);
}

static void begin(struct jbuf *b, int64_t t, const char *name, const char *type, const char *id, int observed);

void ev_begin_at(struct jbuf *b, int64_t t, const char *name, const char *type, const char *id)
{
	begin(b, t, name, type, id, 0);
}

void ev_begin_observed_at(struct jbuf *b, int64_t t, const char *name, const char *type)
{
	begin(b, t, name, type, NULL, 1);
}

static void begin(struct jbuf *b, int64_t t, const char *name, const char *type, const char *id, int observed)
{
	jb_init(b);
	/* Off the main thread only command replies (an id) and what the caller asks for are observed, later, there. */
	if (forward != NULL ? id != NULL || observed : observer != NULL)
		b->meta = copy_meta(name, type, id, t);
	jb_obj_begin(b);
	jb_key(b, "t");
	jb_int(b, t);
	jb_key(b, "name");
	jb_str(b, name);
	jb_key(b, "type");
	jb_str(b, type);
	if (id != NULL) {
		jb_key(b, "id");
		jb_raw(b, id);
	}
}

/* Finish the event and write it (one line, unbuffered). */
void ev_end(struct jbuf *b)
{
	jb_obj_end(b);
	jb_append(b, "\n", 1);
	write_stdout(b->p, b->len);
	if (b->meta != NULL) {
		/* "done" is a top-level key when present: inside a string value every
		 * quote is escaped, so `,"done":` cannot occur there. */
		struct ev_info *info = &((struct evmeta *)b->meta)->info;
		if (memmem(b->p, b->len, ",\"done\":true", 12) != NULL)
			info->done = 1;
		else if (memmem(b->p, b->len, ",\"done\":false", 13) != NULL)
			info->done = 0;
		if (forward != NULL) {
			forward(b->meta); /* now the main thread's */
			b->meta = NULL;
		} else if (observer != NULL) {
			observer(info);
		}
	}
	jb_free(b);
}

void ev_observe_forwarded(void *meta)
{
	if (observer != NULL)
		observer(&((struct evmeta *)meta)->info);
	free(meta);
}

void put_errno(struct jbuf *b, int err, const char *message)
{
	char tmp[16];
	jb_key(b, "errno");
	jb_str(b, errno_name(err, tmp, sizeof tmp));
	jb_key(b, "message");
	jb_str(b, message != NULL ? message : strerror(err));
}

/* Begin an "error" event; the caller may add fields, then ev_end(). */
void ev_error_begin(struct jbuf *b, const char *name, const char *id, const char *op, int err,
                    const char *message)
{
	ev_begin(b, name, "error", id);
	jb_key(b, "op");
	jb_str(b, op);
	put_errno(b, err, message);
}

/* error {op, errno, message} for a failed system call (message = strerror). */
void emit_error(const char *name, const char *id, const char *op, int err)
{
	struct jbuf b;
	ev_error_begin(&b, name, id, op, err, NULL);
	ev_end(&b);
}

/* error {op, syscall, errno} when a command makes several calls. */
void emit_syscall_error(const char *name, const char *id, const char *op, const char *syscall, int err)
{
	struct jbuf b;
	ev_error_begin(&b, name, id, op, err, NULL);
	jb_key(&b, "syscall");
	jb_str(&b, syscall);
	ev_end(&b);
}

void emit_simple(const char *name, const char *type, const char *id)
{
	struct jbuf b;
	ev_begin(&b, name, type, id);
	ev_end(&b);
}
