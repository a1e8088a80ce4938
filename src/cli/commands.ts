// The commands of the CLI, each a typed definition (command.ts) that parses
// its options, prints its --help and feeds shell completion. Each returns an
// exit code; errors propagate to main.ts. Each command imports what it needs
// when it runs (node-tap's lazy commands): `tcplab list` loads the scenario
// loader only, not execa, dockerode or the report renderers.

import path from 'node:path'
import { availableParallelism } from 'node:os'
import { UsageError } from '../util/errors.js'
import { ScenarioError } from '../util/errors.js'
import { excerptOf } from '../scenario/limits.js'
import { sysctlKeyProblem, sysctlValueProblem, SYSCTL_KEY_HINT } from '../scenario/sysctl-values.js'
import type { LoadedScenario } from '../scenario/loader.js'
import { REPORTER_NAMES, type ReporterName } from '../report/terminal.js'
import { defineCommand } from './command.js'
import { defaultScenarioDir, noScenarios, selectScenarios } from './select.js'
import { parseShard, selectShard } from '../runner/shard.js'
import { parseDockerHosts } from '../lab/docker-address.js'
import { collectLiveLabs } from './lab-commands.js'

/** The backends' names, repeated here so that parsing options loads no backend (a unit test keeps it equal to lab/index.ts). */
export const BACKEND_NAMES = ['netns', 'docker', 'vm'] as const
export const AGENT_PRIORITIES = ['fifo', 'nice', 'normal'] as const

import type { CommandContext } from './command.js'
import { timestampedResultsDir } from './results-dir.js'
export type { CommandContext, CommandDef as Command } from './command.js'
export { runExitCode } from './run-suite.js'


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

/** The options that choose scenarios (run and list). */
const SELECT_OPTIONS = {
  tag: { type: 'string', multiple: true, short: 't', valueName: 'TAG', complete: 'tag', description: 'only scenarios with this tag; given several times, with any of them' },
  grep: { type: 'string', short: 'g', valueName: 'PATTERN', description: 'only scenarios whose name or title matches this regular expression' },
} as const

/** --results DIR: a path, not empty. */
function parseResultsDir(v: unknown): string | undefined {
  if (v === undefined) return undefined
  const dir = String(v)
  if (dir.trim() === '' || dir.includes('\0')) throw new UsageError(`--results expects a directory path, got "${excerptOf(dir)}"`)
  return dir
}

const SCENARIO_ARGS = [
  {
    name: 'SCENARIO',
    variadic: true,
    complete: 'scenario',
    description: 'scenario files, directories, names or name globs (\'syn-*\'); default: scenarios/, without those tagged "slow"',
  },
] as const

export const run = defineCommand({
  name: 'run',
  summary: 'run scenarios, each in its own lab, and write a results directory',
  description:
    'Each scenario gets a fresh lab (network namespaces or containers), plays its timeline, records ss and tcpdump ' +
    'on one clock and checks its expectations. Progress goes to stderr unless the reporter is pretty (stdout); ' +
    'results (verdict.json, report.html, pcaps) go to the results directory.\n\n' +
    '--jobs auto (the default) starts scenarios while the machine keeps time (a timer canary), at most 16 per core; ' +
    '--jobs N runs N at a time regardless.',
  positionals: SCENARIO_ARGS,
  options: {
    backend: { type: 'string', short: 'b', choices: BACKEND_NAMES, defaultText: 'netns (docker with --docker-host)', valueName: 'NAME', description: 'where the hosts live: network namespaces, Docker containers, or namespaces in a QEMU guest (vm; see --kernel)' },
    jobs: { type: 'string', short: 'j', default: 'auto', valueName: 'auto|N', description: 'scenarios at a time: auto (while timers keep time) or a fixed N' },
    results: { type: 'string', short: 'o', valueName: 'DIR', defaultText: 'results/<timestamp>', complete: 'dir', description: 'the results directory' },
    reporter: { type: 'string', short: 'r', choices: REPORTER_NAMES, default: 'pretty', valueName: 'NAME', description: 'what stdout gets: pretty text, TAP, JSON, JUnit XML or JSON lines streamed as things happen' },
    ...SELECT_OPTIONS,
    list: { type: 'boolean', short: 'l', description: 'print the scenarios that would run (name, file, tags) and exit: no lab, no root' },
    repeat: { type: 'string', default: '1', valueName: 'N', description: 'run the selection N times (into DIR/repeat-1 ... repeat-N) and print each expectation\'s pass rate and the spread of its deltas' },
    tolerance: { type: 'string', valueName: 'MS', description: 'the tolerance floor of timing expectations, in ms (default: each scenario\'s own)' },
    sysctl: { type: 'string', multiple: true, valueName: 'KEY=VALUE', description: 'set a sysctl on every host of every scenario (overrides the scenario\'s)' },
    'agent-priority': { type: 'string', choices: AGENT_PRIORITIES, default: 'fifo', valueName: 'PRIO', description: 'how the hosts\' socket agents are scheduled: SCHED_FIFO 2, nice -5, or as other processes' },
    'stall-retries': { type: 'string', default: '2', valueName: 'N', description: 'run a scenario again, up to N times, when every failure in it is a timing miss that the machine\'s stalls account for (the timer canary saw it stop); the set-aside attempts stay in its folder. 0: never' },
    shard: { type: 'string', valueName: 'I/N', description: 'run part I of N of the selection (sorted by name, cut in N contiguous parts), as a CI matrix job does; merge the parts with tcplab merge' },
    'docker-host': { type: 'string', multiple: true, valueName: 'ADDR[,ADDR...]', description: 'Docker daemons to spread the labs over (unix://, tcp://, ssh://; implies --backend docker); see docs/scale.md' },
    kernel: { type: 'string', short: 'k', valueName: 'K[,K...]', description: 'run the suite once per kernel (fetched with tcplab kernels fetch; host = this machine\'s) into DIR/kernel-K, in QEMU guests' },
    'vm-memory': { type: 'string', valueName: 'MB', defaultText: 'the vm backend\'s default', description: 'guest memory with --kernel' },
    'vm-cpus': { type: 'string', valueName: 'N', defaultText: '1', description: 'guest CPUs with --kernel' },
    'kernels-at-once': { type: 'string', valueName: 'N', defaultText: 'the number of cores', description: 'with --kernel: how many kernels\' suites run side by side (each guest plays one scenario at a time and costs about half a core under TCG); their lines are labelled [K]' },
  },
  examples: [
    { description: 'run the default suite on network namespaces', command: 'sudo tcplab run' },
    { description: 'two scenarios by name, three times each, to see which expectations flake', command: "sudo tcplab run 'syn-*' seed-accept-queue --repeat 3" },
    { description: 'in CI: JUnit on stdout, progress on stderr', command: 'sudo tcplab run --reporter junit -o results > junit.xml' },
    { description: 'what would run, without running it', command: 'tcplab run --tag seed --grep close --list' },
  ],
  async run(ctx) {
    const v = ctx.values
    const reporterName = v.reporter as ReporterName
    const jobs = parseJobs(v.jobs)
    const toleranceMs = parseIntOption(v.tolerance, 'tolerance', 0, 3_600_000, ' of milliseconds')
    const resultsOption = parseResultsDir(v.results)
    const repeat = parseIntOption(v.repeat, 'repeat', 1) ?? 1
    const sysctlOverrides = parseSysctls(v.sysctl)
    // Everything is validated before anything is created.
    // --docker-host a,b implies --backend docker (one backend per daemon, scenarios spread over them).
    const dockerHosts = parseDockerHosts(v['docker-host'])
    if (dockerHosts.length > 0 && v.backend !== undefined && v.backend !== 'docker') throw new UsageError(`--docker-host applies to the docker backend, not ${v.backend}`)
    const backendName = v.backend ?? (dockerHosts.length > 0 ? 'docker' : 'netns')
    const shard = v.shard === undefined ? undefined : parseShard(v.shard)
    const selected = await selectScenarios({ positionals: ctx.positionals, tags: v.tag, grep: v.grep })
    const sharded = shard ? selectShard(selected, shard, (l) => l.scenario.name) : undefined
    const scenarios = sharded ? sharded.items : selected
    if (v.list) {
      const { formatScenarioList } = await import('./list-scenarios.js')
      ctx.out.write(formatScenarioList(scenarios, { json: reporterName === 'json' || reporterName === 'jsonl' }))
      return 0
    }
    if (selected.length === 0) throw new UsageError('no scenarios selected (check the paths, --tag and --grep)', { hint: 'tcplab run --list' })
    if (sharded && scenarios.length === 0) ctx.err.write(`tcplab: shard ${shard?.index}/${shard?.total} has no scenarios (${selected.length} selected in all); writing an empty run\n`)
    const { runFromCli } = await import('./run-suite.js')
    return runFromCli(ctx, scenarios, {
      backendName,
      dockerHosts,
      shard: sharded?.info,
      reporterName,
      jobs,
      repeat,
      resultsDir: resultsOption ?? timestampedResultsDir(),
      beforeRun: (backend) => preflight(ctx, [...scenarios], backend, sysctlOverrides),
      kernels: v.kernel === undefined ? undefined : (await import('../runner/kernel-matrix.js')).parseKernelList(v.kernel),
      vmMemoryMb: parseIntOption(v['vm-memory'], 'vm-memory', 128, 65536, ' of MiB'),
      vmCpus: parseIntOption(v['vm-cpus'], 'vm-cpus', 1, 64),
      kernelsAtOnce: parseIntOption(v['kernels-at-once'], 'kernels-at-once', 1, 64) ?? availableParallelism(),
      tolerance: toleranceMs !== undefined ? { floorMs: toleranceMs } : undefined,
      sysctlOverrides,
      agentPriority: v['agent-priority'] as (typeof AGENT_PRIORITIES)[number],
      stallRetries: parseIntOption(v['stall-retries'], 'stall-retries', 0, 10),
    })
  },
})

export const list = defineCommand({
  name: 'list',
  summary: 'list scenarios: name, title and tags (all of them, slow ones too)',
  positionals: SCENARIO_ARGS,
  options: {
    json: { type: 'boolean', description: 'a JSON array of {name, file, tags, title}' },
    ...SELECT_OPTIONS,
    shard: { type: 'string', valueName: 'I/N', description: 'exactly what `run --shard I/N` runs (run\'s selection: without paths it leaves out "slow"), in shard order' },
  },
  examples: [
    { description: 'every scenario with its title and tags', command: 'tcplab list' },
    { description: 'the names of the seed scenarios, as JSON', command: 'tcplab list --tag seed --json' },
  ],
  async run(ctx) {
    const shard = ctx.values.shard === undefined ? undefined : parseShard(ctx.values.shard)
    const loaded = shard
      ? selectShard(await selectScenarios({ positionals: ctx.positionals, tags: ctx.values.tag, grep: ctx.values.grep }), shard, (l) => l.scenario.name).items
      : await selectScenarios({ positionals: ctx.positionals, tags: ctx.values.tag, grep: ctx.values.grep, includeSlow: true })
    const { formatScenarioList } = await import('./list-scenarios.js')
    ctx.out.write(formatScenarioList(loaded, { json: ctx.values.json === true }))
    return 0
  },
})

export const validate = defineCommand({
  name: 'validate',
  summary: 'check scenario files without running them (errors name file:line:col, exit 2)',
  positionals: [{ name: 'PATH', variadic: true, complete: 'scenario', description: 'scenario files or directories (default: scenarios/)' }],
  options: {},
  examples: [
    { description: 'check every shipped scenario', command: 'tcplab validate' },
    { description: 'check one file', command: 'tcplab validate my-scenario.yaml' },
  ],
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
})

export const explain = defineCommand({
  name: 'explain',
  summary: 'tell a scenario\'s story: its timeline, what to watch and what the ss fields mean',
  positionals: [{ name: 'NAME', required: true, complete: 'scenario', description: 'a scenario name (see `tcplab list`) or file' }],
  options: {},
  examples: [{ description: 'what the accept-queue scenario shows', command: 'tcplab explain seed-accept-queue' }],
  async run(ctx) {
    const name = ctx.positionals[0] as string
    const [{ findScenarioFiles, loadScenarios }, { explainScenario }] = await Promise.all([import('../scenario/loader.js'), import('./explain.js')])
    const files = name.endsWith('.yaml') || name.endsWith('.yml') ? [name] : await findScenarioFiles([defaultScenarioDir()])
    const loaded = await loadScenarios(files)
    const s = loaded.find((l) => l.scenario.name === name || l.file === name)
    if (!s) throw new UsageError(`no scenario named "${name}" (see \`tcplab list\`)`)
    ctx.out.write(explainScenario(s))
    return 0
  },
})

export const gc = defineCommand({
  name: 'gc',
  summary: 'remove what crashed runs left behind (namespaces, links, containers) whose owner is dead',
  options: {
    backend: { type: 'string', short: 'b', choices: [...BACKEND_NAMES, 'all'], default: 'all', valueName: 'NAME', description: 'which backend to clean (vm: guests whose runner is gone)' },
    all: { type: 'boolean', description: 'also take live labs (tcplab up) down; without it they are left up and listed' },
    'docker-host': { type: 'string', multiple: true, valueName: 'ADDR[,ADDR...]', description: 'collect on these Docker daemons (and netns too, unless --backend docker)' },
  },
  examples: [
    { description: 'clean both backends', command: 'sudo tcplab gc' },
    { description: 'only Docker', command: 'sudo tcplab gc --backend docker' },
    { description: 'everything, live labs too', command: 'sudo tcplab gc --all' },
  ],
  async run(ctx) {
    // --docker-host a,b: collect on each of those daemons (and netns too, unless --backend docker).
    const dockerHosts = parseDockerHosts(ctx.values['docker-host'])
    const which = ctx.values.backend
    if (dockerHosts.length > 0 && which === 'netns') throw new UsageError('--docker-host applies to the docker backend, not netns')
    // Live labs (tcplab up) are left up unless --all; a dead owner's are collected.
    let total = 0
    for (const line of await collectLiveLabs(ctx.values.all === true)) {
      ctx.out.write(`${line}\n`)
      if (!line.startsWith('left up:')) total++
    }
    const names = which === 'all' ? [...BACKEND_NAMES] : [which]
    const { createBackend } = await import('../lab/index.js')
    const targets = names.flatMap((n): Array<{ n: string; h: string | undefined; label: string }> =>
      n === 'docker' && dockerHosts.length > 0 ? dockerHosts.map((h) => ({ n, h, label: `docker ${h}` })) : [{ n, h: undefined, label: n }])
    for (const { n, h, label } of targets) {
      const backend = await createBackend(n, { dockerHost: h })
      // A daemon named with --docker-host is collected as long as it answers (it needs no lab image for that).
      if (h === undefined) {
        try {
          await backend.check()
        } catch (e: unknown) {
          if (which === 'all') {
            ctx.out.write(`${label}: skipped (${(e as Error).message.split('\n')[0] ?? ''})\n`)
            continue
          }
          throw e
        }
      }
      const removed = await backend.gc()
      for (const r of removed) ctx.out.write(`${label}: removed ${r}\n`)
      total += removed.length
    }
    ctx.out.write(total === 0 ? 'nothing to remove\n' : `removed ${total} leftover(s)\n`)
    return 0
  },
})

export const doctor = defineCommand({
  name: 'doctor',
  summary: 'check what the machine has (privileges, tools, kernel features, Docker) and what is missing',
  options: {},
  examples: [{ description: 'check the machine', command: 'sudo tcplab doctor' }],
  async run(ctx) {
    const { runDoctor } = await import('./doctor.js')
    return runDoctor(ctx.out)
  },
})
