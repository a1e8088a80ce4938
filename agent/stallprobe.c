/* The suite's stall probe (src/runner/canary.ts): pinned to one CPU at
 * SCHED_FIFO 1, it sleeps 5 ms over and over and writes "<epochMs> <lateMs>"
 * for each wake-up at least REPORT_MS late. Only what stops even a real-time
 * task on that CPU makes it late: the kernel holding the CPU, or the
 * hypervisor not running it. It exits when its stdin closes (the runner died).
 * A C program rather than a Node loop: one per CPU starts in a millisecond and
 * costs nothing beside the scenarios.
 *
 * usage: tcplab-stallprobe CPU    (exit 2: bad usage; 3: cannot pin or get SCHED_FIFO) */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INTERVAL_NS 5000000LL
#define REPORT_MS 2.0

static long long ns_of(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
	char *end = NULL;
	long cpu = argc == 2 ? strtol(argv[1], &end, 10) : -1;
	if (argc != 2 || end == argv[1] || *end != '\0' || cpu < 0 || cpu >= CPU_SETSIZE) {
		fprintf(stderr, "usage: tcplab-stallprobe CPU\n");
		return 2;
	}
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET((int)cpu, &set);
	struct sched_param sp = { .sched_priority = 1 };
	if (sched_setaffinity(0, sizeof set, &set) != 0 || sched_setscheduler(0, SCHED_FIFO, &sp) != 0) {
		fprintf(stderr, "tcplab-stallprobe: cpu %ld: %s\n", cpu, strerror(errno));
		return 3;
	}
	signal(SIGPIPE, SIG_DFL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	long long due = ns_of(CLOCK_MONOTONIC) + INTERVAL_NS;
	for (;;) {
		struct timespec ts = { (time_t)(due / 1000000000LL), (long)(due % 1000000000LL) };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
		}
		long long now = ns_of(CLOCK_MONOTONIC);
		double late_ms = (double)(now - due) / 1e6;
		if (late_ms >= REPORT_MS)
			printf("%.1f %.2f\n", (double)ns_of(CLOCK_REALTIME) / 1e6, late_ms);
		struct pollfd in = { .fd = 0, .events = POLLIN };
		if (poll(&in, 1, 0) > 0) {
			char buf[256];
			if (read(0, buf, sizeof buf) <= 0)
				return 0; /* stdin closed: the runner is gone */
		}
		due = now + INTERVAL_NS; /* from this wake-up: no burst of catch-up wake-ups after a stall */
	}
}
