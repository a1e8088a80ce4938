/* options.h - the socket options a command may set ("opts") and read back. */
#ifndef TCPLAB_OPTIONS_H
#define TCPLAB_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

enum otype {
	OT_BOOL,   /* int 0/1, JSON true/false */
	OT_INT,    /* int, JSON number */
	OT_LINGER, /* struct linger; JSON seconds, or -1 for off */
	OT_STR,    /* string (TCP_CONGESTION) */
};

struct optdef {
	const char *key;   /* protocol name: "rcvbuf" */
	const char *cname; /* C name, also accepted by getsockopt: "SO_RCVBUF" */
	int level;
	int optname;
	enum otype type;
};

/* Bit i stands for option i of the table (there are fewer than 32). */
typedef uint32_t optmask_t;

size_t opt_count(void);
const struct optdef *opt_at(size_t i);
/* By protocol key or C name; NULL when unknown. */
const struct optdef *opt_find(const char *name);
/* Index of d in the table (for an optmask_t bit). */
size_t opt_index(const struct optdef *d);

/* Set one option from a JSON value. Returns 0; -1 when the syscall failed
 * (errno set); -2 when the value has the wrong type or range (msg filled). */
int opt_set(int fd, const struct optdef *d, const struct jval *v, char *msg, size_t msglen);
/* Read one option back and append its JSON value. Returns 0, or -1 (errno set,
 * nothing appended). */
int opt_read(int fd, const struct optdef *d, struct jbuf *b);
/* Append "opts": {key: value, ...} for every option in mask (null where the
 * read-back failed). */
void opt_put_readback(int fd, optmask_t mask, struct jbuf *b);

#endif
