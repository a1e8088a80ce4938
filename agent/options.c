/* options.c - see options.h. Semantics are the kernel's: socket(7) for SOL_SOCKET
 * options, tcp(7) for IPPROTO_TCP ones, ipv6(7) for IPV6_V6ONLY. Read-back
 * values are what the kernel reports, not what was asked for (SO_RCVBUF and
 * SO_SNDBUF are doubled, TCP_DEFER_ACCEPT is rounded to a retransmission
 * count, TCP_MAXSEG is clamped...). */
#define _GNU_SOURCE
#include "options.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/tcp.h>

/* include/net/tcp.h: congestion control names are at most 15 characters. */
#define CA_NAME_MAX 16

static const struct optdef OPTDEFS[] = {
	/* socket(7): buffer sizes; the kernel doubles the value (bookkeeping overhead). */
	{ "rcvbuf", "SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, OT_INT },
	{ "sndbuf", "SO_SNDBUF", SOL_SOCKET, SO_SNDBUF, OT_INT },
	/* socket(7): keepalive probes on an idle connection (timing: tcp(7) below). */
	{ "keepalive", "SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, OT_BOOL },
	/* tcp(7): idle seconds before the first probe, seconds between probes, probes before ETIMEDOUT. */
	{ "keepidle", "TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, OT_INT },
	{ "keepintvl", "TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL, OT_INT },
	{ "keepcnt", "TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT, OT_INT },
	/* tcp(7): ms that sent data may stay unacknowledged before ETIMEDOUT (also bounds keepalive). */
	{ "userTimeoutMs", "TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT, OT_INT },
	/* tcp(7): disable Nagle. */
	{ "nodelay", "TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, OT_BOOL },
	/* tcp(7): listener wakes accept() only when data arrives (seconds, rounded to SYN-ACK retransmissions). */
	{ "deferAccept", "TCP_DEFER_ACCEPT", IPPROTO_TCP, TCP_DEFER_ACCEPT, OT_INT },
	/* tcp(7): SYN retransmissions before connect() gives up (max 255). */
	{ "syncnt", "TCP_SYNCNT", IPPROTO_TCP, TCP_SYNCNT, OT_INT },
	/* socket(7): SO_LINGER {1, 0} makes close() send a RST. */
	{ "linger", "SO_LINGER", SOL_SOCKET, SO_LINGER, OT_LINGER },
	/* socket(7): bind to a port with TIME-WAIT sockets; SO_REUSEPORT shares a port. */
	{ "reuseaddr", "SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR, OT_BOOL },
	{ "reuseport", "SO_REUSEPORT", SOL_SOCKET, SO_REUSEPORT, OT_BOOL },
	/* ipv6(7): an AF_INET6 socket refuses IPv4-mapped peers. */
	{ "v6only", "IPV6_V6ONLY", IPPROTO_IPV6, IPV6_V6ONLY, OT_BOOL },
	/* tcp(7): ACK immediately (not permanent: the kernel may leave quickack mode). */
	{ "quickack", "TCP_QUICKACK", IPPROTO_TCP, TCP_QUICKACK, OT_BOOL },
	/* tcp(7): hold partial frames (up to 200 ms). */
	{ "cork", "TCP_CORK", IPPROTO_TCP, TCP_CORK, OT_BOOL },
	/* tcp(7): MSS for outgoing segments (set before connect/listen). */
	{ "maxseg", "TCP_MAXSEG", IPPROTO_TCP, TCP_MAXSEG, OT_INT },
	/* tcp(7) / ip-sysctl.rst tcp_notsent_lowat: writable only below this many unsent bytes. */
	{ "notsentLowat", "TCP_NOTSENT_LOWAT", IPPROTO_TCP, TCP_NOTSENT_LOWAT, OT_INT },
	/* tcp(7): bound on the advertised window. */
	{ "windowClamp", "TCP_WINDOW_CLAMP", IPPROTO_TCP, TCP_WINDOW_CLAMP, OT_INT },
	/* tcp(7): congestion control algorithm ("cubic", "reno", ...). */
	{ "congestion", "TCP_CONGESTION", IPPROTO_TCP, TCP_CONGESTION, OT_STR },
};

#define NOPTS (sizeof OPTDEFS / sizeof OPTDEFS[0])
_Static_assert(NOPTS <= 32, "optmask_t has 32 bits");

size_t opt_count(void)
{
	return NOPTS;
}

const struct optdef *opt_at(size_t i)
{
	return i < NOPTS ? &OPTDEFS[i] : NULL;
}

const struct optdef *opt_find(const char *name)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strcmp(OPTDEFS[i].key, name) == 0 || strcmp(OPTDEFS[i].cname, name) == 0)
			return &OPTDEFS[i];
	return NULL;
}

size_t opt_index(const struct optdef *d)
{
	return (size_t)(d - OPTDEFS);
}

static int value_int(const struct optdef *d, const struct jval *v, long min, int *out, char *msg, size_t msglen)
{
	if (d->type == OT_BOOL && v->type == J_BOOL) {
		*out = v->boolean;
		return 0;
	}
	if (v->type != J_NUM || v->num != floor(v->num) || v->num < (double)min || v->num > 2147483647.0) {
		snprintf(msg, msglen, "option %s: expected %s, got %s", d->key,
		         d->type == OT_BOOL ? "true or false" : "an integer", json_type_name(v->type));
		return -2;
	}
	*out = (int)v->num;
	return 0;
}

int opt_set(int fd, const struct optdef *d, const struct jval *v, char *msg, size_t msglen)
{
	int iv, r;
	switch (d->type) {
	case OT_BOOL:
	case OT_INT:
		if ((r = value_int(d, v, d->type == OT_BOOL ? 0 : -2147483647L, &iv, msg, msglen)) < 0)
			return r;
		return setsockopt(fd, d->level, d->optname, &iv, sizeof iv) < 0 ? -1 : 0;
	case OT_LINGER: {
		if ((r = value_int(d, v, -1, &iv, msg, msglen)) < 0)
			return r;
		struct linger lg = { .l_onoff = iv >= 0, .l_linger = iv >= 0 ? iv : 0 };
		return setsockopt(fd, d->level, d->optname, &lg, sizeof lg) < 0 ? -1 : 0;
	}
	case OT_STR:
		if (v->type != J_STR || v->len == 0 || v->len >= CA_NAME_MAX) {
			snprintf(msg, msglen, "option %s: expected a name of at most %d characters", d->key,
			         CA_NAME_MAX - 1);
			return -2;
		}
		return setsockopt(fd, d->level, d->optname, v->str, (socklen_t)v->len) < 0 ? -1 : 0;
	}
	snprintf(msg, msglen, "option %s: unsupported type", d->key);
	return -2;
}

int opt_read(int fd, const struct optdef *d, struct jbuf *b)
{
	switch (d->type) {
	case OT_BOOL:
	case OT_INT: {
		int iv = 0;
		socklen_t len = sizeof iv;
		if (getsockopt(fd, d->level, d->optname, &iv, &len) < 0)
			return -1;
		if (d->type == OT_BOOL)
			jb_bool(b, iv != 0);
		else
			jb_int(b, iv);
		return 0;
	}
	case OT_LINGER: {
		struct linger lg = { 0, 0 };
		socklen_t len = sizeof lg;
		if (getsockopt(fd, d->level, d->optname, &lg, &len) < 0)
			return -1;
		jb_int(b, lg.l_onoff ? lg.l_linger : -1);
		return 0;
	}
	case OT_STR: {
		char name[CA_NAME_MAX + 1] = { 0 };
		socklen_t len = CA_NAME_MAX;
		if (getsockopt(fd, d->level, d->optname, name, &len) < 0)
			return -1;
		jb_str(b, name);
		return 0;
	}
	}
	errno = EINVAL;
	return -1;
}

void opt_put_readback(int fd, optmask_t mask, struct jbuf *b)
{
	jb_key(b, "opts");
	jb_obj_begin(b);
	for (size_t i = 0; i < NOPTS; i++) {
		if (!(mask & ((optmask_t)1 << i)))
			continue;
		jb_key(b, OPTDEFS[i].key);
		if (opt_read(fd, &OPTDEFS[i], b) < 0)
			jb_append(b, "null", 4);
	}
	jb_obj_end(b);
}
