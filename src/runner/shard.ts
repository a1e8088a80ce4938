// `tcplab run --shard i/N`: run part i of N of the selected scenarios, so that
// a CI matrix (or a Kubernetes Indexed Job) spreads one suite over N machines
// with no scheduler of ours. The split is Playwright's (`--shard`,
// packages/playwright/src/runner/testGroups.ts filterForCurrentShard):
//
// - the selected scenarios are put in a stable order that does not depend on
//   the machine, its locale or the file system: sorted by scenario name (names
//   are unique in a selection; the loader refuses duplicates), compared as
//   UTF-16 code units, never with localeCompare;
// - that list is cut into N contiguous parts whose sizes differ by at most one,
//   the larger parts first: with 10 scenarios and 3 shards, 4 + 3 + 3.
//
// So every shard computes the same cut from the same selection without talking
// to the others, and the shards together hold each scenario exactly once. Each
// shard records the selection it was cut from (count and sha256 of the sorted
// names) in summary.json: `tcplab merge` refuses shards of different selections.

import { createHash } from 'node:crypto'
import type { RunShard } from '../expect/verdict.js'
import { UsageError } from '../util/errors.js'

/** Part `index` (1-based) of `total`. */
export interface Shard {
  index: number
  total: number
}

/** The largest shard count accepted (a typo such as 1/10000 is more likely than such a matrix). */
export const MAX_SHARDS = 1000

/** Parse "i/N" (1 <= i <= N <= MAX_SHARDS); a clear usage error (exit 2) otherwise. */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text)
  const hint = 'write --shard INDEX/TOTAL with 1 <= INDEX <= TOTAL, e.g. --shard 1/4 ... --shard 4/4 on four machines'
  if (!m) throw new UsageError(`--shard expects INDEX/TOTAL such as 2/4, got "${text}"`, { hint })
  const index = Number(m[1])
  const total = Number(m[2])
  if (total < 1) throw new UsageError(`--shard ${text}: TOTAL must be at least 1`, { hint })
  if (total > MAX_SHARDS) throw new UsageError(`--shard ${text}: TOTAL must be at most ${MAX_SHARDS}`, { hint })
  if (index < 1 || index > total) throw new UsageError(`--shard ${text}: INDEX must be between 1 and ${total} (shards count from 1, as in Playwright)`, { hint })
  return { index, total }
}

/** Names in shard order: sorted by UTF-16 code units (the same on every machine and locale). */
export function sortNames(names: readonly string[]): string[] {
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

/** [from, to) of shard `shard` in a list of `count` items: contiguous parts, sizes differing by at most one, larger first. */
export function shardRange(count: number, shard: Shard): { from: number; to: number } {
  const size = Math.floor(count / shard.total)
  const extra = count - size * shard.total
  const k = shard.index - 1
  const from = size * k + Math.min(extra, k)
  return { from, to: from + size + (k < extra ? 1 : 0) }
}

/**
 * The items of shard `shard`, in shard order (sorted by `nameOf`), and what summary.json records
 * about the selection they were cut from.
 */
export function selectShard<T>(items: readonly T[], shard: Shard, nameOf: (item: T) => string): { items: T[]; info: RunShard } {
  const byName = new Map<string, T>()
  for (const it of items) {
    const name = nameOf(it)
    if (byName.has(name)) throw new UsageError(`--shard needs unique scenario names; "${name}" is selected twice`)
    byName.set(name, it)
  }
  const names = sortNames([...byName.keys()])
  const { from, to } = shardRange(names.length, shard)
  return {
    items: names.slice(from, to).map((n) => byName.get(n) as T),
    info: { index: shard.index, total: shard.total, selectionCount: names.length, selectionSha256: selectionDigest(names) },
  }
}

/** sha256 (hex) of the names, sorted, one per line: the identity of a selection. */
export function selectionDigest(names: readonly string[]): string {
  return createHash('sha256').update(sortNames(names).map((n) => `${n}\n`).join('')).digest('hex')
}
