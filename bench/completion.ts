// Shell completion runs `tcplab __complete scenarios` (or `tags`) on every
// Tab, so it must answer at once: target well under 300 ms on a quiet machine.
// main.ts answers __complete before loading the rest of the CLI, and the names
// are read from the scenario files' lines (src/cli/scenario-words.ts) instead
// of parsing each file with the YAML parser. Prints, with the load average
// beside each figure (a loaded machine stretches every one; compare with the
// bare `node -e 0` line printed beside it):
//   - node -e 0: what starting node costs here, the floor;
//   - tcplab __complete scenarios / tags: the whole command, as the shell runs it
//     (and scenarios' p50 above the floor's: what tcplab itself adds);
//   - tcplab --version: the CLI loaded whole (every command's definition), for comparison;
//   - in process: the names of the default directory read from the lines,
//     and with the YAML parser (what completion did before), per call.
// Asserts nothing.
//
// Run:  npx tsx bench/completion.ts [ROUNDS]     (default 15; needs make build)

import { readFileSync } from 'node:fs'
import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { $bench } from './lib/procs.js'
import { parseScenarioWords, readScenarioWords } from '../src/cli/scenario-words.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = path.join(ROOT, 'dist/cli/main.js')
const ROUNDS = Number(process.argv[2] ?? 15)
const TARGET_MS = 300

const loadavg = (): string => `load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`

function line(what: string, values: readonly number[], target?: number): void {
  const s = [...values].sort((a, b) => a - b)
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
  const verdict = target === undefined ? '' : q(50) <= target ? `  (target < ${target} ms: met)` : `  (target < ${target} ms: MISSED, see the load)`
  process.stdout.write(`${what.padEnd(40)} min ${s[0]?.toFixed(0).padStart(5)} p50 ${q(50).toFixed(0).padStart(5)} max ${s.at(-1)?.toFixed(0).padStart(5)} ms  ${loadavg()}${verdict}\n`)
}

async function timeCommand(argv: readonly string[]): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now()
    const r = await $bench({ cwd: ROOT })`${argv}`
    out.push(performance.now() - t)
    if (r.exitCode !== 0) throw new Error(`${argv.join(' ')}: exit ${r.exitCode}: ${r.stderr}`)
  }
  return out
}

async function timeInProcess(fn: () => Promise<unknown>): Promise<number[]> {
  await fn() // warm: modules loaded, files cached
  const out: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now()
    await fn()
    out.push(performance.now() - t)
  }
  return out
}

async function main(): Promise<void> {
  const dir = path.join(ROOT, 'scenarios')
  const names = (await $bench({ cwd: ROOT })`${process.execPath} ${CLI} __complete scenarios`).stdout.trim().split('\n')
  process.stdout.write(`${names.length} scenario names in scenarios/, ${ROUNDS} rounds each\n`)
  const floor = await timeCommand([process.execPath, '-e', '0'])
  line('node -e 0 (the floor)', floor)
  const scenarios = await timeCommand([process.execPath, CLI, '__complete', 'scenarios'])
  line('tcplab __complete scenarios', scenarios, TARGET_MS)
  const p50 = (v: readonly number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? NaN
  process.stdout.write(`${'  above the floor (p50 - p50)'.padEnd(40)} ${(p50(scenarios) - p50(floor)).toFixed(0)} ms  ${loadavg()}\n`)
  line('tcplab __complete tags', await timeCommand([process.execPath, CLI, '__complete', 'tags']), TARGET_MS)
  line('tcplab --version (the whole CLI loaded)', await timeCommand([process.execPath, CLI, '--version']))
  line('in process: names from the lines', await timeInProcess(() => readScenarioWords(dir)))
  const files = (await readdir(dir, { recursive: true })).filter((e) => /\.ya?ml$/.test(e))
  line('in process: with the YAML parser', await timeInProcess(async () => {
    for (const f of files) await parseScenarioWords(await readFile(path.join(dir, f), 'utf8'))
  }))
}

await main()
