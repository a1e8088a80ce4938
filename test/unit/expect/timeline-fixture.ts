// Helpers for the expectation tests: load a timeline recorded from a real run
// (test/fixtures/timelines/<scenario>/, see its README) and build the
// EvalContext the runner would build for it. Not a test file itself.

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_TOLERANCE, type EvalContext } from '../../../src/expect/context.js'
import { evaluateAll, evaluateExpectation, type ExpectationResult, type ScenarioVerdict } from '../../../src/expect/index.js'
import type { EventRecord, TimelineRecord } from '../../../src/recorder/records.js'
import { parseJsonl } from '../../../src/recorder/timeline.js'
import { Expectation } from '../../../src/scenario/schema.js'
import { stepMarkOf, type StepMark } from '../../../src/scenario/marks.js'

export const TIMELINES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/timelines')

export const FIXTURE_NAMES = [
  'seed-accept-queue',
  'seed-close-wait',
  'seed-recvq-stalled-reader',
  'seed-sendq-ack-drop',
  'seed-syn-drop-timeout',
  'zero-window',
  'naming-orphan-reuse',
  'step-after-mark',
  'two-closes',
] as const
export type FixtureName = (typeof FIXTURE_NAMES)[number]

/** The parts of env.json the evaluators depend on. */
export interface FixtureEnv {
  kernel: string
  hosts: Record<string, { sysctls: Record<string, string> }>
}

export interface Fixture {
  name: FixtureName
  records: TimelineRecord[]
  env: FixtureEnv
  verdict: ScenarioVerdict
  /** Host name -> its lab addresses, read off the captured packets. */
  hosts: Map<string, string[]>
}

const cache = new Map<FixtureName, Fixture>()

/** Load one recorded timeline (records.jsonl, env.json, verdict.json); `dir` for one recorded elsewhere (test/fixtures/runs). */
export function loadFixture(name: FixtureName, dir = join(TIMELINES, name)): Fixture {
  const hit = dir === join(TIMELINES, name) ? cache.get(name) : undefined
  if (hit) return { ...hit, records: [...hit.records] }
  const records = parseJsonl(readFileSync(join(dir, 'records.jsonl'), 'utf8'))
  const env = JSON.parse(readFileSync(join(dir, 'env.json'), 'utf8')) as FixtureEnv
  const verdict = JSON.parse(readFileSync(join(dir, 'verdict.json'), 'utf8')) as ScenarioVerdict
  const fx: Fixture = { name, records, env, verdict, hosts: hostAddresses(records) }
  if (dir === join(TIMELINES, name)) cache.set(name, fx)
  return { ...fx, records: [...records] }
}

/** A host sends from its own address and receives on it: `out` packets carry it as src, `in` packets as dst. */
export function hostAddresses(records: readonly TimelineRecord[]): Map<string, string[]> {
  const hosts = new Map<string, string[]>()
  for (const r of records) {
    if (r.kind !== 'pkt' || r.dir === 'unknown') continue
    const addr = r.dir === 'out' ? r.src : r.dst
    const list = hosts.get(r.host) ?? []
    if (!list.includes(addr)) list.push(addr)
    hosts.set(r.host, list)
  }
  return hosts
}

/**
 * The EvalContext for a fixture, as the runner builds it: records sorted by t,
 * endT = the last record, default tolerance, kernel and sysctls from env.json.
 * `extra` records (synthetic, labelled by the caller) are merged in time order.
 */
export function contextOf(fx: Fixture, over: Partial<EvalContext> = {}, extra: readonly TimelineRecord[] = []): EvalContext {
  const records = [...fx.records, ...extra].map((r, i) => [r, i] as const).sort((a, b) => a[0].t - b[0].t || a[1] - b[1]).map(([r]) => r)
  const sysctls = new Set<string>()
  for (const h of Object.values(fx.env.hosts)) for (const k of Object.keys(h.sysctls)) sysctls.add(k)
  return {
    records,
    endT: records[records.length - 1]?.t ?? 0,
    hosts: fx.hosts,
    tolerance: DEFAULT_TOLERANCE,
    kernel: fx.env.kernel,
    hasSysctl: (k) => sysctls.has(k),
    sysctlValues: (k) => new Map(Object.entries(fx.env.hosts).flatMap(([h, e]) => (e.sysctls[k] !== undefined ? [[h, e.sysctls[k] as string] as const] : []))),
    ...over,
  }
}

/** Parse expectations as the loader does and evaluate them together (marks first), as the runner does. */
export function evaluateList(ctx: EvalContext, inputs: unknown[]): ExpectationResult[] {
  return evaluateAll(inputs.map((x) => Expectation.parse(x)), ctx)
}

/** Parse an expectation exactly as the loader does (durations to ms, defaults) and evaluate it. */
export function evaluate(ctx: EvalContext, input: unknown): ExpectationResult {
  return evaluateExpectation(Expectation.parse(input), 0, ctx)
}

/** The time of the first event NAME.TYPE in a fixture (throws when absent: fixtures are fixed). */
export function timeOf(fx: Fixture, source: string, type: string): number {
  const r = fx.records.find((x): x is EventRecord => x.kind === 'event' && x.source === source && x.type === type)
  if (!r) throw new Error(`${fx.name} has no event ${source}.${type}`)
  return r.t
}

/** Synthetic agent-style event (not recorded): data.synthetic marks it in every test that uses one. */
export function syntheticEvent(e: Omit<EventRecord, 'kind' | 'data'> & { data?: Record<string, unknown> }): EventRecord {
  return { kind: 'event', ...e, data: { ...e.data, synthetic: true } }
}

/** The records in the batches they reach the runner in: a `sample` record with the rows of that sample (one timeline.addAll), everything else alone. */
export function sampleBatches(records: readonly TimelineRecord[]): TimelineRecord[][] {
  const out: TimelineRecord[][] = []
  for (const r of records) {
    const last = out[out.length - 1]
    const head = last?.[0]
    if (r.kind === 'ss' && head?.kind === 'sample' && head.host === r.host && head.t === r.t) last?.push(r)
    else out.push([r])
  }
  return out
}

/** The step mark `ref` (as `after:` names it) among these expectations; throws when it is not one. */
export function markOf(ref: string, expect: unknown[]): StepMark {
  const m = stepMarkOf(ref, expect as Array<Record<string, unknown>>)
  if (typeof m !== 'object') throw new Error(`${ref}: ${String(m)}`)
  return m
}
