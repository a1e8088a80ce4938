// Shared helpers for end-to-end tests: run the built CLI, and check that
// nothing of tcplab is left on the machine.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import type { ScenarioVerdict } from '../../src/expect/verdict.js'
import { tmpdir } from 'node:os'
import path from 'node:path'

export const CLI = path.resolve('dist/cli/main.js')

/** Why e2e tests cannot run here, or undefined. */
export function e2eSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'end-to-end tests need root (network namespaces)'
  if (!existsSync(CLI)) return 'dist/cli/main.js is missing: run `make build` first'
  return undefined
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Run the CLI to completion. */
export function runCli(args: string[], opts: { onSpawn?: (c: ChildProcess) => void; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
    opts.onSpawn?.(child)
  })
}

/** A new directory under the system's temp dir; removed when the test process exits, unless a test failed (kept to look at). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  process.once('exit', (code) => {
    if (code === 0 && !process.exitCode) rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

/** A scenario's verdict.json in a results directory (`sub`: below the scenario's own, e.g. 'attempts', '1'). */
export function readVerdict<V = ScenarioVerdict>(resultsDir: string, name: string, ...sub: string[]): V {
  return JSON.parse(readFileSync(path.join(resultsDir, name, ...sub, 'verdict.json'), 'utf8')) as V
}

/** Network namespaces whose names start with tcplab- (optionally of given lab ids). */
export function labNamespaces(labIds?: string[]): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith('tcplab-') && (labIds === undefined || labIds.some((id) => n.startsWith(`tcplab-${id}-`))))
}

/** Processes started in tcplab namespaces (optionally of given lab ids): nc, tcpdump, ss, the agent. */
export function labProcesses(labIds?: string[]): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
  const re = labIds === undefined ? /ip netns exec tcplab-/ : new RegExp(`ip netns exec tcplab-(${labIds.join('|')})-`)
  const inNs = out.split('\n').filter((l) => re.test(l))
  // Processes exec'd by `ip netns exec` lose that prefix: also ask the kernel which pids live in the namespaces.
  const pids = labNamespaces(labIds).flatMap((ns) => execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean))
  return [...inNs, ...pids.map((p) => `pid ${p}`)]
}

/** The host's own iptables rules (to check the lab never touches them). */
export function hostIptables(): string {
  return execFileSync('iptables-save', { encoding: 'utf8' }).split('\n').filter((l) => !l.startsWith('#')).join('\n')
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

const ppidOf = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return 0
  }
}

/** Processes whose command line names `program`, started (within 5 generations) under `root`: a run's agents or stall probes. */
export function descendantsRunning(root: number, program: string): number[] {
  const found: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    let cmd = ''
    try {
      cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8')
    } catch {
      continue // gone meanwhile
    }
    if (!cmd.includes(program)) continue
    for (let p = ppidOf(Number(d)), hops = 0; p > 1 && hops < 5; p = ppidOf(p), hops++) {
      if (p === root) {
        found.push(Number(d))
        break
      }
    }
  }
  return found
}

/**
 * The wall-clock moment (ms since the epoch) of the first scenario's t0, read from the jsonl
 * reporter's lines of a run started with `--reporter jsonl`: run-start's time, plus the first
 * step's runT less its t. To place something on the scenario's clock from outside the run,
 * however late the line arrives.
 */
export function scenarioT0Ms(c: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    let runStartMs: number | undefined
    let buf = ''
    c.stdout?.on('data', (chunk: Buffer | string) => {
      buf += chunk.toString()
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        let o: { event?: unknown; time?: unknown; runT?: unknown; t?: unknown }
        try {
          o = JSON.parse(line) as typeof o
        } catch {
          continue
        }
        if (o.event === 'run-start' && typeof o.time === 'string') runStartMs = Date.parse(o.time)
        if (o.event === 'step' && runStartMs !== undefined && typeof o.runT === 'number' && typeof o.t === 'number') resolve(runStartMs + (o.runT - o.t) * 1000)
      }
    })
  })
}
