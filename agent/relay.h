/* relay.h - cross-host gates sent straight from agent to agent over unix
 * datagram sockets (where the agents share a filesystem), so that a step
 * waiting on another host's event or step does not wait for the runner. See
 * relay.c and src/agent/protocol.ts. */
#ifndef TCPLAB_RELAY_H
#define TCPLAB_RELAY_H

#include <stdint.h>

#include "cmd.h"

void cmd_relay_bind(struct agent *a, struct cmd *c);
void cmd_relay(struct agent *a, struct cmd *c);

/* Called by plan.c's observer for every event written (never writes events):
 * sends the datagrams of routes on NAME.TYPE. Returns 1 when something was
 * sent (a `relayed` report is then pending: call relay_report() soon). */
int relay_event(const char *name, const char *type, int64_t t_us);
/* The same when step K is done (at done_us). */
int relay_step_done(long long step, int64_t done_us);
/* Write the pending `relayed` events (outside any observer). */
void relay_report(void);
/* Drop every route (cancel); the bound socket stays. */
void relay_clear(void);
/* Drop routes and reports, close the socket and unlink its path (exit). */
void relay_stop(void);
void relay_free(void);

#endif
