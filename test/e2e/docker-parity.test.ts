// Parity of the two backends: every scenario of the catalogue that is not
// tagged slow runs through the CLI on netns (--jobs 4), then on docker (--jobs 2),
// and each one must pass on both (the same verdict status, scenario by
// scenario). Where they differ, the failing expectations of each side are
// printed (measured value and delta). After each run nothing of it is left:
// no namespace, container or network of its lab ids. Skips, with the reason,
// without root, a Docker daemon or the lab image (`make docker image`).

import t from 'tap'
import Docker from 'dockerode'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { findScenarioFiles, loadScenarios } from '../../src/scenario/loader.js'
import { createDockerBackend, LABEL_RUN_ID } from '../../src/lab/docker/backend.js'
import { labNamespaces, tempDir } from './helpers.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI_SOURCE = path.join(ROOT, 'src/cli/main.ts')

interface Summary {
  scenarios: Array<{ name: string; file: string; status: string; durationMs: number }>
  durationMs: number
}
interface Verdict {
  labId: string
  status: string
  error?: { message: string }
  results: Array<{ status: string; description: string; expected?: unknown; measured?: unknown; line?: number }>
}

/** Why this cannot run here, or undefined. */
async function whyNot(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the netns side needs root (network namespaces)'
  try {
    await createDockerBackend().check()
  } catch (e: unknown) {
    return `the docker side cannot run: ${(e as Error).message.split('\n')[0] ?? ''}`
  }
  return undefined
}

/** `tcplab run` from the sources (what is checked out, not a stale dist/), to completion. */
function runTcplab(args: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI_SOURCE, 'run', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stderr, ms: Date.now() - started })
    })
  })
}

/** Per scenario of a results dir: its verdict. */
function verdictsIn(dir: string): Map<string, Verdict> {
  const out = new Map<string, Verdict>()
  for (const name of readdirSync(dir)) {
    const f = path.join(dir, name, 'verdict.json')
    if (existsSync(f)) out.set(name, JSON.parse(readFileSync(f, 'utf8')) as Verdict)
  }
  return out
}

/** What failed in a verdict, one line per expectation. */
function failures(v: Verdict | undefined): string {
  if (!v) return '    (no verdict)'
  if (v.error) return `    error: ${v.error.message.split('\n')[0] ?? ''}`
  return v.results.filter((r) => r.status === 'fail')
    .map((r) => `    line ${r.line ?? '?'} ${r.description}\n      expected: ${String(r.expected)}\n      measured: ${String(r.measured)}`).join('\n') || '    (none)'
}

const reason = await whyNot()
if (reason !== undefined) {
  t.plan(0, reason)
} else {
  // The whole catalogue twice: netns about 1.5 min, docker about 4 min on a 2-core machine.
  t.setTimeout(40 * 60_000)
  const docker = new Docker()
  // The list is fixed once, so that both backends run the same files.
  const loaded = await loadScenarios(await findScenarioFiles([path.join(ROOT, 'scenarios')]))
  const files = loaded.filter((l) => !l.scenario.tags.includes('slow')).map((l) => l.file).sort()
  const names = loaded.filter((l) => files.includes(l.file)).map((l) => l.scenario.name).sort()
  const runs = new Map<string, { dir: string; summary: Summary; verdicts: Map<string, Verdict> }>()

  for (const [backend, jobs] of [['netns', 4], ['docker', 2]] as const) {
    t.test(`the catalogue on ${backend} (--jobs ${jobs})`, async (tt) => {
      const dir = tempDir(`tcplab-parity-${backend}-`)
      const r = await runTcplab([...files, '--backend', backend, '--jobs', String(jobs), '--results', dir, '--reporter', 'json'], 30 * 60_000)
      tt.ok(r.code === 0 || r.code === 1, `the run completed (exit ${r.code ?? 'signal'}) in ${(r.ms / 1000).toFixed(0)} s${r.code === 0 || r.code === 1 ? '' : `\n${r.stderr}`}`)
      const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')) as Summary
      const verdicts = verdictsIn(dir)
      runs.set(backend, { dir, summary, verdicts })
      tt.same(summary.scenarios.map((s) => s.name).sort(), names, `all ${names.length} non-slow scenarios ran`)
      const ids = [...verdicts.values()].map((v) => v.labId)
      if (backend === 'netns') {
        tt.same(labNamespaces(ids), [], 'no namespace of this run left')
      } else {
        const left = (await Promise.all(ids.map(async (id) => {
          const f = { label: [`${LABEL_RUN_ID}=${id}`] }
          const [cs, ns] = await Promise.all([docker.listContainers({ all: true, filters: f }), docker.listNetworks({ filters: f })])
          return [...cs.map((c) => `container ${c.Names.join(',')}`), ...ns.map((n) => `network ${n.Name}`)]
        }))).flat()
        tt.same(left, [], 'no container or network of this run left')
      }
    })
  }

  t.test('every scenario has the same verdict on both backends, and passes', async (tt) => {
    const netns = runs.get('netns')
    const dock = runs.get('docker')
    if (!netns || !dock) {
      tt.fail('a run is missing (see above)')
      return
    }
    let allPass = true
    for (const name of names) {
      const a = netns.verdicts.get(name)
      const b = dock.verdicts.get(name)
      const ok = a?.status === b?.status && a?.status === 'pass'
      allPass &&= ok
      tt.ok(ok, `${name}: netns ${a?.status ?? 'missing'}, docker ${b?.status ?? 'missing'}` +
        (ok ? '' : `\n  netns:\n${failures(a)}\n  docker:\n${failures(b)}`))
    }
    tt.comment(`netns ${(netns.summary.durationMs / 1000).toFixed(0)} s, docker ${(dock.summary.durationMs / 1000).toFixed(0)} s`)
    // The results (pcaps, records, reports) are kept only when something differs.
    if (allPass) for (const r of runs.values()) rmSync(r.dir, { recursive: true, force: true })
    else tt.comment(`results kept: ${[...runs.values()].map((r) => r.dir).join(' ')}`)
  })
}
