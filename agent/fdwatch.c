/* fdwatch.c - see fdwatch.h. */
#define _GNU_SOURCE
#include "fdwatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util.h"

#define MAX_EVENTS 64

struct watch {
	struct watch *next;
	int fd;
	int dead;                /* removed; freed after the current dispatch */
	int first;               /* dispatched before the others of a batch (fdw_first) */
	fdw_fn fn;
	void *ctx;
};

static int epfd = -1;
static struct watch *watches;
static int dispatching;

static struct watch *find_watch(int fd)
{
	for (struct watch *w = watches; w != NULL; w = w->next)
		if (w->fd == fd && !w->dead)
			return w;
	return NULL;
}

int fdw_init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	return epfd;
}

int fdw_fd(void)
{
	return epfd;
}

void fdw_add(int fd, uint32_t events, fdw_fn fn, void *ctx)
{
	struct watch *w = xmalloc(sizeof *w);
	*w = (struct watch){ .next = watches, .fd = fd, .fn = fn, .ctx = ctx };
	watches = w;
	struct epoll_event ev = { .events = events, .data.ptr = w };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		fprintf(stderr, "tcplab-agent: epoll_ctl add %d: %s\n", fd, strerror(errno));
}

void fdw_mod(int fd, uint32_t events)
{
	struct watch *w = find_watch(fd);
	if (w == NULL)
		return;
	struct epoll_event ev = { .events = events, .data.ptr = w };
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		fprintf(stderr, "tcplab-agent: epoll_ctl mod %d: %s\n", fd, strerror(errno));
}

static void reap_dead(void)
{
	for (struct watch **pp = &watches; *pp != NULL;) {
		struct watch *w = *pp;
		if (w->dead) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

void fdw_del(int fd)
{
	struct watch *w = find_watch(fd);
	if (w == NULL)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
	w->dead = 1; /* an event for it may be in the batch being dispatched */
	if (!dispatching)
		reap_dead();
}

void fdw_first(int fd)
{
	struct watch *w = find_watch(fd);
	if (w != NULL)
		w->first = 1;
}

void fdw_dispatch(int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout_ms);
	if (n <= 0)
		return;
	dispatching++;
	/* Due plan steps before the pipes of processes that just exited. */
	for (int pass = 1; pass >= 0; pass--)
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;
			if (!w->dead && w->first == pass)
				w->fn(w->ctx, evs[i].events);
		}
	if (--dispatching == 0)
		reap_dead();
}

void fdw_free(void)
{
	while (watches != NULL) {
		struct watch *w = watches;
		watches = w->next;
		free(w);
	}
	if (epfd >= 0)
		close(epfd);
	epfd = -1;
}
