/* rtguard.c - see rtguard.h. */
#define _GNU_SOURCE
#include "rtguard.h"
#include "plan.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#include "procs.h"
#include "util.h"

#define RTG_WINDOW_NS (100 * 1000000LL)
#define RTG_BUSY_PCT 50
#define RTG_QUIET_PCT 10
#define RTG_RTTIME_US 200000
#define RTG_SLICE_NS (2 * 1000000LL)

static int armed;
static volatile sig_atomic_t demoted;     /* running at the normal priority now */
static volatile sig_atomic_t by_signal;   /* ...because of SIGXCPU */
static int64_t win_start_ns, win_cpu_ns;
static unsigned long long ndemoted;

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void set_rttime(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_RTTIME, &rl) < 0)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > RTG_RTTIME_US ? RTG_RTTIME_US : rl.rlim_max;
	setrlimit(RLIMIT_RTTIME, &rl);
}

/* SIGXCPU: RLIMIT_RTTIME's soft limit, the thread ran that long without
 * blocking. Only system calls here (procs_unraise_thread makes three). */
static void on_xcpu(int sig)
{
	(void)sig;
	int err = errno;
	if (!demoted) {
		procs_unraise_thread();
		demoted = 1;
		by_signal = 1;
	}
	errno = err;
}

static int raise_again(void)
{
	struct sched_param fifo = { .sched_priority = AGENT_FIFO_PRIORITY };
	if (sched_setscheduler(0, SCHED_FIFO, &fifo) < 0)
		return -1;
	prctl(PR_SET_TIMERSLACK, 1UL);
	set_rttime(); /* the kernel moved the soft limit up by a second at SIGXCPU */
	return 0;
}

int rtg_arm(void)
{
	if (sched_getscheduler(0) != SCHED_FIFO)
		return 0;
	struct rlimit rl;
	if (getrlimit(RLIMIT_RTTIME, &rl) == 0)
		procs_restore_rttime(&rl); /* programs the agent execs get the original */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_xcpu;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGXCPU, &sa, NULL) < 0)
		return -1;
	set_rttime();
	win_start_ns = monotonic_ns();
	win_cpu_ns = thread_cpu_ns();
	armed = 1;
	return 0;
}

void rtg_check(void)
{
	if (!armed)
		return;
	int64_t now = monotonic_ns();
	if (now - win_start_ns < RTG_WINDOW_NS)
		return;
	int64_t cpu = thread_cpu_ns();
	long long pct = (long long)((cpu - win_cpu_ns) * 100 / (now - win_start_ns));
	win_start_ns = now;
	win_cpu_ns = cpu;
	if (demoted && by_signal) {
		by_signal = 0;
		ndemoted++;
		fprintf(stderr, "tcplab-agent: ran %d ms at SCHED_FIFO without blocking (RLIMIT_RTTIME): now at the normal priority until it is quiet\n",
		        RTG_RTTIME_US / 1000);
	}
	if (!demoted && pct >= RTG_BUSY_PCT) {
		if (procs_unraise_thread() == 0) {
			demoted = 1;
			if (ndemoted++ < 10 || ndemoted % 100 == 0)
				fprintf(stderr, "tcplab-agent: busy (%lld %% of a CPU over %lld ms): SCHED_FIFO dropped until it is quiet (%llu times)\n",
				        pct, RTG_WINDOW_NS / 1000000, ndemoted);
		}
	} else if (demoted && pct < RTG_QUIET_PCT) {
		if (raise_again() == 0)
			demoted = 0;
	}
}

int64_t rtg_wakeup_ns(void)
{
	return armed && demoted ? win_start_ns + RTG_WINDOW_NS : -1;
}

int rtg_slice_over(int64_t start_ns)
{
	return monotonic_ns() - start_ns > RTG_SLICE_NS;
}
