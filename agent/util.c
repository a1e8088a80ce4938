/* util.c - see util.h. Out of memory is not recoverable for the agent: it
 * says so on stderr and exits 2 (the client reports the stderr tail). */
#define _GNU_SOURCE
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void out_of_memory(size_t n)
{
	fprintf(stderr, "tcplab-agent: out of memory allocating %zu bytes\n", n);
	exit(2);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		out_of_memory(n);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		out_of_memory(n);
	return q;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_of_memory(0);
	return s;
}

/* clock_gettime(2) only fails for a bad clock id or pointer: a bug, so exit. */
static struct timespec clock_now(clockid_t id)
{
	struct timespec ts;
	if (clock_gettime(id, &ts) != 0) {
		perror("tcplab-agent: clock_gettime");
		exit(2);
	}
	return ts;
}

int64_t realtime_us(void)
{
	struct timespec ts = clock_now(CLOCK_REALTIME);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t monotonic_ns(void)
{
	struct timespec ts = clock_now(CLOCK_MONOTONIC);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
