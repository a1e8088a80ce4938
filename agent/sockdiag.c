/* sockdiag.c - see sockdiag.h.
 *
 * One dump = two SOCK_DIAG_BY_FAMILY requests (AF_INET, then AF_INET6;
 * IPPROTO_TCP, every state `ss -a` asks for) with idiag_ext asking for
 * INET_DIAG_INFO (struct tcp_info), INET_DIAG_SKMEMINFO, INET_DIAG_CONG and
 * INET_DIAG_VEGASINFO (which also brings INET_DIAG_BBRINFO): exactly the
 * request of `ss -tanoiem` (iproute2 misc/ss.c tcpdiag_send/sockdiag_send).
 * See sock_diag(7) and include/uapi/linux/inet_diag.h.
 *
 * Output (src/agent/protocol.ts has the field-by-field contract):
 *   {"t":<CLOCK_REALTIME us before the dump>,"name":"","type":"ss","n":<dump #>,
 *    "full":bool,"rows":[...],"gone":["<sk>",...],"dumpUs":..,"missed":..}
 * A dump is emitted when it is full (every fullEveryMs: every socket, also
 * when there is none, which doubles as the heartbeat) or when a socket
 * appeared, changed or disappeared. A socket is keyed by its sock_diag cookie
 * (what ss -e prints as sk:), which a TIME-WAIT socket inherits from the full
 * socket it replaces. "Changed" compares state, queues, timer name and
 * retransmissions, inode, uid, shutdown, skmem, congestion control, bbr info
 * and tcp_info minus the fields that count time by themselves (the timer
 * countdown idiag_expires, tcpi_last_*, busy/rwnd_limited/sndbuf_limited,
 * total_rto_time): a row that only aged is not a change.
 *
 * SKNLGRP_INET_TCP_DESTROY / SKNLGRP_INET6_TCP_DESTROY (linux/sock_diag.h;
 * joining needs CAP_NET_ADMIN) deliver a socket's last inet_diag message when
 * the kernel frees it. A full socket that became TIME-WAIT is freed too, but
 * its TIME-WAIT successor (same cookie) lives on: a quick lookup tells the two
 * apart and only a real end is emitted as `ss-destroy`.
 *
 * All of it runs on a thread of its own at the agent's original priority
 * (SCHED_OTHER), never at the SCHED_FIFO of --priority=fifo: a dump costs up
 * to ~1.4 ms of kernel time while namespaces share the host's TCP hash, and
 * every agent dumping every 10 ms at real-time priority starves the rest of
 * the machine. The thread owns its epoll set, the netlink sockets and the
 * tables; the main thread only parses `sample`/`unsample` and passes them on
 * through a pipe. Lines go to stdout under events.c's mutex; the plan's
 * observer (plan.c) stays on the main thread: replies carrying an id
 * (`sampling`, `unsampled`, a failed `sample`) are handed back to it to be
 * observed, the unsolicited `ss`, `ss-destroy` and error events are not.
 */
#define _GNU_SOURCE
#include "sockdiag.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>

#include "events.h"
#include "fdwatch.h"
#include "json.h"
#include "procs.h"
#include "util.h"

/* `ss -a`'s state filter in iproute2 6.1 (SS_ALL = (1 << SS_MAX) - 1, SS_MAX 12):
 * every TCP state, not TCP_NEW_SYN_RECV (the kernel adds it for SYN_RECV) nor
 * TCP_BOUND_INACTIVE. */
#define SD_ALL_STATES 0xfffu
#define SD_RECV_BYTES 65536
/* Datagrams one recvmmsg() takes: a dump's rows, then its NLMSG_DONE, which the
 * kernel queues while the first is read (netlink_recvmsg runs the dump on). */
#define SD_RECV_MSGS 4
#define SD_DESTROY_RCVBUF (1 << 20)
#define SD_DEFAULT_INTERVAL_MS 10
#define SD_DEFAULT_FULL_EVERY_MS 1000

/* struct tcp_info as in include/uapi/linux/tcp.h of Linux 6.18. The build
 * headers may be older, and the kernel may send a shorter one (older kernel):
 * what it sends is copied over a zeroed struct, so missing fields read 0. */
struct sd_tcp_info {
	uint8_t state, ca_state, retransmits, probes, backoff, options;
	uint8_t snd_wscale : 4, rcv_wscale : 4;
	uint8_t delivery_rate_app_limited : 1, fastopen_client_fail : 2;
	uint32_t rto, ato, snd_mss, rcv_mss;
	uint32_t unacked, sacked, lost, retrans, fackets;
	uint32_t last_data_sent, last_ack_sent, last_data_recv, last_ack_recv;
	uint32_t pmtu, rcv_ssthresh, rtt, rttvar, snd_ssthresh, snd_cwnd, advmss, reordering;
	uint32_t rcv_rtt, rcv_space;
	uint32_t total_retrans;
	uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
	uint32_t segs_out, segs_in;
	uint32_t notsent_bytes, min_rtt, data_segs_in, data_segs_out;
	uint64_t delivery_rate;
	uint64_t busy_time, rwnd_limited, sndbuf_limited;
	uint32_t delivered, delivered_ce;
	uint64_t bytes_sent, bytes_retrans;
	uint32_t dsack_dups, reord_seen;
	uint32_t rcv_ooopack;
	uint32_t snd_wnd;
	uint32_t rcv_wnd;
	uint32_t rehash;
	uint16_t total_rto, total_rto_recoveries;
	uint32_t total_rto_time;
};
_Static_assert(offsetof(struct sd_tcp_info, snd_wnd) == offsetof(struct tcp_info, tcpi_snd_wnd),
               "struct sd_tcp_info must follow the kernel's struct tcp_info");

/* Counters emitted as numbers when non-zero (ss prints most of them only then). */
#define SD_TI_U32(X) \
	X(retransmits) X(probes) X(backoff) X(options) X(rto) X(ato) X(snd_mss) X(rcv_mss) \
	X(unacked) X(sacked) X(lost) X(retrans) X(fackets) X(last_data_sent) X(last_ack_sent) \
	X(last_data_recv) X(last_ack_recv) X(pmtu) X(rcv_ssthresh) X(rtt) X(rttvar) \
	X(snd_ssthresh) X(snd_cwnd) X(advmss) X(reordering) X(rcv_rtt) X(rcv_space) \
	X(total_retrans) X(segs_out) X(segs_in) X(notsent_bytes) X(min_rtt) X(data_segs_in) \
	X(data_segs_out) X(delivered) X(delivered_ce) X(dsack_dups) X(reord_seen) \
	X(rcv_ooopack) X(snd_wnd) X(rcv_wnd) X(rehash) X(total_rto) X(total_rto_recoveries) \
	X(total_rto_time)
#define SD_TI_U64(X) \
	X(bytes_acked) X(bytes_received) X(delivery_rate) X(busy_time) X(rwnd_limited) \
	X(sndbuf_limited) X(bytes_sent) X(bytes_retrans)

/* What decides whether a socket changed (memcmp'd; zeroed before filling). */
struct snap {
	uint8_t state, timer, retrans, shutdown, v6only, has_info, has_skmem, pad;
	uint32_t rq, wq, ino, uid;
	uint32_t skmem[SK_MEMINFO_VARS > 12 ? SK_MEMINFO_VARS : 12];
	char cc[16];
	uint32_t bbr[5];
	struct sd_tcp_info ti;
};

struct entry {
	uint64_t cookie;
	uint64_t gen;          /* dump number that last saw it */
	struct snap snap;
};

/* The sockets of the last dump, sorted by cookie (found with bsearch). */
struct table {
	struct entry *v;
	size_t n, cap;
};

/* One parsed inet_diag message. */
struct diag {
	const struct inet_diag_msg *r;
	const struct rtattr *tb[INET_DIAG_MAX + 1];
	struct snap snap;
	uint64_t cookie;
	unsigned skmem_n;      /* u32s in INET_DIAG_SKMEMINFO */
	int has_v6only, has_shutdown, has_bbr;
};

static struct {
	int nlfd, timerfd, destroyfd;
	int epfd;              /* the sampler thread's wait: ctl pipe, destroy socket (and timerfd) */
	int deadlines;         /* epoll_pwait2 works: ticks are waited for as deadlines, no timerfd */
	int active;
	long interval_ms, full_every_ms;
	int64_t next_tick_ns;  /* CLOCK_MONOTONIC deadline of the next tick (deadlines) */
	int64_t next_full_ns;
	uint64_t n;            /* dumps done */
	uint64_t missed;       /* timer ticks missed because a dump overran */
	uint64_t errors;       /* failed dumps */
	uint32_t seq;
	int compat_ok;         /* the one-walk TCPDIAG_GETSOCK dump works here */
	struct table tab, fresh;
	size_t seen;           /* entries of tab the dump under way has seen (the rest are gone) */
	char *buf;             /* dump replies: SD_RECV_MSGS buffers of SD_RECV_BYTES */
	struct iovec iov[SD_RECV_MSGS];   /* over buf, set once: recvmmsg() writes only msg_len and flags */
	struct mmsghdr mm[SD_RECV_MSGS];
	char *dbuf;            /* destroy notifications (still_exists() reuses buf meanwhile) */
} sd = { .nlfd = -1, .timerfd = -1, .destroyfd = -1, .epfd = -1 };

static const char *const STATE_NAMES[] = {
	/* ss(8) names (iproute2 misc/ss.c sock_state_print), by TCP_* state */
	"UNKNOWN", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
	"UNCONN", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING",
};
/* idiag_timer (ss.c tcp_timer_print). */
static const char *const TIMER_NAMES[] = { "off", "on", "keepalive", "timewait", "persist" };

/* `watch`: a selector of the scenario's `sockets:` names; the first row that
 * matches it is the event NAME `seen` (see cmd_watch). Owned by the sampler
 * thread once posted. Mirrors rowMatches in src/runner/name-sockets.ts. */
#define SD_WATCH_ADDRS 16
struct sd_endpoint {
	int port;                                 /* -1: any */
	size_t naddrs;                            /* 0: any address */
	char addrs[SD_WATCH_ADDRS][INET6_ADDRSTRLEN];
};
struct sd_watch {
	char *name;
	char *id;                                 /* the watch command's id (its `watching` reply was sent) */
	unsigned states;                          /* bit per TCP_* state; 0: any */
	int has_local, has_peer;
	struct sd_endpoint local, peer;
	struct sd_watch *next;
};
static struct sd_watch *watches;          /* sampler thread */
/* Rows matched by the dump in progress: their `seen` events follow its `ss` event. */
struct sd_seen {
	struct sd_watch *w;
	char local[INET6_ADDRSTRLEN + 16], peer[INET6_ADDRSTRLEN + 16];
	uint8_t state;
};
#define SD_SEEN_MAX 16
static struct sd_seen seen_now[SD_SEEN_MAX];
static size_t nseen_now;
static int64_t dump_t_us;                 /* CLOCK_REALTIME at the start of the dump in progress */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ------------------------------------------------------------ parsing */

static size_t attr_len(const struct rtattr *a)
{
	return (size_t)RTA_PAYLOAD(a);
}

static const void *attr_data(const struct rtattr *a)
{
	return RTA_DATA(a);
}

static uint64_t cookie_of(const struct inet_diag_msg *r)
{
	return (uint64_t)r->id.idiag_cookie[0] | (uint64_t)r->id.idiag_cookie[1] << 32;
}

/* Parse one message into d (attributes and the change snapshot). */
static void parse_diag(const struct nlmsghdr *h, struct diag *d)
{
	memset(d, 0, sizeof *d);
	const struct inet_diag_msg *r = NLMSG_DATA(h);
	d->r = r;
	d->cookie = cookie_of(r);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof *r);
	for (const struct rtattr *a = (const struct rtattr *)(r + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		unsigned type = a->rta_type & ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER);
		if (type <= INET_DIAG_MAX)
			d->tb[type] = a;
	}
	struct snap *s = &d->snap;
	s->state = r->idiag_state;
	s->timer = r->idiag_timer;
	s->retrans = r->idiag_retrans;
	s->rq = r->idiag_rqueue;
	s->wq = r->idiag_wqueue;
	s->ino = r->idiag_inode;
	s->uid = r->idiag_uid;
	const struct rtattr *a;
	if ((a = d->tb[INET_DIAG_SHUTDOWN]) != NULL && attr_len(a) >= 1) {
		s->shutdown = *(const uint8_t *)attr_data(a);
		d->has_shutdown = 1;
	}
	if ((a = d->tb[INET_DIAG_SKV6ONLY]) != NULL && attr_len(a) >= 1) {
		s->v6only = *(const uint8_t *)attr_data(a);
		d->has_v6only = 1;
	}
	if ((a = d->tb[INET_DIAG_SKMEMINFO]) != NULL) {
		size_t n = attr_len(a) / sizeof(uint32_t);
		if (n > sizeof s->skmem / sizeof s->skmem[0])
			n = sizeof s->skmem / sizeof s->skmem[0];
		memcpy(s->skmem, attr_data(a), n * sizeof(uint32_t));
		d->skmem_n = (unsigned)n;
		s->has_skmem = 1;
	}
	if ((a = d->tb[INET_DIAG_CONG]) != NULL) {
		size_t n = attr_len(a);
		if (n >= sizeof s->cc)
			n = sizeof s->cc - 1;
		memcpy(s->cc, attr_data(a), n);
		s->cc[sizeof s->cc - 1] = '\0';
	}
	if ((a = d->tb[INET_DIAG_BBRINFO]) != NULL) {
		size_t n = attr_len(a) < sizeof s->bbr ? attr_len(a) : sizeof s->bbr;
		memcpy(s->bbr, attr_data(a), n);
		d->has_bbr = 1;
	}
	if ((a = d->tb[INET_DIAG_INFO]) != NULL) {
		size_t n = attr_len(a) < sizeof s->ti ? attr_len(a) : sizeof s->ti;
		memcpy(&s->ti, attr_data(a), n);
		s->has_info = 1;
	}
}

/* The snapshot without what changes by the passing of time alone. */
static void strip_clock_fields(struct snap *s)
{
	s->ti.last_data_sent = s->ti.last_ack_sent = s->ti.last_data_recv = s->ti.last_ack_recv = 0;
	s->ti.busy_time = s->ti.rwnd_limited = s->ti.sndbuf_limited = 0;
	s->ti.total_rto_time = 0;
}

/* ------------------------------------------------------------ rows */

/* "addr:port" as ss -n prints it (ss.c inet_addr_print): "[v6]:port", "*" for
 * the IPv6 wildcard of a dual-stack socket and for port 0. */
static void format_addr(int family, const uint32_t *addr, int port, int v6only, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN + 2], ab[INET6_ADDRSTRLEN], pb[8];
	if (family == AF_INET) {
		inet_ntop(AF_INET, addr, host, sizeof host);
	} else {
		static const uint32_t any[4];
		if (!v6only && memcmp(addr, any, sizeof any) == 0) {
			strcpy(host, "*");
		} else {
			inet_ntop(AF_INET6, addr, ab, sizeof ab);
			snprintf(host, sizeof host, strchr(ab, ':') ? "[%s]" : "%s", ab);
		}
	}
	if (port == 0)
		strcpy(pb, "*");
	else
		snprintf(pb, sizeof pb, "%d", port);
	snprintf(out, outlen, "%s:%s", host, pb);
}

/* The address part of format_addr's "addr:port", brackets dropped ("*", "0.0.0.0", "::1"). */
static void addr_part(const char *hostport, char *out, size_t outlen)
{
	const char *colon = strrchr(hostport, ':');
	size_t n = colon != NULL ? (size_t)(colon - hostport) : strlen(hostport);
	if (n >= 2 && hostport[0] == '[' && hostport[n - 1] == ']') {
		hostport++;
		n -= 2;
	}
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, hostport, n);
	out[n] = '\0';
}

static int endpoint_matches(const struct sd_endpoint *ep, const char *addr, int port, int wildcard_ok)
{
	if (ep->port >= 0 && ep->port != port)
		return 0;
	if (ep->naddrs == 0)
		return 1;
	/* A listener bound to any address matches a selector naming the host's address (ss prints "*", "0.0.0.0" or "::"). */
	if (wildcard_ok && (strcmp(addr, "*") == 0 || strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0))
		return 1;
	for (size_t i = 0; i < ep->naddrs; i++)
		if (strcmp(ep->addrs[i], addr) == 0)
			return 1;
	return 0;
}

static void free_watch(struct sd_watch *w)
{
	free(w->name);
	free(w->id);
	free(w);
}

/* NAME `seen` at the dump's time, observed on the main thread
 * (ev_begin_observed_at), where plan.c opens `NAME.seen` gates and relays it. */
static void emit_seen(int64_t t_us)
{
	for (size_t i = 0; i < nseen_now; i++) {
		struct sd_seen *sn = &seen_now[i];
		struct jbuf b;
		ev_begin_observed_at(&b, t_us, sn->w->name, "seen");
		jb_key(&b, "local");
		jb_str(&b, sn->local);
		jb_key(&b, "peer");
		jb_str(&b, sn->peer);
		jb_key(&b, "state");
		jb_str(&b, sn->state < sizeof STATE_NAMES / sizeof STATE_NAMES[0] ? STATE_NAMES[sn->state] : "UNKNOWN");
		ev_end(&b);
		free_watch(sn->w);
	}
	nseen_now = 0;
}

/* Check the row against every watch; a match is written at once, stamped with the dump's start. */
static void match_watches(const struct diag *d)
{
	if (watches == NULL)
		return;
	const struct inet_diag_msg *r = d->r;
	int lport = ntohs(r->id.idiag_sport), rport = ntohs(r->id.idiag_dport);
	char local[INET6_ADDRSTRLEN + 16], peer[INET6_ADDRSTRLEN + 16], la[INET6_ADDRSTRLEN + 2], pa[INET6_ADDRSTRLEN + 2];
	format_addr(r->idiag_family, r->id.idiag_src, lport, d->snap.v6only, local, sizeof local);
	format_addr(r->idiag_family, r->id.idiag_dst, rport, d->snap.v6only, peer, sizeof peer);
	addr_part(local, la, sizeof la);
	addr_part(peer, pa, sizeof pa);
	for (struct sd_watch **wp = &watches; *wp != NULL;) {
		struct sd_watch *w = *wp;
		int ok = nseen_now < SD_SEEN_MAX && (w->states == 0 || (d->snap.state < 32 && (w->states & (1u << d->snap.state)))) &&
		         (!w->has_local || endpoint_matches(&w->local, la, lport, 1)) &&
		         (!w->has_peer || endpoint_matches(&w->peer, pa, rport, 0));
		if (!ok) {
			wp = &w->next;
			continue;
		}
		*wp = w->next;
		struct sd_seen *sn = &seen_now[nseen_now++];
		sn->w = w;
		sn->state = d->snap.state;
		strcpy(sn->local, local);
		strcpy(sn->peer, peer);
	}
	/* At once, not after the dump: a dump walks the whole (shared) TCP hash, ms under load. */
	emit_seen(dump_t_us);
}

static void put_u(struct jbuf *b, const char *key, unsigned long long v)
{
	jb_key(b, key);
	jb_uint(b, v);
}

/* The row of one socket: every field SsRecord needs, tcp_info raw (kernel units). */
static void put_row_fields(struct jbuf *b, const struct diag *d)
{
	const struct inet_diag_msg *r = d->r;
	const struct snap *s = &d->snap;
	char tmp[INET6_ADDRSTRLEN + 16];
	snprintf(tmp, sizeof tmp, "%llx", (unsigned long long)d->cookie);
	jb_key(b, "sk");
	jb_str(b, tmp);
	jb_key(b, "state");
	jb_str(b, s->state < sizeof STATE_NAMES / sizeof STATE_NAMES[0] ? STATE_NAMES[s->state] : "UNKNOWN");
	put_u(b, "recvQ", s->rq);
	put_u(b, "sendQ", s->wq);
	int lport = ntohs(r->id.idiag_sport), rport = ntohs(r->id.idiag_dport);
	format_addr(r->idiag_family, r->id.idiag_src, lport, s->v6only, tmp, sizeof tmp);
	jb_key(b, "local");
	jb_str(b, tmp);
	format_addr(r->idiag_family, r->id.idiag_dst, rport, s->v6only, tmp, sizeof tmp);
	jb_key(b, "peer");
	jb_str(b, tmp);
	put_u(b, "lport", (unsigned)lport);
	put_u(b, "rport", (unsigned)rport);
	if (r->id.idiag_if != 0) {
		char ifname[IF_NAMESIZE];
		jb_key(b, "dev");
		if (if_indextoname(r->id.idiag_if, ifname) != NULL)
			jb_str(b, ifname);
		else
			jb_uint(b, r->id.idiag_if);
	}
	put_u(b, "ino", s->ino);
	put_u(b, "uid", s->uid);
	if (s->timer != 0) {
		jb_key(b, "timer");
		jb_obj_begin(b);
		jb_key(b, "name");
		jb_str(b, s->timer < sizeof TIMER_NAMES / sizeof TIMER_NAMES[0] ? TIMER_NAMES[s->timer] : "unknown");
		put_u(b, "expiresMs", r->idiag_expires);
		put_u(b, "retrans", s->retrans);
		jb_obj_end(b);
	}
	if (d->has_shutdown)
		put_u(b, "shutdown", s->shutdown);
	if (d->has_v6only)
		put_u(b, "v6only", s->v6only);
	if (s->has_skmem) {
		/* SK_MEMINFO_* order (linux/sock_diag.h), ss.c print_skmeminfo names */
		static const char *const names[] = { "r", "rb", "t", "tb", "f", "w", "o", "bl", "d" };
		jb_key(b, "skmem");
		jb_obj_begin(b);
		for (unsigned i = 0; i < d->skmem_n && i < sizeof names / sizeof names[0]; i++)
			put_u(b, names[i], s->skmem[i]);
		jb_obj_end(b);
	}
	if (s->cc[0] != '\0') {
		jb_key(b, "cc");
		jb_str(b, s->cc);
	}
	if (d->has_bbr) {
		/* struct tcp_bbr_info: bw in bytes/s, min_rtt in us, gains << 8 */
		jb_key(b, "bbr");
		jb_obj_begin(b);
		put_u(b, "bw", (unsigned long long)s->bbr[0] | (unsigned long long)s->bbr[1] << 32);
		put_u(b, "min_rtt", s->bbr[2]);
		put_u(b, "pacing_gain", s->bbr[3]);
		put_u(b, "cwnd_gain", s->bbr[4]);
		jb_obj_end(b);
	}
	if (s->has_info) {
		const struct sd_tcp_info *ti = &s->ti;
		jb_key(b, "tcpInfo");
		jb_obj_begin(b);
		put_u(b, "state", ti->state);
		if (ti->ca_state)
			put_u(b, "ca_state", ti->ca_state);
		if (ti->snd_wscale)
			put_u(b, "snd_wscale", ti->snd_wscale);
		if (ti->rcv_wscale)
			put_u(b, "rcv_wscale", ti->rcv_wscale);
		if (ti->delivery_rate_app_limited)
			put_u(b, "delivery_rate_app_limited", 1);
		if (ti->fastopen_client_fail)
			put_u(b, "fastopen_client_fail", ti->fastopen_client_fail);
#define PUT_NZ(f) if (ti->f) put_u(b, #f, ti->f);
		SD_TI_U32(PUT_NZ)
		SD_TI_U64(PUT_NZ)
#undef PUT_NZ
		/* ~0 means "unlimited" (sk_pacing_rate default): -1 */
		if (ti->pacing_rate) {
			jb_key(b, "pacing_rate");
			jb_int(b, ti->pacing_rate == ~0ULL ? -1 : (long long)ti->pacing_rate);
		}
		if (ti->max_pacing_rate) {
			jb_key(b, "max_pacing_rate");
			jb_int(b, ti->max_pacing_rate == ~0ULL ? -1 : (long long)ti->max_pacing_rate);
		}
		jb_obj_end(b);
	}
}

/* ------------------------------------------------------------ the table */

static int cmp_entry(const void *x, const void *y)
{
	uint64_t a = ((const struct entry *)x)->cookie, b = ((const struct entry *)y)->cookie;
	return a < b ? -1 : a > b;
}

static struct entry *find_entry(uint64_t cookie)
{
	struct entry key = { .cookie = cookie };
	return sd.tab.n == 0 ? NULL : bsearch(&key, sd.tab.v, sd.tab.n, sizeof key, cmp_entry);
}

static void push_entry(struct table *t, const struct entry *e)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->v = xrealloc(t->v, t->cap * sizeof *t->v);
	}
	t->v[t->n++] = *e;
}

static void free_table(struct table *t)
{
	free(t->v);
	memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------ netlink */

static int open_diag_socket(void)
{
	return socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
}

static int send_req(int fd, int family, uint16_t flags, const struct inet_diag_sockid *id, uint8_t ext)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req;
	memset(&req, 0, sizeof req);
	req.nlh.nlmsg_len = sizeof req;
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | flags;
	req.nlh.nlmsg_seq = ++sd.seq;
	req.r.sdiag_family = (uint8_t)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = SD_ALL_STATES;
	req.r.idiag_ext = ext;
	if (id != NULL)
		req.r.id = *id;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	for (;;) {
		if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&sa, sizeof sa) >= 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Ask the kernel for one socket by its id (a point query, no dump) and hand
 * its row, if any, to on_row. Returns 1 when the socket is there, 0 when the
 * kernel says it is not (ENOENT, or ESTALE: another socket on the 4-tuple)
 * or the query failed. */
static int point_query(int family, const struct inet_diag_sockid *id, uint8_t ext,
                       void (*on_row)(const struct nlmsghdr *h, void *ctx), void *ctx)
{
	if (sd.nlfd < 0 || send_req(sd.nlfd, family, 0, id, ext) < 0)
		return 0;
	uint32_t seq = sd.seq;
	for (;;) {
		ssize_t got = recv(sd.nlfd, sd.buf, SD_RECV_BYTES, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		int len = (int)got, found = -1;
		for (struct nlmsghdr *h = (struct nlmsghdr *)sd.buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
				found = 1;
				if (on_row != NULL)
					on_row(h, ctx);
			} else if (found < 0) {
				found = 0;
			}
		}
		if (found >= 0)
			return found;
	}
}

/* Whether the socket of r is still in the kernel's tables (with the same
 * cookie): a destroyed full socket whose TIME-WAIT successor lives on. */
static int still_exists(const struct inet_diag_msg *r)
{
	return point_query(r->idiag_family, &r->id, 0, NULL, NULL);
}

/* ------------------------------------------------------------ dumps */

#define SD_EXT ((1 << (INET_DIAG_INFO - 1)) | (1 << (INET_DIAG_VEGASINFO - 1)) | \
                (1 << (INET_DIAG_CONG - 1)) | (1 << (INET_DIAG_SKMEMINFO - 1)))

/* The legacy TCPDIAG_GETSOCK dump (struct inet_diag_req): the kernel runs it
 * with sdiag_family AF_UNSPEC (inet_diag_dump_compat), so one walk of the
 * established hash gives IPv4 and IPv6 sockets. That walk visits every bucket
 * of the namespace's ehash (262144 on a large host), empty or not: it is
 * what a dump costs, so one walk instead of two halves it. */
static int send_compat_dump(int fd)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req r;
	} req;
	memset(&req, 0, sizeof req);
	req.nlh.nlmsg_len = sizeof req;
	req.nlh.nlmsg_type = TCPDIAG_GETSOCK;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nlh.nlmsg_seq = ++sd.seq;
	req.r.idiag_family = AF_INET;
	req.r.idiag_states = SD_ALL_STATES;
	req.r.idiag_ext = SD_EXT;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	for (;;) {
		if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&sa, sizeof sa) >= 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Rows whose timer changed since the last dump, re-read once the dump is done.
 * inet_diag reads a socket without its lock: a dump that lands while a timer
 * handler or a sendmsg runs on another CPU can see the timer half rearmed
 * (`timer: none` or `keepalive` between two `on` rows, with data in flight).
 * A timer change is rare, so each one is confirmed by a point query; what it
 * returns is the row. Measured: such a read in ~1 of 100 scenarios with busy
 * loops on the host, more often under emulation. */
#define SD_SETTLE_MAX 32
static struct {
	uint8_t family;
	struct inet_diag_sockid id;
	uint64_t cookie;
} settle[SD_SETTLE_MAX];
static size_t nsettle;

/* The `ss` event of one dump, begun at its first row: most ticks emit
 * nothing, and a header formatted only to be thrown away costs more than
 * comparing the rows. */
struct sdout {
	struct jbuf b;
	int begun, full;
	int64_t t_us;
	size_t nrows;
};

static void out_begin(struct sdout *o)
{
	if (o->begun)
		return;
	o->begun = 1;
	ev_begin_at(&o->b, o->t_us, "", "ss", NULL);
	jb_key(&o->b, "n");
	jb_uint(&o->b, sd.n);
	jb_key(&o->b, "full");
	jb_bool(&o->b, o->full);
	jb_key(&o->b, "rows");
	jb_arr_begin(&o->b);
}

static void out_row(struct sdout *o, const struct diag *d)
{
	out_begin(o);
	jb_obj_begin(&o->b);
	put_row_fields(&o->b, d);
	jb_obj_end(&o->b);
	o->nrows++;
}

/* One message of a dump's reply: a row is compared with the table and
 * emitted into o when new or changed (or full). Returns 1 at NLMSG_DONE, -1
 * with errno at NLMSG_ERROR, 0 otherwise. */
static int take_message(const struct nlmsghdr *h, uint32_t seq, struct sdout *o)
{
	if (h->nlmsg_seq != seq)
		return 0;
	if (h->nlmsg_type == NLMSG_DONE)
		return 1;
	if (h->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(h);
		errno = e->error < 0 ? -e->error : EPROTO;
		return -1;
	}
	/* replies carry the request's type: TCPDIAG_GETSOCK for the compat dump */
	if ((h->nlmsg_type != SOCK_DIAG_BY_FAMILY && h->nlmsg_type != TCPDIAG_GETSOCK) ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
		return 0;
	struct diag d;
	parse_diag(h, &d);
	match_watches(&d);
	struct snap cmp = d.snap;
	strip_clock_fields(&cmp);
	struct entry *e = find_entry(d.cookie);
	int emit = o->full;
	if (e != NULL) {
		if (e->gen == sd.n)
			return 0; /* seen twice in one dump (it moved between hash chains) */
		e->gen = sd.n;
		sd.seen++;
		if (memcmp(&e->snap, &cmp, sizeof cmp) != 0) {
			int timer_changed = e->snap.timer != cmp.timer;
			e->snap = cmp;
			emit = 1;
			if (timer_changed && nsettle < SD_SETTLE_MAX) {
				settle[nsettle].family = d.r->idiag_family;
				settle[nsettle].id = d.r->id;
				settle[nsettle].cookie = d.cookie;
				nsettle++;
				return 0; /* its row comes from the re-read */
			}
		}
	} else {
		struct entry ne = { .cookie = d.cookie, .gen = sd.n, .snap = cmp };
		push_entry(&sd.fresh, &ne);
		emit = 1;
	}
	if (emit)
		out_row(o, &d);
	return 0;
}

/* One dump (family AF_UNSPEC: the compat request for both) into the event
 * being built. Returns 0 or -1 with errno. The reply is read with recvmmsg():
 * a small dump is one datagram of rows and one of NLMSG_DONE, already queued
 * when the first is read, so a dump costs two system calls rather than
 * three (each one dearer in a VM than the work it does here). */
static int dump_family(int family, struct sdout *o)
{
	if ((family == AF_UNSPEC ? send_compat_dump(sd.nlfd) : send_req(sd.nlfd, family, NLM_F_DUMP, NULL, SD_EXT)) < 0)
		return -1;
	uint32_t seq = sd.seq;
	for (;;) {
		int got = recvmmsg(sd.nlfd, sd.mm, SD_RECV_MSGS, MSG_WAITFORONE, NULL);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (int i = 0; i < got; i++) {
			int len = (int)sd.mm[i].msg_len;
			for (const struct nlmsghdr *h = sd.iov[i].iov_base; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
				int r = take_message(h, seq, o);
				if (r != 0)
					return r < 0 ? -1 : 0;
			}
		}
	}
}

struct settled_ctx {
	uint64_t cookie;
	struct sdout *o;
};

static void emit_settled_row(const struct nlmsghdr *h, void *ctx)
{
	struct settled_ctx *c = ctx;
	struct diag d;
	parse_diag(h, &d);
	struct snap cmp = d.snap;
	strip_clock_fields(&cmp);
	struct entry *e = find_entry(c->cookie);
	if (e != NULL)
		e->snap = cmp;
	out_row(c->o, &d);
}

/* Re-read one socket and emit its row (nothing when it is gone). */
static void emit_settled(size_t i, struct sdout *o)
{
	struct settled_ctx c = { settle[i].cookie, o };
	point_query(settle[i].family, &settle[i].id, SD_EXT, emit_settled_row, &c);
}

/* Sample now (now_ns: CLOCK_MONOTONIC, read by the caller as it woke): dump,
 * compare with the last dump, emit what there is to say. */
static int sample_now(int force_full, int64_t now_ns)
{
	int full = force_full || now_ns >= sd.next_full_ns;
	if (full) {
		int64_t step = (int64_t)sd.full_every_ms * 1000000;
		if (sd.next_full_ns == 0 || now_ns - sd.next_full_ns > step)
			sd.next_full_ns = now_ns;
		while (sd.next_full_ns <= now_ns)
			sd.next_full_ns += step;
	}
	sd.n++;
	/* The dump's CPU cost (this thread's CPU time): the wall time includes
	 * waiting for a CPU on a busy machine, which says nothing of the cost.
	 * Taken for full dumps only (the runner's cost check reads those): the
	 * thread's CPU clock is a system call, and most ticks write nothing. */
	struct timespec cpu0, cpu1;
	if (full)
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
	struct sdout o = { .full = full, .t_us = realtime_us() };
	dump_t_us = o.t_us;
	sd.fresh.n = 0;
	sd.seen = 0;
	nsettle = 0;
	int ok = sd.compat_ok ? dump_family(AF_UNSPEC, &o) == 0
	                      : dump_family(AF_INET, &o) == 0 && dump_family(AF_INET6, &o) == 0;
	for (size_t i = 0; ok && i < nsettle; i++)
		emit_settled(i, &o);
	if (!ok) {
		int err = errno;
		if (o.begun)
			jb_free(&o.b);
		/* Entries seen by the half-done dump keep gen = n; the next dump sorts it out. */
		for (size_t i = 0; i < sd.fresh.n; i++)
			sd.fresh.v[i].gen = 0;
		sd.fresh.n = 0;
		sd.errors++;
		errno = err;
		return -1;
	}
	int64_t dump_us = (monotonic_ns() - now_ns) / 1000;
	/* Sockets the dump no longer showed: the entries it did not see. */
	size_t ngone = sd.tab.n - sd.seen, keep = 0;
	if (full || o.nrows > 0 || ngone > 0) {
		out_begin(&o);
		jb_arr_end(&o.b);
	}
	if (ngone > 0) {
		jb_key(&o.b, "gone");
		jb_arr_begin(&o.b);
	}
	for (size_t i = 0; ngone > 0 && i < sd.tab.n; i++) {
		struct entry *e = &sd.tab.v[i];
		if (e->gen == sd.n) {
			sd.tab.v[keep++] = *e;
			continue;
		}
		char tmp[24];
		snprintf(tmp, sizeof tmp, "%llx", (unsigned long long)e->cookie);
		jb_str(&o.b, tmp);
	}
	if (ngone > 0) {
		jb_arr_end(&o.b);
		sd.tab.n = keep;
	}
	if (sd.fresh.n > 0) {
		for (size_t i = 0; i < sd.fresh.n; i++)
			push_entry(&sd.tab, &sd.fresh.v[i]);
		qsort(sd.tab.v, sd.tab.n, sizeof *sd.tab.v, cmp_entry);
		sd.fresh.n = 0;
	}
	if (!o.begun)
		return 0;
	jb_key(&o.b, "dumpUs");
	jb_int(&o.b, dump_us);
	if (full) {
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
		jb_key(&o.b, "dumpCpuUs");
		jb_int(&o.b, ((int64_t)(cpu1.tv_sec - cpu0.tv_sec) * 1000000000 + (cpu1.tv_nsec - cpu0.tv_nsec)) / 1000);
	}
	jb_key(&o.b, "missed");
	jb_uint(&o.b, sd.missed);
	ev_end(&o.b);
	return 0;
}

/* ------------------------------------------------------------ destroy */

static void open_destroy_socket(void)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return;
	/* Bound, so the kernel gives it a port id: a multicast is delivered to every
	 * member except the sender's port id, and the kernel sends these from port
	 * id 0, which is also an unbound socket's (do_one_broadcast in
	 * net/netlink/af_netlink.c). Unbound, the socket joins the groups and never
	 * hears a thing. */
	struct sockaddr_nl self = { .nl_family = AF_NETLINK };
	if (bind(fd, (struct sockaddr *)&self, sizeof self) < 0) {
		close(fd);
		return;
	}
	int size = SD_DESTROY_RCVBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	int groups[] = { SKNLGRP_INET_TCP_DESTROY, SKNLGRP_INET6_TCP_DESTROY };
	for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
		if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i], sizeof groups[i]) < 0) {
			close(fd); /* EPERM without CAP_NET_ADMIN: sampling goes on without exact close times */
			return;
		}
	}
	sd.destroyfd = fd;
}

static void read_destroyed(void)
{
	for (;;) {
		ssize_t got = recv(sd.destroyfd, sd.dbuf, SD_RECV_BYTES, 0);
		int64_t t = realtime_us();
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				struct jbuf b;
				ev_error_begin(&b, "", NULL, "sample", ENOBUFS, "socket destroy notifications were lost (receive buffer full)");
				ev_end(&b);
				continue;
			}
			return; /* EAGAIN: all read */
		}
		int len = (int)got;
		for (struct nlmsghdr *h = (struct nlmsghdr *)sd.dbuf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
				continue;
			struct diag d;
			parse_diag(h, &d);
			if (d.r->idiag_family != AF_INET && d.r->idiag_family != AF_INET6)
				continue;
			if (still_exists(d.r))
				continue; /* became TIME-WAIT: the dumps follow it */
			struct entry *e = find_entry(d.cookie);
			if (e != NULL) {
				size_t i = (size_t)(e - sd.tab.v);
				memmove(e, e + 1, (sd.tab.n - i - 1) * sizeof *e);
				sd.tab.n--;
			}
			struct jbuf b;
			ev_begin_at(&b, t, "", "ss-destroy", NULL);
			put_row_fields(&b, &d);
			ev_end(&b);
		}
	}
}

/* ------------------------------------------------------------ the thread */

/* What the main thread asks of the sampler thread (a pointer through a pipe). */
enum sd_op { SD_START, SD_STOP, SD_QUIT, SD_WATCH };
struct sd_req {
	enum sd_op op;
	long interval_ms, full_every_ms;
	struct sd_watch *watch; /* SD_WATCH */
	char *name;            /* the command's name (error events) */
	char *id;              /* the command's id, or NULL */
};

static struct {
	pthread_t th;
	int running;
	int ctl[2];            /* main -> sampler: struct sd_req * */
	int obs[2];            /* sampler -> main: event metas to observe (events.h) */
} thr = { .ctl = { -1, -1 }, .obs = { -1, -1 } };

static void stop_quietly(void)
{
	close_fd(&sd.timerfd);
	close_fd(&sd.destroyfd);
	free_table(&sd.tab);
	free_table(&sd.fresh);
	sd.active = 0;
}

/* Whether the tick is due, and if so the deadline of the next: tick k is at
 * start + k * interval however long a dump took, and the ticks a late wake-up
 * passed over count as missed. With the timerfd (a kernel without
 * epoll_pwait2), its expiry count says the same. */
static int tick_due(int timer_ready, int64_t now)
{
	if (!sd.deadlines) {
		uint64_t ticks = 0;
		if (!timer_ready || read(sd.timerfd, &ticks, sizeof ticks) != (ssize_t)sizeof ticks)
			return 0;
		if (ticks > 1)
			sd.missed += ticks - 1;
		return 1;
	}
	int64_t step = (int64_t)sd.interval_ms * 1000000;
	if (now < sd.next_tick_ns)
		return 0;
	int64_t passed = (now - sd.next_tick_ns) / step;
	sd.missed += (uint64_t)passed;
	sd.next_tick_ns += (passed + 1) * step;
	return 1;
}

static void on_timer(int destroy_ready, int64_t now)
{
	/* Destroy notifications first: they were read before the dump that follows.
	 * Only when epoll said so: an empty recv() every tick is a syscall per
	 * tick for nothing (on a kernel that never delivers them, every tick). */
	if (destroy_ready) {
		read_destroyed();
		now = monotonic_ns(); /* the dump's time is its own */
	}
	if (sample_now(0, now) < 0 && (sd.errors == 1 || sd.errors % 1000 == 0))
		emit_error("", NULL, "sample", errno);
}

/* Watch fd on the sampler's epoll set (a closed fd leaves it by itself). */
static void watch_fd(int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	if (fd >= 0 && sd.epfd >= 0)
		(void)epoll_ctl(sd.epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int sd_start(long interval_ms, long full_every_ms, const char *id)
{
	stop_quietly();
	if (sd.buf == NULL) {
		sd.buf = xmalloc(SD_RECV_MSGS * SD_RECV_BYTES);
		sd.dbuf = xmalloc(SD_RECV_BYTES);
		for (size_t i = 0; i < SD_RECV_MSGS; i++) {
			sd.iov[i] = (struct iovec){ .iov_base = sd.buf + i * SD_RECV_BYTES, .iov_len = SD_RECV_BYTES };
			sd.mm[i].msg_hdr = (struct msghdr){ .msg_iov = &sd.iov[i], .msg_iovlen = 1 };
		}
	}
	if (sd.nlfd < 0 && (sd.nlfd = open_diag_socket()) < 0)
		return -1;
	sd.interval_ms = interval_ms;
	sd.full_every_ms = full_every_ms;
	sd.next_full_ns = 0;
	sd.missed = 0;
	open_destroy_socket();
	watch_fd(sd.destroyfd);
	/* Absolute, periodic: tick k fires at start + k * interval however long a dump took. */
	int64_t start = monotonic_ns() + (int64_t)interval_ms * 1000000;
	sd.next_tick_ns = start;
	if (!sd.deadlines) {
		sd.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		struct itimerspec its = {
			.it_interval = { .tv_sec = interval_ms / 1000, .tv_nsec = (interval_ms % 1000) * 1000000 },
			.it_value = { .tv_sec = start / 1000000000, .tv_nsec = start % 1000000000 },
		};
		if (sd.timerfd < 0 || timerfd_settime(sd.timerfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
			int err = errno;
			stop_quietly();
			errno = err;
			return -1;
		}
		watch_fd(sd.timerfd);
	}
	/* The first dump tells whether sampling works at all; `sampling` follows it. */
	sd.compat_ok = 1;
	if (sample_now(1, monotonic_ns()) < 0) {
		sd.compat_ok = 0; /* a kernel without the compat request: two dumps */
	}
	if (!sd.compat_ok && sample_now(1, monotonic_ns()) < 0) {
		int err = errno;
		stop_quietly();
		errno = err;
		return -1;
	}
	struct jbuf b;
	ev_begin(&b, "", "sampling", id);
	put_u(&b, "intervalMs", (unsigned long long)interval_ms);
	put_u(&b, "fullEveryMs", (unsigned long long)full_every_ms);
	jb_key(&b, "dumps");
	jb_str(&b, sd.compat_ok ? "tcpdiag" : "inet+inet6");
	jb_key(&b, "destroy");
	jb_bool(&b, sd.destroyfd >= 0);
	jb_key(&b, "wait");
	jb_str(&b, sd.deadlines ? "deadline" : "timerfd");
	ev_end(&b);
	sd.active = 1;
	return 0;
}

static void sd_stop(const char *id)
{
	stop_quietly();
	struct jbuf b;
	ev_begin(&b, "", "unsampled", id);
	put_u(&b, "n", sd.n);
	put_u(&b, "missed", sd.missed);
	put_u(&b, "errors", sd.errors);
	ev_end(&b);
}

static void free_req(struct sd_req *r)
{
	if (r->watch != NULL)
		free_watch(r->watch);
	free(r->name);
	free(r->id);
	free(r);
}

/* On the sampler thread: an event with an id, written; the main thread observes it. */
static void forward_meta(void *meta)
{
	for (;;) {
		if (write(thr.obs[1], &meta, sizeof meta) == (ssize_t)sizeof meta)
			return;
		if (errno != EINTR)
			break;
	}
	free(meta);
}

/* On the main thread: observe what the sampler wrote (plan.c's observer). */
static void on_forwarded(void *ctx, uint32_t events)
{
	(void)ctx;
	(void)events;
	void *metas[64];
	for (;;) {
		ssize_t got = read(thr.obs[0], metas, sizeof metas);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return;
		for (size_t i = 0; i < (size_t)got / sizeof metas[0]; i++)
			ev_observe_forwarded(metas[i]);
		if ((size_t)got < sizeof metas)
			return;
	}
}

/* On the sampler thread: a watch of the same name replaces the older one; `watching` replies. */
static void add_watch(struct sd_req *r)
{
	struct sd_watch *w = r->watch;
	r->watch = NULL;
	for (struct sd_watch **wp = &watches; *wp != NULL; wp = &(*wp)->next) {
		if (strcmp((*wp)->name, w->name) == 0) {
			struct sd_watch *old = *wp;
			*wp = old->next;
			free_watch(old);
			break;
		}
	}
	w->next = watches;
	watches = w;
	struct jbuf b;
	ev_begin(&b, w->name, "watching", r->id);
	jb_key(&b, "sampling");
	jb_bool(&b, sd.active);
	ev_end(&b);
}

/* The sampler thread: dumps, destroy notifications and the sample/unsample
 * requests, at the agent's original (normal) priority. */
static void *sampler_main(void *arg)
{
	(void)arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the main thread's */
	if (procs_unraise_thread() < 0)
		fprintf(stderr, "tcplab-agent: the sampler thread keeps the raised priority: %s\n", strerror(errno));
	ev_set_forward(forward_meta);
	/* One epoll set for the control pipe and the destroy socket. While
	 * sampling, the wait itself ends at the next tick's deadline
	 * (epoll_pwait2, Linux 5.11): one system call per idle tick, where a
	 * timerfd costs a poll and a read. The timer slack goes to 1 ns so the
	 * deadline is kept as a timerfd would keep it (50 us by default). An
	 * older kernel gets the periodic timerfd on the same set, as does an
	 * agent whose environment has TCPLAB_SAMPLER_TIMERFD (the tests' way to
	 * run that path on a newer kernel). */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	sd.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sd.epfd < 0) {
		fprintf(stderr, "tcplab-agent: sampler epoll: %s\n", strerror(errno));
		return NULL;
	}
	struct timespec zero = { 0, 0 };
	struct epoll_event evs[4];
	sd.deadlines = getenv("TCPLAB_SAMPLER_TIMERFD") == NULL && epoll_pwait2(sd.epfd, evs, 4, &zero, NULL) >= 0;
	watch_fd(thr.ctl[0]);
	for (;;) {
		int n;
		if (sd.active && sd.deadlines) {
			int64_t left = sd.next_tick_ns - monotonic_ns();
			struct timespec ts = { 0, 0 };
			if (left > 0)
				ts = (struct timespec){ .tv_sec = left / 1000000000, .tv_nsec = left % 1000000000 };
			n = epoll_pwait2(sd.epfd, evs, 4, &ts, NULL);
		} else {
			n = epoll_wait(sd.epfd, evs, 4, -1);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "tcplab-agent: sampler wait: %s\n", strerror(errno));
			break;
		}
		int ctl = 0, timer = 0, destroy = 0;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			ctl |= fd == thr.ctl[0];
			timer |= fd == sd.timerfd && fd >= 0;
			destroy |= fd == sd.destroyfd && fd >= 0;
		}
		/* One clock read a wake-up: the tick's check and the dump's start. */
		int64_t now = sd.active ? monotonic_ns() : 0;
		if (sd.active && tick_due(timer, now))
			on_timer(destroy, now);
		else if (destroy)
			read_destroyed();
		if (!ctl)
			continue;
		struct sd_req *r;
		ssize_t got = read(thr.ctl[0], &r, sizeof r);
		if (got < 0 && errno == EINTR)
			continue;
		if (got != (ssize_t)sizeof r)
			break; /* the main thread closed the pipe */
		enum sd_op op = r->op;
		if (op == SD_START && sd_start(r->interval_ms, r->full_every_ms, r->id) < 0)
			emit_error(r->name, r->id, "sample", errno);
		else if (op == SD_STOP)
			sd_stop(r->id);
		else if (op == SD_WATCH)
			add_watch(r);
		free_req(r);
		if (op == SD_QUIT)
			break;
	}
	stop_quietly();
	close_fd(&sd.epfd);
	while (watches != NULL) {
		struct sd_watch *w = watches;
		watches = w->next;
		free_watch(w);
	}
	return NULL;
}

/* Start the sampler thread at SCHED_OTHER whatever the main thread's policy:
 * a thread inherits its creator's (SCHED_FIFO after --priority=fifo), so the
 * attributes say it explicitly, and the thread then takes back the agent's
 * original policy and nice value (procs_unraise_thread). */
static int start_thread(void)
{
	if (thr.running)
		return 0;
	if (ev_enable_threads() < 0)
		return -1;
	if (pipe2(thr.ctl, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(thr.obs, O_CLOEXEC) < 0 || fcntl(thr.obs[0], F_SETFL, O_NONBLOCK) < 0) {
		int err = errno;
		close_fd(&thr.ctl[0]);
		close_fd(&thr.ctl[1]);
		close_fd(&thr.obs[0]);
		close_fd(&thr.obs[1]);
		errno = err;
		return -1;
	}
	pthread_attr_t at;
	struct sched_param sp = { .sched_priority = 0 };
	int err = pthread_attr_init(&at);
	if (err == 0) {
		pthread_attr_setinheritsched(&at, PTHREAD_EXPLICIT_SCHED);
		pthread_attr_setschedpolicy(&at, SCHED_OTHER);
		pthread_attr_setschedparam(&at, &sp);
		err = pthread_create(&thr.th, &at, sampler_main, NULL);
		pthread_attr_destroy(&at);
	}
	if (err != 0) {
		close_fd(&thr.ctl[0]);
		close_fd(&thr.ctl[1]);
		close_fd(&thr.obs[0]);
		close_fd(&thr.obs[1]);
		errno = err;
		return -1;
	}
	fdw_add(thr.obs[0], EPOLLIN, on_forwarded, NULL);
	thr.running = 1;
	return 0;
}

static int post(struct sd_req *r);

static int post_req(enum sd_op op, const struct cmd *c, long interval_ms, long full_every_ms)
{
	struct sd_req *r = xmalloc(sizeof *r);
	*r = (struct sd_req){
		.op = op,
		.interval_ms = interval_ms,
		.full_every_ms = full_every_ms,
		.name = xstrdup(c != NULL ? c->name : ""),
		.id = c != NULL && c->id != NULL ? xstrdup(c->id) : NULL,
	};
	return post(r);
}

/* The watch goes with the request (freed with it on failure). */
static int post_req_watch(const struct cmd *c, struct sd_watch *w)
{
	struct sd_req *r = xmalloc(sizeof *r);
	*r = (struct sd_req){
		.op = SD_WATCH,
		.watch = w,
		.name = xstrdup(c->name),
		.id = c->id != NULL ? xstrdup(c->id) : NULL,
	};
	return post(r);
}

static int post(struct sd_req *r)
{
	for (;;) {
		if (write(thr.ctl[1], &r, sizeof r) == (ssize_t)sizeof r)
			return 0;
		if (errno != EINTR)
			break;
	}
	int err = errno;
	free_req(r);
	errno = err;
	return -1;
}

/* ------------------------------------------------------------ commands */

void cmd_sample(struct agent *a, struct cmd *c)
{
	long long interval_ms = SD_DEFAULT_INTERVAL_MS, full_every_ms = SD_DEFAULT_FULL_EVERY_MS;
	(void)a;
	if (arg_int(c, "intervalMs", 0, 60000, 0, &interval_ms) < 0 ||
	    arg_int(c, "fullEveryMs", 1, 3600000, 0, &full_every_ms) < 0)
		return;
	if (interval_ms == 0) {
		cmd_unsample(a, c);
		return;
	}
	if (start_thread() < 0 || post_req(SD_START, c, (long)interval_ms, (long)full_every_ms) < 0)
		emit_error(c->name, c->id, "sample", errno);
}

/* {addrs?: [string], port?: int} of a watch; -1 after an error event. */
static int parse_endpoint(const struct cmd *c, const char *key, int *has, struct sd_endpoint *ep)
{
	const struct jval *o;
	int got = arg_object(c, key, &o);
	*has = got == 1;
	ep->port = -1;
	ep->naddrs = 0;
	if (got <= 0)
		return got;
	for (size_t i = 0; i < o->n; i++) {
		const char *k = o->keys[i];
		const struct jval *v = &o->items[i];
		if (strcmp(k, "port") == 0) {
			if (v->type != J_NUM || v->num != (double)(int)v->num || v->num < 0 || v->num > 65535) {
				emit_invalid(c, "\"%s.port\": expected an integer 0..65535", key);
				return -1;
			}
			ep->port = (int)v->num;
		} else if (strcmp(k, "addrs") == 0) {
			if (v->type != J_ARR || v->n == 0 || v->n > SD_WATCH_ADDRS) {
				emit_invalid(c, "\"%s.addrs\": expected 1..%d addresses", key, SD_WATCH_ADDRS);
				return -1;
			}
			for (size_t j = 0; j < v->n; j++) {
				const struct jval *a = &v->items[j];
				if (a->type != J_STR || a->len == 0 || a->len >= INET6_ADDRSTRLEN || strlen(a->str) != a->len) {
					emit_invalid(c, "\"%s.addrs\"[%zu]: expected an address as ss prints it", key, j);
					return -1;
				}
				strcpy(ep->addrs[j], a->str);
			}
			ep->naddrs = v->n;
		} else {
			emit_invalid(c, "\"%s\": unknown field \"%s\" (addrs, port)", key, k);
			return -1;
		}
	}
	return 1;
}

void cmd_watch(struct agent *a, struct cmd *c)
{
	(void)a;
	if (c->name[0] == '\0') {
		emit_invalid(c, "\"name\": the name the seen event carries is required");
		return;
	}
	struct sd_watch w = { 0 };
	const struct jval *st = json_get(c->root, "states");
	if (st != NULL) {
		if (st->type != J_ARR || st->n == 0) {
			emit_invalid(c, "\"states\": expected a non-empty array of ss state names");
			return;
		}
		for (size_t i = 0; i < st->n; i++) {
			const struct jval *v = &st->items[i];
			size_t k = 0;
			while (k < sizeof STATE_NAMES / sizeof STATE_NAMES[0] && (v->type != J_STR || strcmp(v->str, STATE_NAMES[k]) != 0))
				k++;
			if (k == 0 || k == sizeof STATE_NAMES / sizeof STATE_NAMES[0]) {
				emit_invalid(c, "\"states\"[%zu]: expected an ss state name (ESTAB, SYN-SENT, LISTEN, ...)", i);
				return;
			}
			w.states |= 1u << k;
		}
	}
	if (parse_endpoint(c, "local", &w.has_local, &w.local) < 0 || parse_endpoint(c, "peer", &w.has_peer, &w.peer) < 0)
		return;
	if (start_thread() < 0) {
		emit_error(c->name, c->id, "watch", errno);
		return;
	}
	struct sd_watch *nw = xmalloc(sizeof *nw);
	*nw = w;
	nw->name = xstrdup(c->name);
	if (post_req_watch(c, nw) < 0)
		emit_error(c->name, c->id, "watch", errno);
}

void cmd_unsample(struct agent *a, struct cmd *c)
{
	(void)a;
	if (!thr.running) {
		/* Never sampled: nothing to stop, and no thread to start for it. */
		struct jbuf b;
		ev_begin(&b, "", "unsampled", c->id);
		put_u(&b, "n", 0);
		put_u(&b, "missed", 0);
		put_u(&b, "errors", 0);
		ev_end(&b);
		return;
	}
	if (post_req(SD_STOP, c, 0, 0) < 0)
		emit_error(c->name, c->id, "unsample", errno);
}

void sd_shutdown(void)
{
	if (!thr.running)
		return;
	if (post_req(SD_QUIT, NULL, 0, 0) < 0)
		close_fd(&thr.ctl[1]); /* the thread sees EOF */
	pthread_join(thr.th, NULL);
	thr.running = 0;
	fdw_del(thr.obs[0]);
	on_forwarded(NULL, 0); /* replies it wrote before it ended */
	close_fd(&thr.ctl[0]);
	close_fd(&thr.ctl[1]);
	close_fd(&thr.obs[0]);
	close_fd(&thr.obs[1]);
}

void sd_free(void)
{
	sd_shutdown();
	stop_quietly();
	close_fd(&sd.nlfd);
	free(sd.buf);
	free(sd.dbuf);
	sd.buf = sd.dbuf = NULL;
}
