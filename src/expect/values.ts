// Values of event fields in event expectations: `match:` filters the events by
// their fields (SO_ERROR: 0, any tcp_info field, n = bytes read or sent), and
// sum/min/max aggregate a field over the matching events (total bytes read).

import { compileComparator, type ComparatorValue, type ParsedComparator } from '../scenario/comparator.js'
import type { EventRecord } from '../recorder/records.js'
import { checkAggregates, type AggregateSpec } from './aggregates.js'
import { fmtT } from './context.js'

/**
 * The value of field `key` of an event: its own fields (n, errno, code, signal,
 * text), a getsockopt result by option name (SO_ERROR, SIOCINQ, TCP_NODELAY:
 * the `sockopt` event's value), a tcp_info field (`tcpinfo` events), a key of
 * the event's data, or a dotted path into it.
 */
export function eventField(r: EventRecord, key: string): unknown {
  switch (key) {
    case 'type': return r.type
    case 'n': return r.n
    case 'errno': return r.errno
    case 'code': return r.code
    case 'signal': return r.signal
    case 'text': return r.text
  }
  const data = r.data ?? {}
  if (data.opt === key && 'value' in data) return data.value
  const info = data.info
  if (info !== null && typeof info === 'object' && key in info) return (info as Record<string, unknown>)[key]
  if (key in data) return data[key]
  let cur: unknown = data
  for (const part of key.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}

export interface EventValueJudge {
  /** " with SO_ERROR = 0" (empty without `match`). */
  matchText: string
  /** ", sum n = 30000" (empty without aggregates). */
  aggText: string
  /** Whether an event's fields match. */
  test(r: EventRecord): boolean
  /** The matched fields of `evs` when some were left out ("; values seen: SO_ERROR=110@7.462s, ..."). */
  explainMiss(evs: readonly EventRecord[]): string
  /** The aggregates over the matched events; undefined without any. */
  judge(matched: readonly EventRecord[]): { pass: boolean; measured: string } | undefined
}

interface ValueSpec extends AggregateSpec {
  match?: Record<string, ComparatorValue> | undefined
}

/** Compile `match:` and the aggregates of an event expectation. */
export function compileEventValues(e: ValueSpec): EventValueJudge {
  const preds: Array<[string, ParsedComparator]> = Object.entries(e.match ?? {}).map(([k, v]) => [k, compileComparator(v)])
  const spec: AggregateSpec = { sum: e.sum, min: e.min, max: e.max }
  const aggExpected = checkAggregates(spec, [], () => undefined, 'events')?.expected
  return {
    matchText: preds.length ? ` with ${preds.map(([k, c]) => `${k} ${c.text}`).join(', ')}` : '',
    aggText: aggExpected ? `, ${aggExpected}` : '',
    test: (r) => preds.every(([k, c]) => c.test(eventField(r, k))),
    explainMiss: (evs) => {
      if (preds.length === 0 || evs.length === 0) return ''
      const shown = evs.slice(0, 10).map((r) => `${preds.map(([k]) => `${k}=${fmtValue(eventField(r, k))}`).join(' ')}@${fmtT(r.t)}`)
      return `; values seen: ${shown.join(', ')}${evs.length > 10 ? ', ...' : ''}`
    },
    judge: (matched) => checkAggregates(spec, matched, eventField, 'events'),
  }
}

function fmtValue(v: unknown): string {
  return v === undefined ? '(none)' : typeof v === 'object' ? JSON.stringify(v) : String(v)
}
