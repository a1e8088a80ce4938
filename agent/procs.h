/* procs.h - processes the agent runs (clone/exec in its own namespace): their
 * output lines, stdin, signals and exits (see procs.c, src/agent/protocol.ts). */
#ifndef TCPLAB_PROCS_H
#define TCPLAB_PROCS_H

#include "cmd.h"

/* Block SIGCHLD and watch it through a signalfd. Returns 0 or -1 (errno). */
int procs_init(struct agent *a);
/* Whether a process of this name is running (sockets may not take the name). */
int procs_is_running(const char *name);
/* SIGTERM every running process group, SIGKILL after 1 s; report each exit.
 * Returns the number of processes that were running. */
unsigned procs_shutdown(void);
void procs_free(void);
/* The agent raised its own priority (plan_raise_priority): programs it execs
 * get this policy and nice value back before execve. */
struct sched_param;
void procs_restore_sched(int policy, const struct sched_param *param, int nice);
/* Give the calling thread that policy and nice value (and the default timer
 * slack): for threads that must not run at the raised priority (the socket
 * sampler, sockdiag.c). Returns 0, or -1 with errno. */
int procs_unraise_thread(void);
/* rtguard.c lowered RLIMIT_RTTIME: programs it execs get this one back. */
struct rlimit;
void procs_restore_rttime(const struct rlimit *rl);

void cmd_exec(struct agent *a, struct cmd *c);
void cmd_write(struct agent *a, struct cmd *c);
void cmd_end_stdin(struct agent *a, struct cmd *c);
void cmd_signal(struct agent *a, struct cmd *c);

#endif
