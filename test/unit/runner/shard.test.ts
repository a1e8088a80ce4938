// --shard i/N: parsing, and the split (Playwright's: sorted by name, N contiguous
// parts whose sizes differ by at most one, larger first).
import t from 'tap'
import { MAX_SHARDS, parseShard, selectionDigest, selectShard, shardRange, sortNames } from '../../../src/runner/shard.js'
import { UsageError } from '../../../src/util/errors.js'

t.test('parseShard accepts I/N and refuses anything else with exit 2', async (t) => {
  t.same(parseShard('1/2'), { index: 1, total: 2 })
  t.same(parseShard('3/3'), { index: 3, total: 3 })
  t.same(parseShard(' 2 / 4 '), { index: 2, total: 4 })
  t.same(parseShard('1/1'), { index: 1, total: 1 })
  const bad: Array<[string, RegExp]> = [
    ['0/2', /INDEX must be between 1 and 2/],
    ['3/2', /INDEX must be between 1 and 2/],
    ['1/0', /TOTAL must be at least 1/],
    ['0/0', /TOTAL must be at least 1/],
    [`1/${MAX_SHARDS + 1}`, /TOTAL must be at most/],
    ['', /expects INDEX\/TOTAL/],
    ['2', /expects INDEX\/TOTAL/],
    ['1/2/3', /expects INDEX\/TOTAL/],
    ['-1/2', /expects INDEX\/TOTAL/],
    ['1.5/2', /expects INDEX\/TOTAL/],
    ['a/b', /expects INDEX\/TOTAL/],
    ['1/2x', /expects INDEX\/TOTAL/],
  ]
  for (const [text, message] of bad) {
    const e = t.throws(() => parseShard(text), { message }, `"${text}" refused`) as unknown
    t.ok(e instanceof UsageError && e.exitCode === 2 && /--shard 1\/4/.test(e.hint ?? ''), `"${text}": usage error (exit 2) with a hint`)
  }
})

t.test("shardRange is Playwright's cut: contiguous, sizes differ by at most one, larger first", async (t) => {
  t.same([1, 2, 3].map((index) => shardRange(10, { index, total: 3 })), [{ from: 0, to: 4 }, { from: 4, to: 7 }, { from: 7, to: 10 }], '10 in 3: 4 + 3 + 3')
  t.same([1, 2, 3, 4].map((index) => shardRange(2, { index, total: 4 })), [{ from: 0, to: 1 }, { from: 1, to: 2 }, { from: 2, to: 2 }, { from: 2, to: 2 }], '2 in 4: two empty shards at the end')
  for (let count = 0; count <= 40; count++) {
    for (let total = 1; total <= 9; total++) {
      const ranges = Array.from({ length: total }, (_, k) => shardRange(count, { index: k + 1, total }))
      const sizes = ranges.map((r) => r.to - r.from)
      const contiguous = ranges.every((r, k) => r.from === (k === 0 ? 0 : (ranges[k - 1] as { to: number }).to))
      const covers = (ranges[ranges.length - 1] as { to: number }).to === count
      const even = Math.max(...sizes) - Math.min(...sizes) <= 1
      const largerFirst = sizes.every((s, k) => k === 0 || s <= (sizes[k - 1] as number))
      if (!(contiguous && covers && even && largerFirst)) t.fail(`count ${count}, total ${total}: ${JSON.stringify(ranges)}`)
    }
  }
  t.pass('every count 0..40 in every shard count 1..9: a partition, balanced, larger parts first')
})

t.test('selectShard: sorted by name whatever the input order, every item exactly once over the shards', async (t) => {
  const names = ['zero-window', 'close-wait', 'Accept', 'syn-drop', 'b', 'a-b', 'a', 'keepalive', 'é-accent', 'rst']
  const shuffled = [...names].reverse()
  const cut = (items: string[], total: number): string[][] => Array.from({ length: total }, (_, k) => selectShard(items, { index: k + 1, total }, (x) => x).items)
  t.same(cut(names, 3), cut(shuffled, 3), 'the same cut from any input order')
  t.same(cut(names, 3).flat(), sortNames(names), 'the shards in order are the sorted selection')
  t.same(sortNames(['b', 'a-b', 'Accept', 'a', 'é-accent']), ['Accept', 'a', 'a-b', 'b', 'é-accent'], 'code-unit order, not the locale\'s')
  t.same(cut(names, 3).map((s) => s.length), [4, 3, 3])
  const infos = [1, 2, 3].map((index) => selectShard(names, { index, total: 3 }, (x) => x).info)
  t.same(new Set(infos.map((i) => i.selectionSha256)).size, 1, 'every shard records the same selection digest')
  t.same(infos.map((i) => [i.index, i.total, i.selectionCount]), [[1, 3, 10], [2, 3, 10], [3, 3, 10]])
  t.not(selectionDigest(names.slice(1)), infos[0]?.selectionSha256, 'another selection has another digest')
  t.equal(selectionDigest(shuffled), infos[0]?.selectionSha256, 'the digest does not depend on order')
  t.throws(() => selectShard(['a', 'a'], { index: 1, total: 2 }, (x) => x), { exitCode: 2, message: /"a" is selected twice/ })
})
