// `tcplab run` once the scenarios are chosen: the backend, the reporters
// (the chosen one on stdout, progress on stderr when that one is not the
// pretty one), one run or --repeat N, and the exit code.

import { UsageError } from '../util/errors.js'
import type { LoadedScenario } from '../scenario/loader.js'
import type { ReporterName } from '../report/terminal.js'
import type { ToleranceRule } from '../expect/index.js'
import type { CommandContext } from './command.js'
import type { ScenarioVerdict } from '../expect/verdict.js'

export interface CliRunOptions {
  backendName: string
  /** --docker-host: one docker backend per daemon, scenarios spread over them. */
  dockerHosts?: readonly string[] | undefined
  /** --shard I/N: recorded in summary.json (the scenarios given are the shard's already). */
  shard?: import('../expect/verdict.js').RunShard | undefined
  /** --kernel 6.1,6.12,host: the suite once per kernel (QEMU guests), then matrix.html. */
  kernels?: readonly string[] | undefined
  vmMemoryMb?: number | undefined
  vmCpus?: number | undefined
  /** --kernels-at-once: kernels whose suites run side by side. */
  kernelsAtOnce?: number | undefined
  reporterName: ReporterName
  jobs: number | 'auto'
  repeat: number
  resultsDir: string
  tolerance?: Partial<ToleranceRule> | undefined
  sysctlOverrides: Record<string, string>
  agentPriority: 'fifo' | 'nice' | 'normal'
  /** --stall-retries: runs again of a scenario whose every failure the machine's stalls account for. */
  stallRetries?: number | undefined
  /** The last checks before anything is created (validate's preflight), given the checked backend. */
  beforeRun?: ((backend: import('../lab/index.js').Backend) => Promise<void>) | undefined
}

/** Reporters that describe one run in one document: --repeat would give several. */
const ONE_RUN_REPORTERS: readonly ReporterName[] = ['tap', 'json', 'junit']

export async function runFromCli(ctx: CommandContext, scenarios: readonly LoadedScenario[], o: CliRunOptions): Promise<number> {
  if (o.repeat > 1 && ONE_RUN_REPORTERS.includes(o.reporterName)) {
    throw new UsageError(`--repeat ${o.repeat} with --reporter ${o.reporterName}: ${o.reporterName} describes one run`, {
      hint: 'use --reporter pretty or jsonl with --repeat (each repeat also writes its own summary.json and verdicts under DIR/repeat-N)',
    })
  }
  const [{ createBackends }, { runSuite }, { runRepeated }, { createReporter, createProgressReporter, combineReporters, isColorEnabled }] = await Promise.all([
    import('../lab/index.js'), import('../runner/suite.js'), import('../runner/repeat.js'), import('../report/terminal.js'),
  ])
  if (o.kernels) return runKernelsFromCli(ctx, scenarios, o, o.kernels)
  const backends = await createBackends(o.backendName, o.dockerHosts)
  await Promise.all(backends.map((b) => b.check()))
  for (const b of backends) await o.beforeRun?.(b)
  const primary = createReporter(o.reporterName, ctx.out, { color: isColorEnabled(ctx.out) })
  const reporter = o.reporterName === 'pretty' ? primary : combineReporters(primary, createProgressReporter(ctx.err, { color: isColorEnabled(ctx.err) }))
  const suiteOpts = {
    backend: backends,
    shard: o.shard,
    resultsDir: o.resultsDir,
    jobs: o.jobs,
    tolerance: o.tolerance,
    sysctlOverrides: o.sysctlOverrides,
    agentPriority: o.agentPriority,
    stallRetries: o.stallRetries,
    signal: ctx.signal,
    reporter,
    warn: (msg: string) => ctx.err.write(`tcplab: ${msg}\n`),
  }
  const verdicts = o.repeat > 1 ? (await runRepeated(scenarios, suiteOpts, o.repeat)).verdicts : (await runSuite(scenarios, suiteOpts)).verdicts
  if (ctx.signal.aborted) return 130
  return runExitCode(verdicts)
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


/** --kernel: one results directory per kernel (DIR/kernel-K), then DIR/matrix.html across them. */
async function runKernelsFromCli(ctx: CommandContext, scenarios: readonly LoadedScenario[], o: CliRunOptions, kernels: readonly string[]): Promise<number> {
  const [{ runKernelMatrix }, { createReporter, isColorEnabled }, { writeMatrixPage }, { labelledLines, heldUntilReleased }] = await Promise.all([
    import('../runner/kernel-matrix.js'), import('../report/terminal.js'), import('../diff/index.js'), import('../report/labelled-out.js'),
  ])
  // Kernels side by side: line reporters label each line with its kernel, one-document reporters
  // (json, junit) are written whole when their kernel ends.
  const atOnce = Math.min(o.kernelsAtOnce ?? 1, kernels.length)
  const held = new Map<string, () => void>()
  const reporterFor = atOnce > 1
    ? (label: string) => {
        if (o.reporterName === 'json' || o.reporterName === 'junit') {
          const h = heldUntilReleased(ctx.out)
          held.set(label, h.release)
          return createReporter(o.reporterName, h.held)
        }
        return createReporter(o.reporterName, labelledLines(ctx.out, label), { color: isColorEnabled(ctx.out) })
      }
    : undefined
  const runs = await runKernelMatrix(scenarios, {
    kernels,
    resultsDir: o.resultsDir,
    jobs: o.jobs,
    memMb: o.vmMemoryMb,
    cpus: o.vmCpus,
    tolerance: o.tolerance,
    sysctlOverrides: o.sysctlOverrides,
    agentPriority: o.agentPriority,
    stallRetries: o.stallRetries,
    signal: ctx.signal,
    reporter: createReporter(o.reporterName, ctx.out, { color: isColorEnabled(ctx.out) }),
    atOnce,
    reporterFor,
    onKernelDone: (label: string) => held.get(label)?.(),
    warn: (msg: string) => ctx.err.write(`tcplab: ${msg}\n`),
    onProgress: (msg: string) => ctx.err.write(`tcplab: ${msg}\n`),
  })
  if (runs.length > 1) {
    const file = (await import('node:path')).join(o.resultsDir, 'matrix.html')
    await writeMatrixPage(runs.map((r) => r.dir), file)
    ctx.err.write(`tcplab: wrote ${file}\n`)
  }
  if (ctx.signal.aborted) return 130
  return runExitCode(runs.flatMap((r) => r.verdicts))
}
