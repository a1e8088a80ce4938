/* util.h - allocation that never returns NULL, clocks. */
#ifndef TCPLAB_UTIL_H
#define TCPLAB_UTIL_H

#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Formatted string in a new allocation. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CLOCK_REALTIME in microseconds: the "t" of every event. */
int64_t realtime_us(void);
/* CLOCK_MONOTONIC in nanoseconds: deadlines and intervals. */
int64_t monotonic_ns(void);

#endif
