/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`test/unit/report/terminal.test.ts > TAP > pretty (not a terminal): a line when each scenario starts, the result, failures explained > pretty 1`] = `
tcplab: 2 scenario(s) on netns, 1 at a time; results in <runs>/linear-0
RUN  seed-syn-drop-timeout (expected ~10s)
FAIL seed-syn-drop-timeout (11.146s, expected ~10s, 2/8 expectations)
  FAIL packets (line 33): two linear SYN retransmissions on top of the initial 1 s timeout, then backoff: 0, 1, 2, 3, 5 s
         expected: [S] out to server:8000 on client with gaps 1s, 1s, 1s, 2s during the whole run
         measured: 3 packets (expected 5); gaps 1.002s, 2.016s
  skip packets (line 42): applies to kernels without net.ipv4.tcp_syn_linear_timeouts
  FAIL process (line 57): connect() gives up 4 s after the last SYN (its doubled timeout) with ETIMEDOUT
         expected: cli exits with 1, prints /timed out/ on stderr at 9s ±450ms after cli.started
         measured: exited with 1 at 7.361s, outside the window [Δ -1.939s, tolerance ±450ms]
  skip process (line 66): applies to kernels without net.ipv4.tcp_syn_linear_timeouts
  FAIL counter (line 81): the rule dropped all five SYNs
         expected: counter drop-syn on server: packets = 5
         measured: packets=3
  skip counter (line 82): applies to kernels without net.ipv4.tcp_syn_linear_timeouts
RUN  seed-sendq-ack-drop (expected ~6s)
PASS seed-sendq-ack-drop (7.167s, expected ~6s, 6/6 expectations)

2 scenarios: 1 passed, 1 failed, 0 errors, 0 skipped in 18.491s (/tmp/fx-linear-0)

`

exports[`test/unit/report/terminal.test.ts > TAP > tap and json reporters on a recorded run > tap 1`] = `
TAP version 14
1..2
not ok 1 - seed-syn-drop-timeout
    # Subtest: seed-syn-drop-timeout
    1..8
    not ok 1 - packets: two linear SYN retransmissions on top of the initial 1 s timeout, then backoff: 0, 1, 2, 3, 5 s
      ---
      expected: "[S] out to server:8000 on client with gaps 1s, 1s, 1s, 2s during the whole run"
      measured: "3 packets (expected 5); gaps 1.002s, 2.016s"
      at: { line: 33, column: 5 }
      ...
    ok 2 - packets: exponential SYN backoff on kernels before 6.5: 0, 1, 3 s # SKIP applies to kernels without net.ipv4.tcp_syn_linear_timeouts
    ok 3 - ss: the client sits in SYN-SENT with the retransmission timer running
    not ok 4 - process: connect() gives up 4 s after the last SYN (its doubled timeout) with ETIMEDOUT
      ---
      expected: "cli exits with 1, prints /timed out/ on stderr at 9s ±450ms after cli.started"
      measured: "exited with 1 at 7.361s, outside the window"
      deltaMs: -1938.698
      toleranceMs: 450
      at: { line: 57, column: 5 }
      ...
    ok 5 - process: connect() gives up after 1+2+4 s with ETIMEDOUT # SKIP applies to kernels without net.ipv4.tcp_syn_linear_timeouts
    ok 6 - packets: the server never answers (the SYNs are dropped before TCP sees them)
    not ok 7 - counter: the rule dropped all five SYNs
      ---
      expected: "counter drop-syn on server: packets = 5"
      measured: "packets=3"
      at: { line: 81, column: 5 }
      ...
    ok 8 - counter: the rule dropped all three SYNs # SKIP applies to kernels without net.ipv4.tcp_syn_linear_timeouts
ok 2 - seed-sendq-ack-drop
    # Subtest: seed-sendq-ack-drop
    1..6
    ok 1 - ss: the 6 unacknowledged bytes wait in Send-Q with the retransmission timer running
    ok 2 - ss: the retransmission count grows while the ACKs are dropped
    ok 3 - packets: a tail loss probe, then retransmissions with exponential backoff (RTO 200ms doubling)
    ok 4 - counter: every retransmission triggered another (dropped) duplicate ACK
    ok 5 - ss: after the rule is gone the next retransmission (about 4.3s) is acknowledged and Send-Q drains
    ok 6 - process: cli prints 12345 on stdout
# 2 scenarios: 1 passed, 1 failed, 0 errors, 0 skipped in 18.491s (/tmp/fx-linear-0)

`
