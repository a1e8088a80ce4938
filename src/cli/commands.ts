// The commands of the CLI. Each parses its own options (node:util parseArgs)
// and returns an exit code; errors propagate to main.ts. Each command imports
// what it needs when it runs (node-tap's lazy commands): `tcplab list` loads the
// scenario loader only, not execa, dockerode or the report renderers.

import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Writable } from 'node:stream'
import { ScenarioError, UsageError } from '../util/errors.js'
import { excerptOf } from '../scenario/limits.js'
import { sysctlKeyProblem, sysctlValueProblem, SYSCTL_KEY_HINT } from '../scenario/sysctl-values.js'
import type { LoadedScenario } from '../scenario/loader.js'
import { REPORTER_NAMES, type ReporterName } from '../report/terminal.js'
import type { ScenarioVerdict } from '../expect/verdict.js'
import { diffCommand, reportCommand } from './report-commands.js'

/** The backends' names, repeated here so that parsing options loads no backend (a unit test keeps it equal to lab/index.ts). */
export const BACKEND_NAMES = ['netns', 'docker'] as const

export interface CommandContext {
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
  signal: AbortSignal
  out: Writable
  err: Writable
}

export interface Command {
  options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>
  run(ctx: CommandContext): Promise<number>
}

/** scenarios/ in the working directory, else the one shipped with tcplab. */
function defaultScenarioDir(): string {
  if (existsSync('scenarios')) return 'scenarios'
  return path.relative(process.cwd(), fileURLToPath(new URL('../../scenarios', import.meta.url))) || '.'
}

/** Load the scenarios named on the command line (or the default set), filtered by --tag. */
async function selectScenarios(ctx: CommandContext): Promise<LoadedScenario[]> {
  const { findScenarioFiles, loadScenarios } = await import('../scenario/loader.js')
  const explicit = ctx.positionals.length > 0
  const files = await findScenarioFiles(explicit ? ctx.positionals : [defaultScenarioDir()])
  if (files.length === 0) throw noScenarios(explicit ? ctx.positionals : [defaultScenarioDir()])
  const loaded = await loadScenarios(files)
  const tags = parseTags(ctx.values.tag)
  return loaded.filter((l) => {
    const st = l.scenario.tags
    if (tags.length > 0) return tags.some((t) => st.includes(t))
    return explicit || !st.includes('slow')
  })
}

function noScenarios(paths: readonly string[]): UsageError {
  return new UsageError(`no scenarios: no *.yaml or *.yml file in ${paths.map((p) => `"${excerptOf(p)}"`).join(', ')}`, { hint: 'give a scenario file or a directory holding some (tcplab list shows them)' })
}

/** validate's and run's last checks before anything runs (runner/preflight.ts): exit 2 with file:line:col on a problem. */
async function preflight(ctx: CommandContext, loaded: LoadedScenario[], backend: import('../lab/index.js').Backend | undefined, sysctls: Record<string, string> = {}): Promise<void> {
  const { preflightScenarios } = await import('../runner/preflight.js')
  const { issues, notes } = await preflightScenarios(loaded, backend, sysctls)
  for (const n of notes) ctx.err.write(`tcplab: ${n}\n`)
  if (issues.length > 0) {
    throw new ScenarioError(issues, {
      hint: issues.some((i) => /sysctl/.test(i.message)) ? SYSCTL_KEY_HINT : issues.some((i) => /iptables|ip6tables/.test(i.message)) ? 'check the rule against iptables(8) and iptables-extensions(8); it is passed as argv, without a shell' : undefined,
    })
  }
}

function timestampDir(): string {
  return path.join('results', new Date().toISOString().replace(/:/g, '-').replace(/\..*$/, ''))
}

/** Most --jobs there is use for: more scenarios at once than this only queue up. */
const MAX_JOBS = 1024

function parseIntOption(v: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER, unit = ''): number | undefined {
  if (v === undefined) return undefined
  const text = String(v)
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`--${name} expects a whole number${unit}, got "${excerptOf(text)}"`, { hint: `e.g. --${name} ${Math.max(min, 1)}` })
  const n = Number(text)
  if (n < min) throw new UsageError(`--${name} expects a number >= ${min}${unit}, got ${n}`, { hint: `e.g. --${name} ${Math.max(min, 1)}` })
  if (n > max) throw new UsageError(`--${name} expects a number <= ${max}${unit}, got ${n}`)
  return n
}

/** --jobs: "auto" (the default: admit scenarios while the machine keeps time) or a fixed N >= 1. */
export function parseJobs(v: unknown): number | 'auto' {
  if (v === undefined || v === 'auto') return 'auto'
  if (!/^-?\d+$/.test(String(v))) throw new UsageError(`--jobs expects "auto" or a whole number of scenarios run at once, got "${excerptOf(String(v))}"`, { hint: '--jobs auto, or --jobs 2' })
  const n = Number(v)
  if (n < 1) throw new UsageError(`--jobs expects "auto" or at least 1 scenario at a time, got ${n}`, { hint: '--jobs auto, or --jobs 1 to run one at a time' })
  if (n > MAX_JOBS) throw new UsageError(`--jobs expects at most ${MAX_JOBS}, got ${n}`)
  return n
}

/** --sysctl KEY=VALUE: per-network-namespace keys only, values by type (as in a scenario). */
export function parseSysctls(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const kv of list ?? []) {
    const m = /^([^=\s]+)=(.*)$/.exec(kv)
    if (!m) throw new UsageError(`--sysctl expects KEY=VALUE, got "${excerptOf(kv)}"`, { hint: '--sysctl net.ipv4.tcp_syn_retries=3' })
    const key = m[1] as string
    const value = m[2] as string
    const problem = sysctlKeyProblem(key) ?? sysctlValueProblem(key, value)
    if (problem) throw new UsageError(`--sysctl: ${problem}`, { hint: SYSCTL_KEY_HINT })
    out[key] = value
  }
  return out
}

/** --results DIR: a path, not empty. */
function parseResultsDir(v: unknown): string | undefined {
  if (v === undefined) return undefined
  const dir = String(v)
  if (dir.trim() === '' || dir.includes('\0')) throw new UsageError(`--results expects a directory path, got "${excerptOf(dir)}"`)
  return dir
}

/** --tag T: a tag as scenarios write them (lowercase letters, digits, "-"). */
function parseTags(v: unknown): string[] {
  const tags = (v as string[] | undefined) ?? []
  for (const t of tags) if (!/^[a-z0-9-]+$/.test(t)) throw new UsageError(`--tag expects a tag of lowercase letters, digits and "-", got "${excerptOf(t)}"`)
  return tags
}

/** Exit code of a finished run: 3 environment > 2 bad input > 1 failure > 0. */
export function runExitCode(verdicts: readonly ScenarioVerdict[]): number {
  const errCodes = verdicts.filter((v) => v.status === 'error').map((v) => v.error?.exitCode ?? 1)
  if (errCodes.includes(130) || verdicts.some((v) => v.status === 'interrupted')) return 130
  if (errCodes.includes(3)) return 3
  if (errCodes.includes(2)) return 2
  if (errCodes.length > 0 || verdicts.some((v) => v.status === 'fail')) return 1
  return 0
}

const run: Command = {
  options: {
    backend: { type: 'string', short: 'b' },
    jobs: { type: 'string', short: 'j' },
    results: { type: 'string', short: 'o' },
    reporter: { type: 'string', short: 'r' },
    tag: { type: 'string', multiple: true, short: 't' },
    tolerance: { type: 'string' },
    sysctl: { type: 'string', multiple: true },
    'agent-priority': { type: 'string' },
  },
  async run(ctx) {
    const agentPriority = ctx.values['agent-priority'] as string | undefined
    if (agentPriority !== undefined && !['normal', 'nice', 'fifo'].includes(agentPriority)) throw new UsageError(`--agent-priority expects normal, nice or fifo, got "${agentPriority}"`)
    const backendName = (ctx.values.backend as string | undefined) ?? 'netns'
    if (!(BACKEND_NAMES as readonly string[]).includes(backendName)) throw new UsageError(`--backend expects ${BACKEND_NAMES.join(' or ')}, got "${backendName}"`)
    const reporterName = ((ctx.values.reporter as string | undefined) ?? 'pretty') as ReporterName
    if (!REPORTER_NAMES.includes(reporterName)) throw new UsageError(`--reporter expects ${REPORTER_NAMES.join(', ')}, got "${reporterName}"`)
    const jobs = parseJobs(ctx.values.jobs)
    const toleranceMs = parseIntOption(ctx.values.tolerance, 'tolerance', 0, 3_600_000, ' of milliseconds')
    const resultsOption = parseResultsDir(ctx.values.results)
    const sysctlOverrides = parseSysctls(ctx.values.sysctl as string[] | undefined)
    // Everything is validated before anything is created.
    const scenarios = await selectScenarios(ctx)
    if (scenarios.length === 0) throw new UsageError('no scenarios selected (check the paths and --tag)')
    const [{ createBackend }, { runSuite }, { createReporter }] = await Promise.all([
      import('../lab/index.js'), import('../runner/suite.js'), import('../report/terminal.js'),
    ])
    const backend = await createBackend(backendName)
    await backend.check()
    await preflight(ctx, scenarios, backend, sysctlOverrides)
    const resultsDir = resultsOption ?? timestampDir()
    const { verdicts } = await runSuite(scenarios, {
      backend,
      resultsDir,
      jobs,
      tolerance: toleranceMs !== undefined ? { floorMs: toleranceMs } : undefined,
      sysctlOverrides,
      agentPriority: agentPriority as 'normal' | 'nice' | 'fifo' | undefined,
      signal: ctx.signal,
      reporter: createReporter(reporterName, ctx.out),
      warn: (msg) => ctx.err.write(`tcplab: ${msg}\n`),
    })
    if (ctx.signal.aborted) return 130
    return runExitCode(verdicts)
  },
}

const list: Command = {
  options: { json: { type: 'boolean' }, tag: { type: 'string', multiple: true, short: 't' } },
  async run(ctx) {
    const { findScenarioFiles, loadScenarios } = await import('../scenario/loader.js')
    const explicit = ctx.positionals.length > 0
    const files = await findScenarioFiles(explicit ? ctx.positionals : [defaultScenarioDir()])
    const tags = parseTags(ctx.values.tag)
    const loaded = (await loadScenarios(files)).filter((l) => tags.length === 0 || tags.some((t) => l.scenario.tags.includes(t)))
    const rows = loaded.map((l) => ({ name: l.scenario.name, file: l.file, tags: l.scenario.tags, title: l.scenario.title }))
    if (ctx.values.json) {
      ctx.out.write(`${JSON.stringify(rows, null, 2)}\n`)
      return 0
    }
    const w = Math.max(4, ...rows.map((r) => r.name.length))
    for (const r of rows) ctx.out.write(`${r.name.padEnd(w)}  ${r.title}${r.tags.length ? `  [${r.tags.join(', ')}]` : ''}\n`)
    return 0
  },
}

const validate: Command = {
  options: {},
  async run(ctx) {
    const { findScenarioFiles, loadScenarios } = await import('../scenario/loader.js')
    const paths = ctx.positionals.length ? ctx.positionals : [defaultScenarioDir()]
    const files = await findScenarioFiles(paths)
    if (files.length === 0) throw noScenarios(paths)
    const loaded = await loadScenarios(files)
    // What run would find on this machine too, where it can look (root: a throwaway namespace).
    let backend
    if (process.getuid?.() === 0) {
      const { createBackend } = await import('../lab/index.js')
      backend = await createBackend('netns')
    }
    await preflight(ctx, loaded, backend)
    for (const l of loaded) ctx.out.write(`ok ${l.file} (${l.scenario.name}: ${l.scenario.steps.length} steps, ${l.scenario.expect.length} expectations)\n`)
    return 0
  },
}

const explain: Command = {
  options: {},
  async run(ctx) {
    const name = ctx.positionals[0]
    if (!name) throw new UsageError('explain expects a scenario name (see `tcplab list`) or file')
    const [{ findScenarioFiles, loadScenarios }, { explainScenario }] = await Promise.all([import('../scenario/loader.js'), import('./explain.js')])
    const files = name.endsWith('.yaml') || name.endsWith('.yml') ? [name] : await findScenarioFiles([defaultScenarioDir()])
    const loaded = await loadScenarios(files)
    const s = loaded.find((l) => l.scenario.name === name || l.file === name)
    if (!s) throw new UsageError(`no scenario named "${name}" (see \`tcplab list\`)`)
    ctx.out.write(explainScenario(s))
    return 0
  },
}

const gc: Command = {
  options: { backend: { type: 'string', short: 'b' } },
  async run(ctx) {
    const which = (ctx.values.backend as string | undefined) ?? 'all'
    if (which !== 'all' && !(BACKEND_NAMES as readonly string[]).includes(which)) throw new UsageError(`--backend expects ${BACKEND_NAMES.join(', ')} or all, got "${excerptOf(which)}"`)
    const names = which === 'all' ? [...BACKEND_NAMES] : [which]
    const { createBackend } = await import('../lab/index.js')
    let total = 0
    for (const n of names) {
      const backend = await createBackend(n)
      try {
        await backend.check()
      } catch (e: unknown) {
        if (which === 'all') {
          ctx.out.write(`${n}: skipped (${(e as Error).message.split('\n')[0] ?? ''})\n`)
          continue
        }
        throw e
      }
      const removed = await backend.gc()
      for (const r of removed) ctx.out.write(`${n}: removed ${r}\n`)
      total += removed.length
    }
    ctx.out.write(total === 0 ? 'nothing to remove\n' : `removed ${total} leftover(s)\n`)
    return 0
  },
}

const doctor: Command = {
  options: {},
  async run(ctx) {
    const { runDoctor } = await import('./doctor.js')
    return runDoctor(ctx.out)
  },
}

export const COMMANDS: Record<string, Command> = { run, list, validate, explain, gc, doctor, report: reportCommand, diff: diffCommand }
