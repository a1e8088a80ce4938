/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`test/unit/report/junit.test.ts > TAP > one testcase per expectation, failure text with measured vs expected > junit of the tcp_syn_linear_timeouts=0 run 1`] = `
<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="tcplab" tests="14" failures="3" errors="0" skipped="3" time="<s>" timestamp="<date>">
  <testsuite name="seed-syn-drop-timeout" tests="8" failures="3" errors="0" skipped="3" time="<s>" timestamp="<date>" file="scenarios/seed/syn-drop-timeout.yaml">
    <properties><property name="backend" value="netns"/><property name="file" value="scenarios/seed/syn-drop-timeout.yaml"/><property name="labId" value="<id>"/><property name="kernel" value="6.18"/></properties>
    <testcase name="#1 packets: two linear SYN retransmissions on top of the initial 1 s timeout, then backoff: 0, 1, 2, 3, 5 s" classname="tcplab.seed-syn-drop-timeout" file="scenarios/seed/syn-drop-timeout.yaml" line="33" time="<s>"><failure message="expected [S] out to server:8000 on client with gaps 1s, 1s, 1s, 2s during the whole run; measured 3 packets (expected 5); gaps 1.002s, 2.016s" type="packets">expected: [S] out to server:8000 on client with gaps 1s, 1s, 1s, 2s during the whole run
measured: 3 packets (expected 5); gaps 1.002s, 2.016s
at: 0.308449s on the scenario timeline (see seed-syn-drop-timeout/report.html)
where: scenarios/seed/syn-drop-timeout.yaml:33:5</failure></testcase>
    <testcase name="#2 packets: exponential SYN backoff on kernels before 6.5: 0, 1, 3 s" classname="tcplab.seed-syn-drop-timeout" file="scenarios/seed/syn-drop-timeout.yaml" line="42" time="<s>"><skipped message="applies to kernels without net.ipv4.tcp_syn_linear_timeouts"/></testcase>
    <testcase name="#3 ss: the client sits in SYN-SENT with the retransmission timer running" classname="tcplab.seed-syn-drop-timeout" file="scenarios/seed/syn-drop-timeout.yaml" line="51" time="<s>"/>
    <testcase name="#4 process: connect() gives up 4 s after the last SYN (its doubled timeout) with ETIMEDOUT" classname="tcplab.seed-syn-drop-timeout" file="scenarios/seed/syn-drop-timeout.yaml" line="57" time="<s>"><failure message="expected cli exits with 1, prints /timed out/ on stderr at 9s ±450ms after cli.started; measured exited with 1 at 7.361s, outside the window" type="process">expected: cli exits with 1, prints /timed out/ on stderr at 9s ±450ms after cli.started
measured: exited with 1 at 7.361s, outside the window
delta: -1.939s (tolerance ±450ms)
at: 7.361486s on the scenario timeline (see seed-syn-drop-timeout/report.html)
where: scenarios/seed/syn-drop-timeout.yaml:57:5</failure></testcase>
    <testcase name="#5 process: connect() gives up after 1+2+4 s with ETIMEDOUT" classname="tcplab.seed-syn-drop-timeout" file="scenarios/seed/syn-drop-timeout.yaml" line="66" time="<s>"><skipped message="applies to kernels without net.ipv4.tcp_syn_linear_timeouts"/></testcase>
    <testcase name="#6 packets: the server never answers (the SYNs are dropped before TCP sees them)" classname="tcplab.seed-syn-drop-timeout" file="scenarios/seed/syn-drop-timeout.yaml" line="75" time="<s>"/>
    <testcase name="#7 counter: the rule dropped all five SYNs" classname="tcplab.seed-syn-drop-timeout" file="scenarios/seed/syn-drop-timeout.yaml" line="81" time="<s>"><failure message="expected counter drop-syn on server: packets = 5; measured packets=3" type="counter">expected: counter drop-syn on server: packets = 5
measured: packets=3
at: 10.028899s on the scenario timeline (see seed-syn-drop-timeout/report.html)
where: scenarios/seed/syn-drop-timeout.yaml:81:5</failure></testcase>
    <testcase name="#8 counter: the rule dropped all three SYNs" classname="tcplab.seed-syn-drop-timeout" file="scenarios/seed/syn-drop-timeout.yaml" line="82" time="<s>"><skipped message="applies to kernels without net.ipv4.tcp_syn_linear_timeouts"/></testcase>
  </testsuite>
  <testsuite name="seed-sendq-ack-drop" tests="6" failures="0" errors="0" skipped="0" time="<s>" timestamp="<date>" file="scenarios/seed/sendq-ack-drop.yaml">
    <properties><property name="backend" value="netns"/><property name="file" value="scenarios/seed/sendq-ack-drop.yaml"/><property name="labId" value="<id>"/><property name="kernel" value="6.18"/></properties>
    <testcase name="#1 ss: the 6 unacknowledged bytes wait in Send-Q with the retransmission timer running" classname="tcplab.seed-sendq-ack-drop" file="scenarios/seed/sendq-ack-drop.yaml" line="38" time="<s>"/>
    <testcase name="#2 ss: the retransmission count grows while the ACKs are dropped" classname="tcplab.seed-sendq-ack-drop" file="scenarios/seed/sendq-ack-drop.yaml" line="44" time="<s>"/>
    <testcase name="#3 packets: a tail loss probe, then retransmissions with exponential backoff (RTO 200ms doubling)" classname="tcplab.seed-sendq-ack-drop" file="scenarios/seed/sendq-ack-drop.yaml" line="51" time="<s>"/>
    <testcase name="#4 counter: every retransmission triggered another (dropped) duplicate ACK" classname="tcplab.seed-sendq-ack-drop" file="scenarios/seed/sendq-ack-drop.yaml" line="59" time="<s>"/>
    <testcase name="#5 ss: after the rule is gone the next retransmission (about 4.3s) is acknowledged and Send-Q drains" classname="tcplab.seed-sendq-ack-drop" file="scenarios/seed/sendq-ack-drop.yaml" line="64" time="<s>"/>
    <testcase name="#6 process: cli prints 12345 on stdout" classname="tcplab.seed-sendq-ack-drop" file="scenarios/seed/sendq-ack-drop.yaml" line="70" time="<s>"/>
  </testsuite>
</testsuites>

`
