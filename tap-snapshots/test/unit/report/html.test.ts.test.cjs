/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`test/unit/report/html.test.ts > TAP > a failing scenario: the report says what failed, where, and shows the dropped SYNs > outline of the failing SYN report 1`] = `
title: FAIL seed-syn-drop-timeout — tcplab
banner: 3 of 5 expectations failed#1 two linear SYN retransmissions on top of the initial 1 s timeout, then backoff: 0, 1, 2, 3, 5 s / expected [S] out to server:8000 on client with gaps 1s, 1s, 1s, 2s during the whole run / measured 3 packets (expected 5); gaps 1.002s, 2.016s ; #4 connect() gives up 4 s after the last SYN (its doubled timeout) with ETIMEDOUT / expected cli exits with 1, prints /timed out/ on stderr at 9s ±450ms after cli.started / measured exited with 1 at 7.361s, outside the window Δ -1.939s (tolerance ±450ms) ; #7 the rule dropped all five SYNs / expected counter drop-syn on server: packets = 5 / measured packets=3 ; 
expectations:
  1 | ✗ FAIL | packets / line 33 | two linear SYN retransmissions on top of the initial 1 s timeout, then backoff: 0, 1, 2, 3, 5 s | [S] out to server:8000 on client with gaps 1s, 1s, 1s, 2s during the whole run | 3 packets (expected 5); gaps 1.002s, 2.016s |  | 0.308s
  2 | skip | packets / line 42 | exponential SYN backoff on kernels before 6.5: 0, 1, 3 s |  | applies to kernels without net.ipv4.tcp_syn_linear_timeouts |  | 
  3 | ✓ pass | ss / line 51 | the client sits in SYN-SENT with the retransmission timer running | on client peer 8000: state = SYN-SENT, timer = on always during [500ms, 6.5s] | 54 of 54 samples matched (seen: state: SYN-SENT×54; timer: on×54) |  | 0.542s
  4 | ✗ FAIL | process / line 57 | connect() gives up 4 s after the last SYN (its doubled timeout) with ETIMEDOUT | cli exits with 1, prints /timed out/ on stderr at 9s ±450ms after cli.started | exited with 1 at 7.361s, outside the window | Δ -1.939s / ±450ms | 7.361s
  5 | skip | process / line 66 | connect() gives up after 1+2+4 s with ETIMEDOUT |  | applies to kernels without net.ipv4.tcp_syn_linear_timeouts |  | 
  6 | ✓ pass | packets / line 75 | the server never answers (the SYNs are dropped before TCP sees them) | [S.]|[R.] out on server, count = 0 during the whole run | no matching packets |  | 
  7 | ✗ FAIL | counter / line 81 | the rule dropped all five SYNs | counter drop-syn on server: packets = 5 | packets=3 |  | 10.029s
  8 | skip | counter / line 82 | the rule dropped all three SYNs |  | applies to kernels without net.ipv4.tcp_syn_linear_timeouts |  | 
lanes: client, server
packets:
  S 0 win 64240 ✕ drop-syn
  S 0 win 64240 · retx 1 ✕ drop-syn
  S 0 win 64240 · retx 2 ✕ drop-syn
rules:
  ⊘ drop-syn: -A INPUT -p tcp --dport 8000 --syn -j DROP — 3 packets matched
sockets:
  :51034 ⇄ server:8000
    timer
    Send-Q
    cwnd
    rto (ms)
    retrans
    backoff
  :8000 listening
events:
  #0 server: iptables drop-syn
  #1 server: run srv
  #2 client: run cli
  srv started
  cli started
  cli stderr: nc: connect to 198.19.211.2 port 8000 (tcp) fai…
  cli exited 1
`

exports[`test/unit/report/html.test.ts > TAP > a passing scenario with an OUTPUT drop rule and retransmissions > outline of the Send-Q report 1`] = `
title: PASS seed-sendq-ack-drop — tcplab
banner: All 6 expectations held.
expectations:
  1 | ✓ pass | ss / line 38 | the 6 unacknowledged bytes wait in Send-Q with the retransmission timer running | on server local 8000 ESTAB: sendQ = 6, timer = on always during [1.1s, 3.5s] | 23 of 23 samples matched (seen: sendQ: 6×23; timer: on×23) |  | 1.110s
  2 | ✓ pass | ss / line 44 | the retransmission count grows while the ACKs are dropped | on server local 8000 ESTAB: timer.retrans >= 3 eventually before 3.5s (since t0) | first at 2.712s; 8 of 30 samples matched (seen: timer.retrans: (none)×6, 0×4, 1×4, 2×8, 3×8) |  | 2.712s
  3 | ✓ pass | packets / line 51 | a tail loss probe, then retransmissions with exponential backoff (RTO 200ms doubling) | packets out from server:8000 len = 6 on server with gaps 200ms, 200ms, 400ms, 800ms, 1.6s during the whole run | gaps 205.4ms, 208ms, 428ms, 832ms, 1.668s | Δ +28ms / ±60ms | 1.207s
  4 | ✓ pass | counter / line 59 | every retransmission triggered another (dropped) duplicate ACK | counter drop-acks on client: packets >= 4 | packets=5 |  | 3.516s
  5 | ✓ pass | ss / line 64 | after the rule is gone the next retransmission (about 4.3s) is acknowledged and Send-Q drains | on server local 8000 ESTAB: sendQ = 0 always after 5s (since t0) | 9 of 9 samples matched (seen: sendQ: 0×9) |  | 5.109s
  6 | ✓ pass | process / line 70 | cli prints 12345 on stdout | cli prints 12345 on stdout | still running at the end |  | 6.008s
lanes: client, server
packets:
  S 0 win 64240
  S. 0 ack 1 win 65160
  . 1 ack 1 win 63
  P. 1:7 ack 1 win 64 len 6
  P. 1:7 ack 1 win 64 len 6 · retx 1
  P. 1:7 ack 1 win 64 len 6 · retx 2
  P. 1:7 ack 1 win 64 len 6 · retx 3
  P. 1:7 ack 1 win 64 len 6 · retx 4
  P. 1:7 ack 1 win 64 len 6 · retx 5
  . 1 ack 7 win 63
  F. 1 ack 7 win 63
  F. 7 ack 2 win 64
  . 2 ack 8 win 63
rules:
  ⊘ drop-acks: -I OUTPUT -p tcp --dport 8000 --tcp-flags ALL ACK -j DROP — 5 packets matched
sockets:
  :58490 ⇄ server:8000
    skmem d
  :8000 listening
  :8000 ⇄ client:58490
    timer
    Send-Q
    cwnd
    rto (ms)
    retrans
    backoff
events:
  #0 server: run srv
  #1 client: run cli
  #2 client: iptables drop-acks
  #3 server: write srv
  #4 client: iptables delete drop-acks
  srv started
  cli started
`
