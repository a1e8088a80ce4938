/* plan.h - a host's timed plan: steps fired at absolute CLOCK_REALTIME
 * deadlines, on this agent's own events, or after other steps (see plan.c and
 * src/agent/protocol.ts). */
#ifndef TCPLAB_PLAN_H
#define TCPLAB_PLAN_H

#include "cmd.h"

/* Create the timerfd and start observing events. Returns 0 or -1 (errno). */
int plan_init(struct agent *a);
/* Drop every step without a word and stop the timer (the agent is exiting). */
void plan_stop(void);
void plan_free(void);
/* SCHED_FIFO priorities with --priority=fifo. The agents sit one above the lab's
 * own short commands (iptables, tc, sysctl, ip: procs.c keep_priority), which
 * sit above every normal task: a command takes ~15 ms of CPU, and at the
 * agents' level it kept every other agent on its CPU from its deadline that
 * long (FIFO tasks of one priority do not preempt each other). A program the
 * agent starts execs at the commands' level and runs at the normal policy. */
#define AGENT_FIFO_PRIORITY 2
#define COMMAND_FIFO_PRIORITY 1
/* Opt-in: raise the agent's own scheduling priority, mode "nice" (nice -5) or
 * "fifo" (SCHED_FIFO AGENT_FIFO_PRIORITY). Returns 0, or -1 with errno. See plan.c for why. */
int plan_raise_priority(const char *mode);

/* Whether an event NAME, TYPE is what the ref "NAME.TYPE" names. */
int plan_ref_matches(const char *ref, const char *name, const char *type);
/* Check a ref: "step:K" (*step = K) or "NAME.TYPE" (*step = -1). Returns 0, or -1 when it is neither. */
int plan_parse_ref(const char *ref, long long *step);
/* A trigger {ref, tUs} read from c->root: from the `trigger` command (via
 * NULL) or a relay datagram (via "relay", relay.c). Writes `triggered`. */
void plan_trigger(const struct cmd *c, const char *via);

void cmd_plan(struct agent *a, struct cmd *c);
void cmd_trigger(struct agent *a, struct cmd *c);
void cmd_go(struct agent *a, struct cmd *c);
void cmd_cancel(struct agent *a, struct cmd *c);

#endif
