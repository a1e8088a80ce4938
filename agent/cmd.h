/* cmd.h - a parsed command and the argument helpers of tcplab-agent.c, shared
 * with the handlers that live in other files (procs.c, plan.c). */
#ifndef TCPLAB_CMD_H
#define TCPLAB_CMD_H

#include "json.h"

struct agent;

/* A parsed command. */
struct cmd {
	const struct jval *root;
	const char *op;          /* "" when missing */
	const char *name;        /* "" when missing */
	char *id;                /* serialised JSON of "id", or NULL */
};

/* error {op, errno: EINVAL} for a command the agent cannot run as written. */
void emit_invalid(const struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Each arg_* returns 1 (present), 0 (absent and optional) or -1 (an error event was emitted). */
int arg_str(const struct cmd *c, const char *key, const char **out, int required);
int arg_int(const struct cmd *c, const char *key, long long min, long long max, int required, long long *out);
int arg_bool(const struct cmd *c, const char *key, int *out);
int arg_object(const struct cmd *c, const char *key, const struct jval **out);

/* Whether an open socket has this name (processes may not take it). */
int agent_has_open_socket(struct agent *a, const char *name);
/* Whether op is in the dispatch table. */
int agent_knows_op(const char *op);
/* Run one command object as if it had come on stdin. */
void agent_run_command(struct agent *a, const struct jval *root);

#endif
