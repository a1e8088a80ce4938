// What the ss fields, TCP states and timer names mean, in our own words
// (after ss(8), sock_diag(7) SK_MEMINFO_*, tcp(7), the kernel's tcp_info and
// the field notes of seed 001). One table, used by the HTML report
// (tooltips) and by `tcplab explain`.

/** One ss field: how ss prints it, what it means, in which unit. */
export interface FieldMeaning {
  /** The name as ss prints it (`skmem:(r…)` fields as "skmem r"). */
  ss: string
  meaning: string
  unit?: string | undefined
}

/**
 * ss fields by the name records use (SsRecord top-level fields, `info` keys,
 * `timer.*`, `skmem.*`). Recv-Q and Send-Q mean different things on a LISTEN
 * socket; see QUEUE_MEANINGS.
 */
export const SS_FIELDS = {
  state: { ss: 'State', meaning: 'the TCP state of the socket (see the state glossary)' },
  recvQ: {
    ss: 'Recv-Q',
    unit: 'bytes',
    meaning: 'on a connected socket: bytes the kernel has received and acknowledged but the application has not read yet. On a LISTEN socket: connections that finished the handshake and wait in the accept queue for accept().',
  },
  sendQ: {
    ss: 'Send-Q',
    unit: 'bytes',
    meaning: 'on a connected socket: bytes the application wrote that the peer has not acknowledged yet (sent and unacknowledged, or not sent yet). On a LISTEN socket: the accept queue limit (the listen() backlog, capped by net.core.somaxconn).',
  },
  timer: { ss: 'timer', meaning: 'the pending TCP timer as (name, time left, retransmissions or probes so far); see the timer glossary' },
  'timer.name': { ss: 'timer name', meaning: 'which timer is pending: on (retransmission/loss probe), keepalive, timewait, persist (zero-window probe)' },
  'timer.expiresMs': { ss: 'timer expiry', unit: 'ms', meaning: 'time left until the pending timer fires; ss prints it rounded (1.2sec, 7min)' },
  'timer.retrans': {
    ss: 'timer retrans',
    meaning: 'how many times this timer has already fired without success: retransmissions for "on", unanswered probes for keepalive and persist',
  },
  skmem: { ss: 'skmem', meaning: 'the socket memory counters (sock_diag SK_MEMINFO_*): r rb t tb f w o bl d' },
  'skmem.r': { ss: 'skmem r', unit: 'bytes', meaning: 'memory held by received data waiting to be read, payload plus the kernel bookkeeping of each packet (sk_rmem_alloc); near 0 when the reader keeps up' },
  'skmem.rb': { ss: 'skmem rb', unit: 'bytes', meaning: 'the limit on r: the receive buffer size (SO_RCVBUF, or autotuned between tcp_rmem[1] and tcp_rmem[2])' },
  'skmem.t': { ss: 'skmem t', unit: 'bytes', meaning: 'memory of segments handed to the IP layer and not freed yet (in a qdisc or the driver) (sk_wmem_alloc)' },
  'skmem.tb': { ss: 'skmem tb', unit: 'bytes', meaning: 'the limit on the send side: the send buffer size (SO_SNDBUF, or autotuned up to tcp_wmem[2])' },
  'skmem.f': { ss: 'skmem f', unit: 'bytes', meaning: 'memory reserved for the socket in advance and not used yet (forward allocation); used before new memory is charged' },
  'skmem.w': { ss: 'skmem w', unit: 'bytes', meaning: 'memory of the send queue: written data not acknowledged yet, whether sent or not (sk_wmem_queued)' },
  'skmem.o': { ss: 'skmem o', unit: 'bytes', meaning: 'memory for socket options, e.g. TCP-MD5 keys or socket filters' },
  'skmem.bl': { ss: 'skmem bl', unit: 'bytes', meaning: 'packets parked in the socket backlog because they arrived while the application held the socket (they are processed when it lets go)' },
  'skmem.d': { ss: 'skmem d', unit: 'packets', meaning: 'packets dropped on their way into this socket (receive buffer or backlog full, filter); a growing d means the socket is losing data the network delivered' },
  ts: { ss: 'ts', meaning: 'both sides agreed to use TCP timestamps (RFC 7323): better RTT samples and protection against wrapped sequence numbers' },
  sack: { ss: 'sack', meaning: 'both sides agreed to selective acknowledgements: the receiver can report the blocks it has beyond a hole' },
  ecn: { ss: 'ecn', meaning: 'explicit congestion notification was negotiated' },
  ecnseen: { ss: 'ecnseen', meaning: 'a congestion mark (CE) was seen on this connection' },
  cc: { ss: 'cubic / bbr / reno …', meaning: 'the congestion control algorithm of the socket (net.ipv4.tcp_congestion_control by default)' },
  wscale: {
    ss: 'wscale',
    meaning: 'window scale shifts as send,receive: the peer\'s shift (applied to the windows it announces) and ours (applied to the windows we announce). The win field of a packet is multiplied by 2^shift.',
  },
  snd_wscale: { ss: 'wscale (first)', meaning: 'the peer\'s window scale shift: its announced win is multiplied by 2^snd_wscale' },
  rcv_wscale: { ss: 'wscale (second)', meaning: 'our window scale shift: the win we send is our window divided by 2^rcv_wscale' },
  rto: { ss: 'rto', unit: 'ms', meaning: 'the retransmission timeout now in force: computed from rtt and rttvar, at least tcp_rto_min (200 ms), doubled at each unanswered retransmission (backoff), capped at 120 s' },
  rtt: { ss: 'rtt', unit: 'ms', meaning: 'smoothed round-trip time: how long a segment takes to be acknowledged, averaged' },
  rttvar: { ss: 'rtt (after /)', unit: 'ms', meaning: 'the mean deviation of the RTT samples; a large value makes rto grow' },
  ato: { ss: 'ato', unit: 'ms', meaning: 'the delayed-ACK timeout: how long the receiver may hold back an ACK hoping to send it with data or for a second segment' },
  mss: { ss: 'mss', unit: 'bytes', meaning: 'the largest payload this socket puts in one segment now (from the peer\'s MSS option, the path MTU and the TCP options in use)' },
  pmtu: { ss: 'pmtu', unit: 'bytes', meaning: 'the path MTU the socket uses (learned by path MTU discovery, cached per destination)' },
  rcvmss: { ss: 'rcvmss', unit: 'bytes', meaning: 'our guess of the segment size the peer sends (starts low, often 536, and grows as larger segments arrive); used to decide when to ACK' },
  advmss: { ss: 'advmss', unit: 'bytes', meaning: 'the MSS we announced in our SYN or SYN-ACK: the largest segment we want to receive' },
  cwnd: { ss: 'cwnd', unit: 'segments', meaning: 'congestion window: how many segments may be unacknowledged at once; in bytes about cwnd × mss. Shrinks after a loss or a timeout' },
  ssthresh: { ss: 'ssthresh', unit: 'segments', meaning: 'slow-start threshold: below it cwnd doubles every RTT, above it grows slowly; set from cwnd when a loss is detected. Not printed until it has been set' },
  bytes_sent: { ss: 'bytes_sent', unit: 'bytes', meaning: 'payload bytes sent, retransmissions included' },
  bytes_retrans: { ss: 'bytes_retrans', unit: 'bytes', meaning: 'payload bytes sent again (retransmitted)' },
  bytes_acked: { ss: 'bytes_acked', unit: 'bytes', meaning: 'bytes the peer has acknowledged (counts the SYN as one)' },
  bytes_received: { ss: 'bytes_received', unit: 'bytes', meaning: 'payload bytes received in order (counts the peer\'s SYN as one in some kernels)' },
  segs_out: { ss: 'segs_out', unit: 'segments', meaning: 'segments sent, pure ACKs and retransmissions included' },
  segs_in: { ss: 'segs_in', unit: 'segments', meaning: 'segments received, pure ACKs included' },
  data_segs_out: { ss: 'data_segs_out', unit: 'segments', meaning: 'segments sent that carried payload' },
  data_segs_in: { ss: 'data_segs_in', unit: 'segments', meaning: 'segments received that carried payload' },
  send_bps: { ss: 'send', unit: 'bit/s', meaning: 'the rate the congestion window allows: cwnd × mss × 8 / rtt (an estimate, not a measurement)' },
  lastsnd: { ss: 'lastsnd', unit: 'ms', meaning: 'time since we last sent data' },
  lastrcv: { ss: 'lastrcv', unit: 'ms', meaning: 'time since we last received data' },
  lastack: { ss: 'lastack', unit: 'ms', meaning: 'time since we last received an ACK' },
  pacing_rate_bps: { ss: 'pacing_rate', unit: 'bit/s', meaning: 'the rate at which the stack spaces out packets (fq or internal pacing)' },
  max_pacing_rate_bps: { ss: 'pacing_rate (after /)', unit: 'bit/s', meaning: 'the cap set with SO_MAX_PACING_RATE' },
  delivery_rate_bps: { ss: 'delivery_rate', unit: 'bit/s', meaning: 'the most recent measured goodput: data acknowledged per unit of time' },
  delivered: { ss: 'delivered', unit: 'segments', meaning: 'segments known to have reached the peer (acknowledged or SACKed)' },
  app_limited: { ss: 'app_limited', meaning: 'the last rate sample was limited by the application having nothing more to send, not by the network: the connection could send more' },
  busy_ms: { ss: 'busy', unit: 'ms', meaning: 'time spent with data in flight (the connection was busy sending)' },
  rwnd_limited: { ss: 'rwnd_limited', meaning: 'time (and share of busy time) the sender was held back by the peer\'s receive window' },
  sndbuf_limited: { ss: 'sndbuf_limited', meaning: 'time (and share of busy time) the sender was held back by its own send buffer' },
  retrans: { ss: 'retrans', meaning: 'X/Y: X retransmitted segments not acknowledged yet, Y retransmissions over the whole connection' },
  retrans_now: { ss: 'retrans X', unit: 'segments', meaning: 'retransmitted segments still unacknowledged (tcpi_retrans)' },
  retrans_total: { ss: 'retrans Y', unit: 'segments', meaning: 'retransmissions over the whole life of the connection (tcpi_total_retrans)' },
  backoff: { ss: 'backoff', meaning: 'how many times the retransmission timeout has been doubled in a row (exponential backoff); back to 0 when an ACK arrives' },
  unacked: { ss: 'unacked', unit: 'segments', meaning: 'segments sent and not acknowledged yet (packets in flight)' },
  lost: { ss: 'lost', unit: 'segments', meaning: 'segments the sender currently believes lost' },
  sacked: { ss: 'sacked', unit: 'segments', meaning: 'segments the receiver reported with SACK (arrived beyond a hole)' },
  reordering: { ss: 'reordering', unit: 'segments', meaning: 'how far out of order segments may arrive before they are taken as lost' },
  dsack_dups: { ss: 'dsack_dups', unit: 'segments', meaning: 'segments the peer reported as received twice (D-SACK): retransmissions that were not needed' },
  rcv_rtt: { ss: 'rcv_rtt', unit: 'ms', meaning: 'the receiver\'s own RTT estimate, used to autotune the receive buffer' },
  rcv_space: { ss: 'rcv_space', unit: 'bytes', meaning: 'receive autotuning\'s measure: how much the application read in one RTT at best; the kernel grows rb from it' },
  rcv_ssthresh: { ss: 'rcv_ssthresh', unit: 'bytes', meaning: 'the current ceiling on the window we announce; it grows toward the window clamp as memory allows. The peer never sees it, only the window' },
  rcv_wnd: { ss: 'rcv_wnd', unit: 'bytes', meaning: 'the receive window we announce now' },
  snd_wnd: { ss: 'snd_wnd', unit: 'bytes', meaning: 'the receive window the peer announced last (scaled): how much more we may send' },
  minrtt: { ss: 'minrtt', unit: 'ms', meaning: 'the smallest RTT seen on this connection: the path without queueing' },
  notsent: { ss: 'notsent', unit: 'bytes', meaning: 'bytes written by the application and not sent yet' },
  shutdown: { ss: 'shutdown', meaning: 'which directions are still open: "<" receive, ">" send; a "-" in place of either means it was shut down (<-> : both open)' },
  bbr_bw_bps: { ss: 'bbr bw', unit: 'bit/s', meaning: 'BBR\'s estimate of the bottleneck bandwidth' },
  bbr_mrtt: { ss: 'bbr mrtt', unit: 'ms', meaning: 'BBR\'s minimum RTT estimate' },
  bbr_pacing_gain: { ss: 'bbr pacing_gain', meaning: 'BBR\'s current pacing gain (how fast it probes relative to the bandwidth estimate)' },
  bbr_cwnd_gain: { ss: 'bbr cwnd_gain', meaning: 'BBR\'s congestion window gain' },
  ino: { ss: 'ino', meaning: 'the socket\'s inode number (0 for sockets no process owns: TIME-WAIT, orphans, SYN-RECV)' },
  sk: { ss: 'sk', meaning: 'the kernel\'s cookie for the socket, stable for its life' },
  cgroup: { ss: 'cgroup', meaning: 'the cgroup of the process that created the socket' },
} as const satisfies Record<string, FieldMeaning>

export type SsFieldName = keyof typeof SS_FIELDS

/** Recv-Q and Send-Q, which mean one thing on LISTEN sockets and another on the rest. */
export const QUEUE_MEANINGS = {
  listen: {
    recvQ: 'accept queue: connections that completed the handshake and wait for accept()',
    sendQ: 'accept queue limit: the listen() backlog, capped by net.core.somaxconn',
  },
  other: {
    recvQ: 'bytes received and acknowledged by the kernel, not read by the application yet',
    sendQ: 'bytes written by the application and not acknowledged by the peer yet',
  },
} as const

/** TCP states as ss prints them. */
export const STATE_MEANINGS: Record<string, string> = {
  LISTEN: 'waiting for connections; completed ones queue up until accept()',
  'SYN-SENT': 'connect() sent a SYN and waits for the SYN-ACK; the SYN is retransmitted (tcp_syn_retries) until it gives up with ETIMEDOUT',
  'SYN-RECV': 'a SYN arrived and a SYN-ACK went back; waiting for the final ACK of the handshake (retransmitted tcp_synack_retries times)',
  ESTAB: 'the connection is established: data flows both ways',
  'FIN-WAIT-1': 'we closed (or shut down writing): our FIN is sent, not acknowledged yet',
  'FIN-WAIT-2': 'our FIN was acknowledged; waiting for the peer to close its side (an orphaned socket gives up after tcp_fin_timeout)',
  'CLOSE-WAIT': 'the peer closed its side (we read EOF) and our application has not closed yet; sockets piling up here mean an application that does not call close()',
  'LAST-ACK': 'we closed after the peer did: our FIN is sent, waiting for its ACK',
  CLOSING: 'both sides sent a FIN at the same time; waiting for the ACK of ours',
  'TIME-WAIT': 'we closed first and the exchange is over; the socket lingers (60 s on Linux) so stray segments of this connection are not taken for a new one',
  CLOSED: 'no connection',
  UNCONN: 'not a TCP state: an unconnected datagram socket',
}

/** Timer names of `ss -o` (ss(8)). */
export const TIMER_MEANINGS: Record<string, string> = {
  on: 'the retransmission timer (also the tail loss probe and SYN retransmissions): fires when data or a SYN stays unacknowledged for rto',
  keepalive: 'the keepalive timer: on an idle connection with SO_KEEPALIVE, time until the next probe (also the FIN-WAIT-2 timeout of orphans)',
  timewait: 'time left in TIME-WAIT before the socket disappears',
  persist: 'the zero-window probe timer: the peer announced a zero window and we probe until it opens',
  unknown: 'a timer ss cannot name',
}

/** The meaning of a field, by record name (recvQ, rto, skmem.r, timer.retrans) or by the name ss prints (Recv-Q, skmem r). */
export function findFieldMeaning(name: string): (FieldMeaning & { key: string }) | undefined {
  const direct = (SS_FIELDS as Record<string, FieldMeaning>)[name]
  if (direct) return { key: name, ...direct }
  const norm = name.trim().toLowerCase()
  for (const [key, f] of Object.entries(SS_FIELDS) as Array<[string, FieldMeaning]>) {
    if (f.ss.toLowerCase() === norm || key.toLowerCase() === norm) return { key, ...f }
  }
  if (/^skmem_/.test(name)) return findFieldMeaning(`skmem.${name.slice(6)}`)
  return undefined
}

/** Every glossary key a piece of text mentions (expectation match keys, descriptions), in glossary order. */
export function findMentionedFields(texts: readonly string[]): SsFieldName[] {
  const words = new Set<string>()
  for (const t of texts) for (const w of t.split(/[^A-Za-z0-9_.-]+/)) if (w) words.add(w)
  const out: SsFieldName[] = []
  for (const key of Object.keys(SS_FIELDS) as SsFieldName[]) {
    const f: FieldMeaning = SS_FIELDS[key]
    if (words.has(key) || words.has(f.ss)) out.push(key)
  }
  return out
}
