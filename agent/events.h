/* events.h - writing events: one JSON object per line on stdout, with "t"
 * (CLOCK_REALTIME microseconds), "name", "type" and the command's "id". */
#ifndef TCPLAB_EVENTS_H
#define TCPLAB_EVENTS_H

#include <stdint.h>

#include "json.h"

/* Start an event; add fields with jb_key/jb_*, then ev_end(). id is
 * serialised JSON (a remembered command id) or NULL. */
void ev_begin(struct jbuf *b, const char *name, const char *type, const char *id);
/* The same with a given "t" (a time taken where the thing happened, e.g. exec). */
void ev_begin_at(struct jbuf *b, int64_t t, const char *name, const char *type, const char *id);
/* As ev_begin_at without an id, but observed by the plan (events.h observer) even when
 * written off the main thread: the sampler's `seen`. */
void ev_begin_observed_at(struct jbuf *b, int64_t t, const char *name, const char *type);
/* Finish the event and write it (one line, unbuffered). Exits if stdout is gone. */
void ev_end(struct jbuf *b);
/* "errno": symbolic name, "message": message or strerror(err). */
void put_errno(struct jbuf *b, int err, const char *message);
/* Begin an "error" event {op, errno, message}; the caller may add fields, then ev_end(). */
void ev_error_begin(struct jbuf *b, const char *name, const char *id, const char *op, int err,
                    const char *message);
/* error {op, errno, message} for a failed system call (message = strerror). */
void emit_error(const char *name, const char *id, const char *op, int err);
/* error {op, syscall, errno, message} when a command makes several calls. */
void emit_syscall_error(const char *name, const char *id, const char *op, const char *syscall, int err);
/* An event with no fields of its own (eof). */
void emit_simple(const char *name, const char *type, const char *id);

/* What an observer learns of each event written (after it was written). */
struct ev_info {
	int64_t t;
	const char *name;
	const char *type;
	const char *id;          /* serialised JSON, or NULL */
	int done;                /* the event's "done": 1, 0, or -1 when absent */
};
/* Called from ev_end for every event; it must not write events itself. */
typedef void (*ev_observer_fn)(const struct ev_info *ev);
void ev_set_observer(ev_observer_fn fn);

/* Threads. Call ev_enable_threads() before a second thread writes events:
 * from then on each line is written under a priority-inheritance mutex
 * (returns 0, or -1 with errno). A thread other than the main one calls
 * ev_set_forward(fn) first: the observer is never called on it; each of its
 * events that carries an id (a command's reply) is passed to fn once written,
 * and the main thread hands that pointer to ev_observe_forwarded(), which
 * calls the observer (if any) and frees it. */
typedef void (*ev_forward_fn)(void *meta);
int ev_enable_threads(void);
void ev_set_forward(ev_forward_fn fn);
void ev_observe_forwarded(void *meta);

#endif
