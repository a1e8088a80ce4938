/* rtguard.h - an agent at SCHED_FIFO (--priority=fifo) must not spin: a
 * real-time thread that keeps the CPU starves every normal task on its core
 * (RT throttling only leaves them 5 %). The plan's deadline work (a timer
 * wakeup, a syscall or fork/exec, an event line) takes microseconds; anything
 * that keeps the main thread busy for long (bulk reads or writes, a bug) is
 * not deadline work and runs at the normal priority instead:
 *
 *  - rtg_check() (each turn of the main loop): over each 100 ms window, if
 *    the main thread used >= 50 % of a CPU, it drops to the agent's original
 *    policy (procs_unraise_thread); once a window is back under 10 % it is
 *    raised again. One stderr line per change.
 *  - RLIMIT_RTTIME (setrlimit(2)), 200 ms: the kernel's backstop for a loop
 *    that never blocks. Its SIGXCPU drops the thread to the normal priority
 *    at once; rtg_check raises it again when it is quiet.
 * Loops that can run long inside one turn (sends) also stop after a slice
 * (rtg_slice_over) and go on at the next turn. */
#ifndef TCPLAB_RTGUARD_H
#define TCPLAB_RTGUARD_H

#include <stdint.h>

/* After plan_raise_priority("fifo") succeeded: arm both guards. Returns 0 or -1 (errno). */
int rtg_arm(void);
/* Once per turn of the main loop (cheap: one vDSO clock read most turns). */
void rtg_check(void);
/* When the main loop must wake to call rtg_check (CLOCK_MONOTONIC ns): the
 * end of the window while demoted, so that it is raised again even when idle;
 * -1 otherwise. */
int64_t rtg_wakeup_ns(void);
/* Whether a loop that started at start_ns (CLOCK_MONOTONIC) has had its slice (2 ms). */
int rtg_slice_over(int64_t start_ns);

#endif
