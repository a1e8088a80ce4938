/* fdwatch.h - the fds of processes and the plan's timer, gathered in one
 * epoll(7) instance so that the main ppoll() loop watches a single extra fd. */
#ifndef TCPLAB_FDWATCH_H
#define TCPLAB_FDWATCH_H

#include <stdint.h>

typedef void (*fdw_fn)(void *ctx, uint32_t events);

/* Create the epoll instance; returns its fd (for the main loop), or -1. */
int fdw_init(void);
/* The epoll fd (readable when a watched fd is ready). */
int fdw_fd(void);
/* Watch fd for events (EPOLLIN, EPOLLOUT); fn(ctx, revents) runs from fdw_dispatch. */
void fdw_add(int fd, uint32_t events, fdw_fn fn, void *ctx);
/* Change what fd is watched for. */
void fdw_mod(int fd, uint32_t events);
/* Stop watching fd (before closing it); safe from inside a callback. */
void fdw_del(int fd);
/* Run fd's callback before the others when several fds are ready at once (the plan's timer). */
void fdw_first(int fd);
/* Run the callbacks of ready fds, waiting at most timeout_ms (0: not at all). */
void fdw_dispatch(int timeout_ms);
/* Close the epoll instance and free what is left. */
void fdw_free(void);

#endif
