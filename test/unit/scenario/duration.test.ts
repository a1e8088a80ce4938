import t from 'tap'
import { parseDurationMs, formatMs } from '../../../src/util/duration.js'
import { parseComparator } from '../../../src/scenario/comparator.js'
import { splitArgs, fillPlaceholders, findPlaceholders } from '../../../src/scenario/template.js'

t.test('durations', async (t) => {
  const cases: Array<[string, number | undefined]> = [
    ['250ms', 250], ['2s', 2000], ['1.5s', 1500], ['1m', 60_000], ['2m30s', 150_000], ['1min', 60_000],
    ['100us', 0.1], ['1h', 3_600_000], ['0', 0], ['0s', 0], ['1s500ms', 1500],
    ['fast', undefined], ['', undefined], ['10', undefined], ['1.s', undefined], ['-1s', undefined], ['1 s', undefined], ['s', undefined],
  ]
  for (const [text, want] of cases) t.equal(parseDurationMs(text), want, JSON.stringify(text))
  t.equal(formatMs(950), '950ms')
  t.equal(formatMs(1500), '1.5s')
  t.equal(formatMs(123_000), '2m3s')
  t.equal(formatMs(-40), '-40ms')
})

t.test('comparators', async (t) => {
  const ok = (c: string | number | boolean, v: unknown): boolean => {
    const p = parseComparator(c)
    if (p.error !== undefined) throw new Error(p.error)
    return p.test(v)
  }
  t.ok(ok(6, 6)); t.notOk(ok(6, 7)); t.ok(ok('6', 6))
  t.ok(ok('>0', 1)); t.notOk(ok('>0', 0)); t.ok(ok('>=3', 3)); t.ok(ok('<=60000', 59_000)); t.notOk(ok('<=60000', 60_001))
  t.ok(ok('!=0', 2)); t.notOk(ok('!=0', 0)); t.ok(ok('1..5', 5)); t.notOk(ok('1..5', 6))
  t.ok(ok('ESTAB', 'ESTAB')); t.notOk(ok('ESTAB', 'SYN-SENT')); t.ok(ok('/^FIN-WAIT/', 'FIN-WAIT-2'))
  t.notOk(ok('>0', undefined), 'a missing value never satisfies a numeric comparison')
  t.ok(ok(true, true))
  t.match(parseComparator('>>0').error, /expected a comparison/)
  t.match(parseComparator('5..1').error, /empty/)
  t.match(parseComparator('/(/').error, /bad regular expression/)
})

t.test('argv splitting and placeholders', async (t) => {
  t.same(splitArgs('-A OUTPUT -p tcp --tcp-flags ALL ACK -j DROP'), ['-A', 'OUTPUT', '-p', 'tcp', '--tcp-flags', 'ALL', 'ACK', '-j', 'DROP'])
  t.same(splitArgs(`-m comment --comment "two words" -j LOG --log-prefix 'x y'`), ['-m', 'comment', '--comment', 'two words', '-j', 'LOG', '--log-prefix', 'x y'])
  t.same(splitArgs(`a "" b`), ['a', '', 'b'])
  t.throws(() => splitArgs('a "b'), /unterminated/)
  const hosts = new Map([['server', { addr: '198.18.0.2', ifname: 'eth0' }]])
  t.equal(fillPlaceholders('{{server}}:{{ server.addr }} on {{server.if}}', hosts), '198.18.0.2:198.18.0.2 on eth0')
  t.equal(fillPlaceholders('{{nobody}}', hosts), '{{nobody}}')
  t.same(findPlaceholders('x {{a.if}} {{b}}').map((p) => [p.host, p.field]), [['a', 'if'], ['b', 'addr']])
})
