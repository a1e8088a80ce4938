// Read a results directory back: a run (summary.json and one folder per
// scenario) or one scenario's folder (verdict.json, records.jsonl, env.json,
// scenario.yaml). Reports and diffs are built from these files only, so they
// can be regenerated (and compared) long after the run.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import type { RecordKind, TimelineRecord } from '../recorder/records.js'
import type { RunSummary, ScenarioVerdict } from '../expect/verdict.js'
import { parseDurationMs } from '../util/duration.js'
import { TcplabError, type TcplabErrorOptions } from '../util/errors.js'

/** A results directory that cannot be read as one: bad input, exit 2. */
export class ResultsError extends TcplabError {
  override readonly exitCode = 2
  constructor(message: string, opts: TcplabErrorOptions = {}) {
    super('E_RESULTS', message, opts)
  }
}

/** env.json as reports read it: every field optional, so older or partial files still render. */
export interface EnvView {
  tcplab?: string | undefined
  backend?: string | undefined
  kernel?: string | undefined
  hz?: number | undefined
  congestionControl?: string | undefined
  availableCongestionControl?: string | undefined
  qdiscs?: string[] | undefined
  tools?: Record<string, string> | undefined
  hosts?: Record<string, { sysctls?: Record<string, string> | undefined }> | undefined
  sysctlOverrides?: Record<string, string> | undefined
}

/** The parts of scenario.yaml a report shows (read loosely: the file was valid when it ran). */
export interface ScenarioView {
  name: string
  title: string
  explain: string
  tags: string[]
  /** Host names in file order, with their role. */
  hosts: Array<{ name: string; role?: string | undefined }>
  durationMs?: number | undefined
  sampleIntervalMs?: number | undefined
  /** Each step as "at 300ms  client: run {...}" for the story. */
  steps: string[]
}

/** One scenario's results, read from its folder. */
export interface ScenarioResult {
  dir: string
  verdict: ScenarioVerdict
  records: TimelineRecord[]
  env?: EnvView | undefined
  scenario?: ScenarioView | undefined
  /** pcap files next to the records, by host. */
  pcaps: string[]
}

/** A run's results: the summary (when written) and every scenario folder found. */
export interface RunResults {
  dir: string
  summary?: RunSummary | undefined
  scenarios: ScenarioResult[]
}

const KINDS: ReadonlySet<string> = new Set<RecordKind>(['action', 'ss', 'pkt', 'event', 'counter', 'sample'])

/** Is this directory one scenario's results (it has verdict.json)? */
export function isScenarioDir(dir: string): boolean {
  return existsSync(path.join(dir, 'verdict.json'))
}

/** Read one scenario's folder; throws ResultsError naming the file that is missing or broken. */
export function readScenarioResult(dir: string, opts: ReadOptions = {}): ScenarioResult {
  const verdict = readJson(path.join(dir, 'verdict.json'), isVerdict, 'a verdict (name, status, results)')
  const recordsFile = path.join(dir, 'records.jsonl')
  const records = opts.records !== false && existsSync(recordsFile) ? parseRecords(readFileSync(recordsFile, 'utf8'), recordsFile) : []
  const envFile = path.join(dir, 'env.json')
  const env = existsSync(envFile) ? readJson(envFile, isObject, 'an object') : undefined
  const yamlFile = path.join(dir, 'scenario.yaml')
  const scenario = existsSync(yamlFile) ? readScenarioView(readFileSync(yamlFile, 'utf8')) : undefined
  const pcaps = readdirSync(dir).filter((f) => f.endsWith('.pcap')).sort()
  return { dir, verdict, records, env: env as EnvView | undefined, scenario, pcaps }
}

export interface ReadOptions {
  /** Read records.jsonl (default true); an index page needs only verdicts. */
  records?: boolean | undefined
}

/** Read a run (summary.json + scenario folders) or a single scenario folder as a run of one. */
export function readRunResults(dir: string, opts: ReadOptions = {}): RunResults {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ResultsError(`${dir}: no such results directory`, { hint: 'pass the directory `tcplab run --results DIR` wrote (default results/<timestamp>)' })
  }
  if (isScenarioDir(dir)) return { dir, scenarios: [readScenarioResult(dir, opts)] }
  const summaryFile = path.join(dir, 'summary.json')
  const summary = existsSync(summaryFile) ? (readJson(summaryFile, isObject, 'a run summary') as unknown as RunSummary) : undefined
  const subdirs = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()
  const scenarios = subdirs.filter((d) => isScenarioDir(path.join(dir, d))).map((d) => readScenarioResult(path.join(dir, d), opts))
  // A summary alone is a run that ended before any scenario started (Ctrl-C during start-up).
  if (scenarios.length === 0 && summary === undefined) {
    throw new ResultsError(`${dir}: not a results directory (no summary.json and no scenario folder with verdict.json)`, {
      hint: 'pass the directory `tcplab run --results DIR` wrote, or one scenario folder inside it',
    })
  }
  // Keep the run's order (summary.json lists scenarios in the order they were given).
  const order = new Map((summary?.scenarios ?? []).map((s, i) => [s.name, i]))
  scenarios.sort((a, b) => (order.get(a.verdict.name) ?? 1e9) - (order.get(b.verdict.name) ?? 1e9) || a.verdict.name.localeCompare(b.verdict.name))
  return { dir, summary, scenarios }
}

/** Parse records.jsonl; a broken line is an error that names the line. */
export function parseRecords(text: string, file = 'records.jsonl'): TimelineRecord[] {
  const out: TimelineRecord[] = []
  const lines = text.split('\n')
  // A run killed mid-write leaves a last line without its "\n": that line is cut short, not broken.
  const lastCut = !text.endsWith('\n') ? lines.length - 1 : -1
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue
    let v: unknown
    try {
      v = JSON.parse(line)
    } catch (e: unknown) {
      if (i === lastCut) break
      throw new ResultsError(`${file}:${i + 1}: not JSON: ${(e as Error).message}`, { cause: e })
    }
    if (!isObject(v) || typeof v.kind !== 'string' || typeof v.t !== 'number') {
      throw new ResultsError(`${file}:${i + 1}: expected a timeline record ({"kind": ..., "t": ...})`)
    }
    if (KINDS.has(v.kind)) out.push(v as unknown as TimelineRecord)
  }
  // Records streamed during a run (an interrupted one keeps those) are in arrival order: sort them (stable).
  for (let i = 1; i < out.length; i++) {
    if ((out[i] as TimelineRecord).t < (out[i - 1] as TimelineRecord).t) return out.map((r, k) => [r, k] as const).sort((a, b) => a[0].t - b[0].t || a[1] - b[1]).map(([r]) => r)
  }
  return out
}

/** The report's view of scenario.yaml; undefined parts stay empty rather than failing the report. */
export function readScenarioView(text: string): ScenarioView | undefined {
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch {
    return undefined
  }
  if (!isObject(doc)) return undefined
  const str = (v: unknown): string => (typeof v === 'string' ? v : '')
  const dur = (v: unknown): number | undefined => (typeof v === 'string' ? parseDurationMs(v) : typeof v === 'number' ? v : undefined)
  const hosts = isObject(doc.hosts)
    ? Object.entries(doc.hosts).map(([name, h]) => ({ name, role: isObject(h) && typeof h.role === 'string' ? h.role : undefined }))
    : []
  const steps = Array.isArray(doc.steps) ? doc.steps.map(describeStep) : []
  return {
    name: str(doc.name),
    title: str(doc.title),
    explain: str(doc.explain),
    tags: Array.isArray(doc.tags) ? doc.tags.filter((t): t is string => typeof t === 'string') : [],
    hosts,
    durationMs: dur(doc.duration),
    sampleIntervalMs: isObject(doc.sample) ? dur(doc.sample.interval) : undefined,
    steps,
  }
}

function describeStep(step: unknown): string {
  if (!isObject(step)) return String(step)
  const when = step.at !== undefined ? `at ${String(step.at)}` : step.after !== undefined ? `after ${String(step.after)}${step.delay !== undefined ? ` + ${String(step.delay)}` : ''}` : ''
  const rest = Object.entries(step).filter(([k]) => !['at', 'after', 'delay', 'timeout'].includes(k))
  const what = rest.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ')
  return `${when}${when && what ? '  ' : ''}${what}`
}

function readJson<T>(file: string, check: (v: unknown) => v is T, what: string): T {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e: unknown) {
    throw new ResultsError(`${file}: cannot read: ${(e as Error).message}`, { cause: e })
  }
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (e: unknown) {
    throw new ResultsError(`${file}: not JSON: ${(e as Error).message}`, { cause: e })
  }
  if (!check(v)) throw new ResultsError(`${file}: expected ${what}`)
  return v
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isVerdict(v: unknown): v is ScenarioVerdict {
  return isObject(v) && typeof v.name === 'string' && typeof v.status === 'string' && Array.isArray(v.results)
}
