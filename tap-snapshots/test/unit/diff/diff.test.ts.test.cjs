/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`test/unit/diff/diff.test.ts > TAP > with and without tcp_syn_linear_timeouts: the SYN schedule difference is found and explained > text 1`] = `
tcplab diff
  A: <runs>/default-a
  B: <runs>/linear-0
  timing tolerance: the larger of 100ms and 10% of the interval measured

environment (every scenario):
  sysctlOverrides: --sysctl (none) → net.ipv4.tcp_syn_linear_timeouts=0

seed-syn-drop-timeout: REGRESSED (pass → fail)
  in short: SYN schedule client→server [S] seq 0: linear, then doubling → doubling (5 → 3 transmissions); net.ipv4.tcp_syn_linear_timeouts client: 2 → 0, server: 4 → 0
  expectations:
    ✗ #1 packets pass → fail: two linear SYN retransmissions on top of the initial 1 s timeout, then backoff: 0, 1, 2, 3, 5 s
        A: gaps 1.026s, 1.024s, 1.03s, 2.014s
        B: 3 packets (expected 5); gaps 1.002s, 2.016s
    ✗ #4 process pass → fail: connect() gives up 4 s after the last SYN (its doubled timeout) with ETIMEDOUT
        A: exited with 1 at 9.630s
        B: exited with 1 at 7.361s, outside the window
    ✗ #7 counter pass → fail: the rule dropped all five SYNs
        A: packets=5
        B: packets=3
  timings beyond tolerance:
    SYN schedule client→server [S] seq 0 (client→server:8000): 5 → 3 transmissions; #3 1.024s → 2.016s after the previous one (+992.0ms, tolerance ±102ms)
        A: 0.312 1.338 2.362 3.392 5.406 s  (gaps 1.026 1.024 1.030 2.014 s)
        B: 0.308 1.310 3.326 s  (gaps 1.002 2.016 s)
        backoff: linear, then doubling → doubling
  other changes:
    [S] packets sent by client: 5 → 3
    [S] packets received by server: 5 → 3
    packets matched by rule drop-syn on server: 5 → 3
    most retransmissions/probes the on timer of client→server:8000 counted: 4 → 2
  environment differences that may explain it:
    sysctlOverrides: --sysctl (none) → net.ipv4.tcp_syn_linear_timeouts=0
    net.ipv4.tcp_syn_linear_timeouts: client: 2 → 0, server: 4 → 0

2 scenario(s): 1 regressed, 0 changed, 1 same

`
