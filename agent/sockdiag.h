/* sockdiag.h - the socket sampler: NETLINK_SOCK_DIAG inet_diag dumps of every
 * TCP socket of the agent's network namespace (what `ss -tanoiem` reads, see
 * sock_diag(7)) on an absolute timerfd schedule, emitted as changes, plus the
 * kernel's SKNLGRP_INET_TCP_DESTROY notifications for exact close times.
 *
 * It runs on its own thread at the agent's original (normal) priority, never
 * at the raised one of --priority=fifo (see sockdiag.c); the commands are the
 * `sample` and `unsample` ops of tcplab-agent.c's table. */
#ifndef TCPLAB_SOCKDIAG_H
#define TCPLAB_SOCKDIAG_H

#include "cmd.h"

/* op sample {intervalMs 1..60000 (default 10; 0 stops), fullEveryMs (default 1000)}:
 * start (or restart) sampling; `sampling` then a first full `ss` event, or
 * `error` op "sample" (netlink refused: the controller falls back to ss). */
void cmd_sample(struct agent *a, struct cmd *c);
/* op watch {name, states?: [ss state], local?: {addrs?, port?}, peer?: {addrs?, port?}}:
 * the first sampled row that matches (a listener bound to any address matches
 * local addrs) is the event NAME `seen` {local, peer, state} at its dump's
 * time, which the plan observes like the agent's own events (`after:
 * NAME.seen`, relayed to other hosts). Reply `watching` {sampling}. A watch of
 * the same name replaces the older one. */
void cmd_watch(struct agent *a, struct cmd *c);
/* op unsample: stop sampling (idempotent); event `unsampled` {n, missed, errors}. */
void cmd_unsample(struct agent *a, struct cmd *c);
/* Stop the sampler thread, silently (before the `exit` event). */
void sd_shutdown(void);
/* Close everything and free the tables (exit path, for leak checkers). */
void sd_free(void);

#endif
