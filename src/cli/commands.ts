// The commands of the CLI. Each parses its own options (node:util parseArgs)
// and returns an exit code; errors propagate to main.ts. Each command imports
// what it needs when it runs (node-tap's lazy commands): `tcplab list` loads the
// scenario loader only, not execa, dockerode or the report renderers.

import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Writable } from 'node:stream'
import { UsageError } from '../util/errors.js'
import type { LoadedScenario } from '../scenario/loader.js'
import { REPORTER_NAMES, type ReporterName } from '../report/terminal.js'
import type { ScenarioVerdict } from '../expect/verdict.js'
import { diffCommand, reportCommand } from './report-commands.js'

/** The backends' names, repeated here so that parsing options loads no backend (a unit test keeps it equal to lab/index.ts). */
export const BACKEND_NAMES = ['netns', 'docker', 'vm'] as const

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
  const loaded = await loadScenarios(files)
  const tags = (ctx.values.tag as string[] | undefined) ?? []
  return loaded.filter((l) => {
    const st = l.scenario.tags
    if (tags.length > 0) return tags.some((t) => st.includes(t))
    return explicit || !st.includes('slow')
  })
}

function timestampDir(): string {
  return path.join('results', new Date().toISOString().replace(/:/g, '-').replace(/\..*$/, ''))
}

function parseIntOption(v: unknown, name: string, min: number): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} expects an integer >= ${min}, got "${String(v)}"`)
  return n
}

/** --jobs: "auto" (the default: admit scenarios while the machine keeps time) or a fixed N >= 1. */
export function parseJobs(v: unknown): number | 'auto' {
  if (v === undefined || v === 'auto') return 'auto'
  const n = parseIntOption(v, 'jobs', 1)
  if (n === undefined) throw new UsageError(`--jobs expects "auto" or an integer >= 1, got "${String(v)}"`)
  return n
}

function parseSysctls(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const kv of list ?? []) {
    const m = /^([a-z0-9_.-]+)=(.*)$/.exec(kv)
    if (!m) throw new UsageError(`--sysctl expects KEY=VALUE, got "${kv}"`)
    out[m[1] as string] = m[2] as string
  }
  return out
}

/** Exit code of a finished run: 3 environment > 2 bad input > 1 failure > 0. */
export function runExitCode(verdicts: readonly ScenarioVerdict[]): number {
  const errCodes = verdicts.filter((v) => v.status === 'error').map((v) => v.error?.exitCode ?? 1)
  if (errCodes.includes(130)) return 130
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
    kernel: { type: 'string', short: 'k' },
    'vm-memory': { type: 'string' },
    'vm-cpus': { type: 'string' },
  },
  async run(ctx) {
    const agentPriority = ctx.values['agent-priority'] as string | undefined
    if (agentPriority !== undefined && !['normal', 'nice', 'fifo'].includes(agentPriority)) throw new UsageError(`--agent-priority expects normal, nice or fifo, got "${agentPriority}"`)
    const backendName = (ctx.values.backend as string | undefined) ?? 'netns'
    if (!(BACKEND_NAMES as readonly string[]).includes(backendName)) throw new UsageError(`--backend expects ${BACKEND_NAMES.join(' or ')}, got "${backendName}"`)
    const reporterName = ((ctx.values.reporter as string | undefined) ?? 'pretty') as ReporterName
    if (!REPORTER_NAMES.includes(reporterName)) throw new UsageError(`--reporter expects ${REPORTER_NAMES.join(', ')}, got "${reporterName}"`)
    const jobs = parseJobs(ctx.values.jobs)
    const toleranceMs = parseIntOption(ctx.values.tolerance, 'tolerance', 0)
    const sysctlOverrides = parseSysctls(ctx.values.sysctl as string[] | undefined)
    // Everything is validated before anything is created.
    const scenarios = await selectScenarios(ctx)
    if (scenarios.length === 0) throw new UsageError('no scenarios selected (check the paths and --tag)')
    const [{ createBackend }, { runSuite }, { createReporter }] = await Promise.all([
      import('../lab/index.js'), import('../runner/suite.js'), import('../report/terminal.js'),
    ])
    const resultsDir = (ctx.values.results as string | undefined) ?? timestampDir()
    // --kernel 6.1,6.12,host: the suite once per kernel, in QEMU guests (runner/kernel-matrix.ts).
    const kernels = ctx.values.kernel === undefined ? undefined : (await import('../runner/kernel-matrix.js')).parseKernelList(ctx.values.kernel as string)
    const backend = await createBackend(kernels ? (kernels.some((k) => k !== 'host') ? 'vm' : 'netns') : backendName)
    await backend.check()
    const { verdicts } = kernels ? { verdicts: (await (await import('../runner/kernel-matrix.js')).runKernelMatrix(scenarios, {
      kernels, resultsDir, jobs, memMb: parseIntOption(ctx.values['vm-memory'], 'vm-memory', 128), cpus: parseIntOption(ctx.values['vm-cpus'], 'vm-cpus', 1),
      tolerance: toleranceMs !== undefined ? { floorMs: toleranceMs } : undefined, sysctlOverrides, agentPriority: agentPriority as 'normal' | 'nice' | 'fifo' | undefined,
      signal: ctx.signal, reporter: createReporter(reporterName, ctx.out), warn: (msg) => ctx.err.write(`tcplab: ${msg}\n`), onProgress: (msg) => ctx.err.write(`tcplab: ${msg}\n`),
    })).flatMap((r) => r.verdicts) } : await runSuite(scenarios, {
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
    const tags = (ctx.values.tag as string[] | undefined) ?? []
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
    const files = await findScenarioFiles(ctx.positionals.length ? ctx.positionals : [defaultScenarioDir()])
    const loaded = await loadScenarios(files)
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
