// Interrupted runs leave nothing and keep their results (issue 11):
//   - N random SIGKILLs of `tcplab run`, each followed by `tcplab gc`: no tcplab
//     namespace, process, lab state file or container is left;
//   - N SIGINTs (one Ctrl-C) at random times: exit 130, verdict.json and
//     summary.json readable and marked `interrupted`, `tcplab report DIR` exits 0.
// Prints each figure with the load average beside it; exits 1 if any iteration
// left something or lost its report.
//
// Run:  npx tsx bench/interrupts.ts [N]     (default 50; needs root and `make build`)
// The e2e test test/e2e/interrupts.test.ts runs the same with N = 3.

import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

const CLI = path.resolve('dist/cli/main.js')
const SCENARIO = 'test/fixtures/scenarios/e2e/long-running.yaml'
const loadavg = (): string => `load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`

interface Outcome { ok: boolean; detail: string }

/** What a dead run `pid` left besides its namespaces: its lab state files, its parent-namespace holder. */
function leftovers(pid: number): string[] {
  const out: string[] = []
  const labsDir = '/run/tcplab/labs'
  for (const f of existsSync(labsDir) ? readdirSync(labsDir) : []) {
    try {
      const rec = JSON.parse(readFileSync(path.join(labsDir, f), 'utf8')) as { pid: number; labId: string }
      if (rec.pid === pid) out.push(`state file ${f}`)
    } catch { /* being written by another run */ }
  }
  // The netns parent holder (`unshare ... tcplab-netns-parent`) of the dead run, if it outlived it.
  for (const p of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8')
      if (cmd.includes('tcplab-netns-parent') && readFileSync(`/proc/${p}/stat`, 'utf8').split(' ')[3] === String(pid)) out.push(`process ${p}`)
    } catch { /* gone */ }
  }
  return out
}

/** Start a run; after a random delay send `sig`; wait for it to end. */
function runAndSignal(sig: NodeJS.Signals, delayMs: number, resultsDir: string): Promise<{ pid: number; code: number | null; labs: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'run', SCENARIO, '--results', resultsDir, '--reporter', 'tap'], { stdio: 'ignore' })
    let labs: string[] = []
    const timer = setTimeout(() => {
      // The labs this run owns, seen just before the signal (to check afterwards that they are gone).
      try {
        labs = readdirSync('/run/tcplab/labs').filter((f) => {
          try { return (JSON.parse(readFileSync(path.join('/run/tcplab/labs', f), 'utf8')) as { pid: number }).pid === child.pid } catch { return false }
        }).map((f) => f.replace(/\.json$/, ''))
      } catch { /* none yet */ }
      child.kill(sig)
    }, delayMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ pid: child.pid ?? 0, code, labs })
    })
  })
}

function namespacesOf(labIds: readonly string[]): string[] {
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '')
  return ns.filter((n) => labIds.some((id) => n.startsWith(`tcplab-${id}-`)))
}

/** One SIGKILL + gc: nothing of that run is left. */
async function killThenGc(i: number): Promise<Outcome> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tcplab-bench-kill-'))
  const delay = 500 + Math.floor(Math.random() * 6000)
  const r = await runAndSignal('SIGKILL', delay, dir)
  execFileSync(process.execPath, [CLI, 'gc', '--backend', 'netns'], { stdio: 'ignore' })
  const left = [...leftovers(r.pid), ...namespacesOf(r.labs)]
  rmSync(dir, { recursive: true, force: true })
  return { ok: left.length === 0, detail: `kill #${i + 1} after ${delay} ms: ${left.length === 0 ? 'nothing left' : left.join(', ')}` }
}

/** One SIGINT: exit 130, an `interrupted` verdict and summary, and `tcplab report` renders it. */
async function interruptThenReport(i: number): Promise<Outcome> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tcplab-bench-int-'))
  const delay = 1500 + Math.floor(Math.random() * 6000)
  const r = await runAndSignal('SIGINT', delay, dir)
  const problems: string[] = []
  if (r.code !== 130) problems.push(`exit ${String(r.code)}`)
  const summaryFile = path.join(dir, 'summary.json')
  try {
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as { interrupted?: unknown }
    if (!summary.interrupted) problems.push('summary.json not marked interrupted')
  } catch (e: unknown) {
    problems.push(`summary.json unreadable: ${(e as Error).message}`)
  }
  for (const d of readdirSync(dir, { withFileTypes: true }).filter((x) => x.isDirectory())) {
    try {
      const v = JSON.parse(readFileSync(path.join(dir, d.name, 'verdict.json'), 'utf8')) as { status: string }
      if (v.status !== 'interrupted') problems.push(`verdict ${v.status}`)
    } catch (e: unknown) {
      problems.push(`verdict.json unreadable: ${(e as Error).message}`)
    }
  }
  try {
    execFileSync(process.execPath, [CLI, 'report', dir], { stdio: 'ignore' })
  } catch {
    problems.push('tcplab report failed')
  }
  problems.push(...namespacesOf(r.labs), ...leftovers(r.pid))
  rmSync(dir, { recursive: true, force: true })
  return { ok: problems.length === 0, detail: `SIGINT #${i + 1} after ${delay} ms: ${problems.length === 0 ? 'partial report readable' : problems.join(', ')}` }
}

/** Run both halves `n` times each; print a line per iteration and the totals. Returns the failures. */
export async function benchInterrupts(n: number, print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<string[]> {
  const failures: string[] = []
  for (const [name, fn] of [['SIGKILL + gc', killThenGc], ['SIGINT + report', interruptThenReport]] as const) {
    let clean = 0
    const started = Date.now()
    for (let i = 0; i < n; i++) {
      const o = await fn(i)
      print(`${o.ok ? 'ok  ' : 'FAIL'} ${o.detail} (${loadavg()})`)
      if (o.ok) clean++
      else failures.push(o.detail)
    }
    print(`${name}: ${clean} of ${n} clean in ${((Date.now() - started) / 1000).toFixed(1)} s (${loadavg()})`)
  }
  return failures
}

if (import.meta.url === `file://${process.argv[1] ?? ''}` || process.argv[1]?.endsWith('bench/interrupts.ts')) {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench/interrupts.ts needs root (network namespaces)\n')
    process.exit(3)
  }
  const failures = await benchInterrupts(Number(process.argv[2] ?? 50))
  process.exit(failures.length === 0 ? 0 : 1)
}
