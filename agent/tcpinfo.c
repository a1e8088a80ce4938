/* tcpinfo.c - see tcpinfo.h. */
#define _GNU_SOURCE
#include "tcpinfo.h"

#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/tcp.h>

/* ss(8) state names, indexed by the kernel's TCP_* state (include/net/tcp_states.h). */
static const char *const TCP_STATE_NAMES[] = {
	"UNKNOWN", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
	"UNCONN", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING", "NEW-SYN-RECV",
};
/* tcp_ca_state (include/uapi/linux/tcp.h). */
static const char *const CA_STATE_NAMES[] = { "Open", "Disorder", "CWR", "Recovery", "Loss" };

/* Fields past what this kernel filled in (older kernels return a shorter struct) are left out. */
#define HAS_FIELD(f) (len >= offsetof(struct tcp_info, f) + sizeof(((struct tcp_info *)0)->f))
#define PUT_U(f) do { if (HAS_FIELD(tcpi_##f)) { jb_key(b, #f); jb_uint(b, ti.tcpi_##f); } } while (0)

/* struct tcp_info as tcp(7) TCP_INFO returns it. Units are the kernel's:
 * rto, ato, rtt, rttvar, min_rtt in microseconds; last_* in milliseconds. */
int put_tcp_info(int fd, struct jbuf *b)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	memset(&ti, 0, sizeof ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -1;
	jb_key(b, "info");
	jb_obj_begin(b);
	jb_key(b, "state");
	jb_str(b, ti.tcpi_state < sizeof TCP_STATE_NAMES / sizeof TCP_STATE_NAMES[0]
	              ? TCP_STATE_NAMES[ti.tcpi_state] : "UNKNOWN");
	jb_key(b, "ca_state");
	jb_str(b, ti.tcpi_ca_state < 5 ? CA_STATE_NAMES[ti.tcpi_ca_state] : "Unknown");
	PUT_U(retransmits);
	PUT_U(probes);
	PUT_U(backoff);
	PUT_U(options);
	jb_key(b, "snd_wscale");
	jb_uint(b, ti.tcpi_snd_wscale);
	jb_key(b, "rcv_wscale");
	jb_uint(b, ti.tcpi_rcv_wscale);
	PUT_U(rto);
	PUT_U(ato);
	PUT_U(snd_mss);
	PUT_U(rcv_mss);
	PUT_U(unacked);
	PUT_U(sacked);
	PUT_U(lost);
	PUT_U(retrans);
	PUT_U(last_data_sent);
	PUT_U(last_data_recv);
	PUT_U(last_ack_recv);
	PUT_U(pmtu);
	PUT_U(rcv_ssthresh);
	PUT_U(rtt);
	PUT_U(rttvar);
	PUT_U(snd_ssthresh);
	PUT_U(snd_cwnd);
	PUT_U(advmss);
	PUT_U(reordering);
	PUT_U(rcv_rtt);
	PUT_U(rcv_space);
	PUT_U(total_retrans);
	PUT_U(pacing_rate);
	PUT_U(bytes_acked);
	PUT_U(bytes_received);
	PUT_U(segs_out);
	PUT_U(segs_in);
	PUT_U(notsent_bytes);
	PUT_U(min_rtt);
	PUT_U(data_segs_in);
	PUT_U(data_segs_out);
	PUT_U(delivery_rate);
	PUT_U(busy_time);
	PUT_U(rwnd_limited);
	PUT_U(sndbuf_limited);
	PUT_U(delivered);
	PUT_U(bytes_sent);
	PUT_U(bytes_retrans);
	PUT_U(dsack_dups);
	PUT_U(reord_seen);
	PUT_U(snd_wnd);
	jb_obj_end(b);
	return 0;
}
