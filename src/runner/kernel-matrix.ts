// `tcplab run --kernel 6.1,6.12,host`: the same suite on each kernel, one
// results directory per kernel under the run's directory:
//   <results>/kernel-<label>/{summary.json, env.json, <scenario>/...}
// "host" is the machine's own kernel on the netns backend; any other label is a
// kernel from the cache (`tcplab kernels fetch`), booted once in a QEMU guest
// that every scenario of that kernel reuses (lab/vm). Each kernel directory is a
// complete results directory (`tcplab report`, `tcplab diff`, `tcplab matrix`
// read it) and its env.json says which kernel it was and the guest's clock
// offset. Kernels run `atOnce` at a time (default 1; the CLI's default is the
// number of cores). In a guest, --jobs auto plays GUEST_AUTO_JOBS (one)
// scenario at a time (runner/suite.ts), with the stall probes inside the guest
// (Backend.probeMachine).

import { writeFile, mkdir } from 'node:fs/promises'
import { loadavg, release as hostRelease } from 'node:os'
import path from 'node:path'
import { bootGuest, createBackend, createVmBackend, type Backend, type Guest } from '../lab/index.js'
import { resolveKernel, type CachedKernel } from '../kernels/index.js'
import type { LoadedScenario } from '../scenario/loader.js'
import type { RunSummary, ScenarioVerdict } from '../expect/index.js'
import { UsageError } from '../util/errors.js'
import { runPool } from '../util/pool.js'
import { runSuite, type RunSuiteOptions } from './suite.js'
import type { SuiteReporter } from '../report/reporter.js'

export const HOST_KERNEL = 'host'

export interface KernelMatrixOptions extends Omit<RunSuiteOptions, 'backend' | 'resultsDir'> {
  /** Labels as given: "6.1", "6.12", "6.1.0-50-cloud-amd64", "host". */
  kernels: readonly string[]
  /** The run's directory; each kernel writes kernel-<label>/ in it. */
  resultsDir: string
  /** Guest memory and CPUs (default 1024 MiB, 1 CPU: see lab/vm/guest.ts). */
  memMb?: number | undefined
  cpus?: number | undefined
  /** Progress lines ("booting 6.1 ..."). */
  onProgress?: ((msg: string) => void) | undefined
  /** How many kernels run at the same time (default 1). */
  atOnce?: number | undefined
  /** One reporter per kernel (its lines labelled with it), instead of `reporter` for all; done(label) when that kernel ends. */
  reporterFor?: ((label: string) => SuiteReporter) | undefined
  onKernelDone?: ((label: string) => void) | undefined
}

export interface KernelRun {
  label: string
  dir: string
  release: string
  summary: RunSummary
  verdicts: ScenarioVerdict[]
}

/** What kernel-<label>/env.json holds. */
export interface KernelEnv {
  label: string
  backend: string
  kernelRelease: string
  kernelPackage?: string | undefined
  kernelDebVersion?: string | undefined
  kernelSuite?: string | undefined
  kernelSha256?: string | undefined
  accel?: string | undefined
  cpus?: number | undefined
  memMb?: number | undefined
  bootMs?: number | undefined
  warmMs?: number | undefined
  /** Guest CLOCK_REALTIME minus the host's after boot, µs, and the round trip it rests on. */
  clockOffsetUs?: number | undefined
  clockRttUs?: number | undefined
  loadavg: number
  startedAt: string
}

/** Split and check `--kernel` (a comma-separated list; no duplicates). */
export function parseKernelList(v: string): string[] {
  const labels = v.split(',').map((s) => s.trim()).filter(Boolean)
  if (labels.length === 0) throw new UsageError(`--kernel expects a list like 6.1,6.12,host, got "${v}"`)
  for (const l of labels) {
    if (!/^[0-9a-z][0-9a-z.+~_-]*$/i.test(l)) throw new UsageError(`--kernel: "${l}" is not a kernel version (like 6.1, 6.12 or host)`)
  }
  const dup = labels.find((l, i) => labels.indexOf(l) !== i)
  if (dup) throw new UsageError(`--kernel names ${dup} twice`)
  return labels
}

/** The directory of one kernel's results. */
export function kernelDirName(label: string): string {
  return `kernel-${label}`
}

/** Run the suite on every kernel; resolves every kernel in the cache before booting anything. */
export async function runKernelMatrix(scenarios: readonly LoadedScenario[], opts: KernelMatrixOptions): Promise<KernelRun[]> {
  // Bad input before anything is created: every kernel must be in the cache.
  const resolved = new Map<string, CachedKernel | undefined>(opts.kernels.map((l) => {
    const k = resolveKernel(l)
    return [l, k.kind === 'cached' ? k : undefined]
  }))
  await mkdir(opts.resultsDir, { recursive: true })
  const atOnce = Math.max(1, Math.min(opts.atOnce ?? 1, resolved.size))
  const labelled = atOnce > 1 && resolved.size > 1
  const runOne = async (label: string, kernel: CachedKernel | undefined): Promise<KernelRun> => {
    const dir = path.join(opts.resultsDir, kernelDirName(label))
    await mkdir(dir, { recursive: true })
    const startedAt = new Date().toISOString()
    const say = (msg: string): string => (labelled ? `[${label}] ${msg}` : msg)
    let guest: Guest | undefined
    try {
      let backend: Backend
      let env: KernelEnv
      if (kernel === undefined) {
        backend = await createBackend('netns')
        await backend.check()
        env = { label, backend: 'netns', kernelRelease: hostRelease(), loadavg: round2(loadavg()[0] ?? 0), startedAt }
      } else {
        opts.onProgress?.(say(`booting ${kernel.release} ...`))
        guest = await bootGuest({ kernel, memMb: opts.memMb, cpus: opts.cpus, signal: opts.signal })
        opts.onProgress?.(say(`${guest.release} up in ${(guest.bootMs / 1000).toFixed(1)} s (${guest.accel}; tools warmed up in ${(guest.warmMs / 1000).toFixed(1)} s), clock offset ${guest.clock.offsetUs} µs`))
        backend = createVmBackend(guest)
        env = {
          label, backend: 'vm', kernelRelease: guest.release,
          kernelPackage: kernel.package, kernelDebVersion: kernel.debVersion, kernelSuite: kernel.suite, kernelSha256: kernel.sha256,
          accel: guest.accel, cpus: guest.cpus, memMb: guest.memMb, bootMs: guest.bootMs, warmMs: guest.warmMs,
          clockOffsetUs: guest.clock.offsetUs, clockRttUs: guest.clock.rttUs,
          loadavg: round2(loadavg()[0] ?? 0), startedAt,
        }
      }
      await writeFile(path.join(dir, 'env.json'), `${JSON.stringify(env, null, 2)}\n`)
      const reporter = opts.reporterFor?.(label) ?? opts.reporter
      const warn = opts.warn && labelled ? (msg: string) => opts.warn?.(say(msg)) : opts.warn
      const { summary, verdicts } = await runSuite(scenarios, { ...opts, backend, resultsDir: dir, reporter, warn })
      return { label, dir, release: env.kernelRelease, summary, verdicts }
    } finally {
      await guest?.shutdown()
      opts.onKernelDone?.(label)
    }
  }
  // atOnce kernels at a time, in the order given; every guest is shut down before a failure is thrown.
  return runPool([...resolved], atOnce, ([label, kernel]) => runOne(label, kernel), opts.signal)
}

function round2(x: number): number {
  return Math.round(x * 100) / 100
}
