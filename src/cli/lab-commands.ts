// Live labs, for teaching (containerlab's deploy/exec/destroy, Mininet's CLI):
//   tcplab up FILE [--until STEP|TIME|end] [--backend netns|docker] [--name NAME]
//   tcplab exec LAB HOST -- CMD [ARG...]
//   tcplab step LAB
//   tcplab down LAB | --all
//   tcplab ls [--json]
// `up` starts a detached owner process (lab-owner.ts) that holds the lab; the
// other commands talk to it through its socket (runner/live-registry.ts).

import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { LabError, UsageError } from '../util/errors.js'
import { parseDurationMs } from '../util/duration.js'
import { defineCommand, type CommandContext } from './command.js'
import type { OwnerArgs } from './lab-owner.js'

/** The owner's entry point, next to this file once built. */
const OWNER_JS = fileURLToPath(new URL('./lab-owner.js', import.meta.url))
/** How long `up` waits for the lab to be built and its prefix played. */
const UP_TIMEOUT_MS = 180_000
/** How long `down` waits for the owner to tear the lab down. */
const DOWN_TIMEOUT_MS = 60_000

const backendOf = (v: unknown): string => {
  const b = (v as string | undefined) ?? 'netns'
  if (b !== 'netns' && b !== 'docker') throw new UsageError(`--backend expects netns or docker, got "${b}"`)
  return b
}

/** --until: a step index (the first step NOT played), "end", or a duration ("1.5s"). */
export function parseUntil(v: string | undefined, steps: number): { untilStep?: number; untilMs?: number } {
  if (v === undefined) return {}
  if (v === 'end') return { untilStep: steps }
  if (/^\d+$/.test(v)) {
    const n = Number(v)
    if (n > steps) throw new UsageError(`--until ${v}: the scenario has ${steps} steps (0 to ${steps - 1}); --until ${steps} or "end" plays them all`)
    return { untilStep: n }
  }
  const ms = parseDurationMs(v)
  if (ms === undefined) throw new UsageError(`--until expects a step number (the first step not to play), "end", or a time like "1.5s", got "${v}"`)
  return { untilMs: ms }
}

const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function labNameArg(ctx: CommandContext, what: string): Promise<string> {
  const name = ctx.positionals[0]
  if (!name) throw new UsageError(`${what} expects a lab name (see \`tcplab ls\`)`)
  const { readLiveRecord } = await import('../runner/live-registry.js')
  const rec = await readLiveRecord(name)
  if (!rec) throw new UsageError(`no live lab named "${name}" (see \`tcplab ls\`)`)
  if (!rec.alive) throw new LabError(`the owner of lab ${name} (pid ${rec.pid}) is gone`, { hint: '`tcplab gc` removes what it left' })
  return name
}

export const up = defineCommand({
  name: 'up',
  summary: 'build a live lab from a scenario, play its timeline up to a step or time, and keep it up (for teaching)',
  positionals: [{ name: 'FILE', required: true, complete: 'scenario', description: 'the scenario file' }],
  options: {
    until: { type: 'string', short: 'u', valueName: 'STEP|TIME|end', description: 'play steps before this step number, for this long ("1.5s"), or all of them (end); default: none' },
    backend: { type: 'string', short: 'b', choices: ['netns', 'docker'], defaultText: 'netns', valueName: 'NAME', description: 'where the hosts live' },
    name: { type: 'string', short: 'n', valueName: 'LAB', defaultText: 'the scenario name', description: 'the live lab\'s name' },
  },
  examples: [
    { description: 'the close-wait seed, up to its third step', command: 'sudo tcplab up scenarios/seed/close-wait.yaml --until 2' },
  ],
  async run(ctx) {
    const file = ctx.positionals[0]
    if (!file || ctx.positionals.length > 1) throw new UsageError('up expects one scenario file: tcplab up FILE [--until STEP|TIME|end]')
    const backendName = backendOf(ctx.values.backend)
    const [{ loadScenario }, { createBackend }, reg, { spawnDetached }] = await Promise.all([
      import('../scenario/loader.js'), import('../lab/index.js'), import('../runner/live-registry.js'), import('../util/proc.js'),
    ])
    // Everything is checked before anything is created.
    const loaded = await loadScenario(file)
    const until = parseUntil(ctx.values.until as string | undefined, loaded.scenario.steps.length)
    const name = (ctx.values.name as string | undefined) ?? loaded.scenario.name
    if (!reg.LAB_NAME_RE.test(name)) throw new UsageError(`--name "${name}": a lab name is lowercase letters, digits, ".", "_" or "-"`)
    const existing = await reg.readLiveRecord(name)
    if (existing?.alive) throw new UsageError(`a lab named ${name} is already up (owner pid ${existing.pid})`, { hint: `\`tcplab down ${name}\`, or --name another` })
    if (existing) await reg.removeLiveFiles(name)
    const backend = await createBackend(backendName)
    await backend.check()
    if (!existsSync(OWNER_JS)) throw new LabError(`${OWNER_JS} is missing`, { hint: 'run `make build`' })

    const { mkdir } = await import('node:fs/promises')
    await mkdir(reg.LIVE_DIR, { recursive: true, mode: 0o700 })
    const args: OwnerArgs = { name, file, backend: backendName, ...until }
    const logFile = reg.liveFile(name, 'log')
    const pid = spawnDetached([process.execPath, OWNER_JS, JSON.stringify(args)], { logFile })
    ctx.err.write(`tcplab: bringing up ${name} (${backendName}, owner pid ${pid}, log ${logFile})\n`)
    const startMs = Date.now()
    for (;;) {
      if (ctx.signal.aborted) {
        try {
          process.kill(pid, 'SIGTERM')
        } catch {
          // gone already
        }
        return 130
      }
      const rec = await reg.readLiveRecord(name)
      if (rec?.pid === pid && rec.state === 'ready') {
        for (const line of rec.played ?? []) ctx.out.write(`${line}\n`)
        ctx.out.write(`lab ${name} is up: ${rec.hosts.map((h) => `${h.name} ${h.addr}`).join(', ')}\n`)
        ctx.out.write(rec.next < rec.steps ? `next: step ${rec.next} of ${rec.steps} (tcplab step ${name})\n` : `the timeline is played (${rec.steps} steps)\n`)
        return 0
      }
      if (rec?.pid === pid && rec.state === 'failed') {
        await reg.removeLiveFiles(name)
        ctx.err.write(`tcplab: ${rec.error ?? 'the lab could not be brought up'}\n`)
        return rec.exitCode ?? 1
      }
      const { isAlive } = await import('../lab/lease.js')
      if (!isAlive(pid)) {
        const tail = (await readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n  ')
        throw new LabError(`the owner of lab ${name} exited before the lab was up\n  ${tail}`, { hint: '`tcplab gc` removes anything it left' })
      }
      if (Date.now() - startMs > UP_TIMEOUT_MS) throw new LabError(`lab ${name} was not up within ${UP_TIMEOUT_MS / 1000} s`, { hint: `see ${logFile}; \`tcplab down ${name}\`` })
      await sleepMs(100)
    }
  },
})

export const exec = defineCommand({
  name: 'exec',
  summary: 'run a command on a host of a live lab (not interactive)',
  positionals: [
    { name: 'LAB', required: true, complete: 'lab', description: 'the live lab (tcplab ls)' },
    { name: 'HOST', required: true, description: 'a host of the lab' },
    { name: 'CMD', variadic: true, description: 'the command and its arguments, after --' },
  ],
  options: {
    timeout: { type: 'string', short: 't', valueName: 'DURATION', defaultText: '30s', description: 'kill the command after this long' },
  },
  examples: [{ description: 'the client\'s sockets', command: 'sudo tcplab exec seed-close-wait client -- ss -tanoi' }],
  async run(ctx) {
    const name = await labNameArg(ctx, 'exec')
    const host = ctx.positionals[1]
    const argv = ctx.positionals.slice(2)
    if (!host || argv.length === 0) throw new UsageError('exec expects a lab, a host and a command: tcplab exec LAB HOST -- ss -tanoi')
    const timeoutMs = ctx.values.timeout !== undefined ? parseDurationMs(String(ctx.values.timeout)) : 30_000
    if (timeoutMs === undefined) throw new UsageError(`--timeout expects a duration like "10s", got "${String(ctx.values.timeout)}"`)
    const { requestLiveLab } = await import('../runner/live-registry.js')
    const r = await requestLiveLab(name, { op: 'exec', host, argv, timeoutMs }, timeoutMs + 10_000)
    if (!r.ok) {
      ctx.err.write(`tcplab: ${r.error}\n`)
      return r.exitCode ?? 1
    }
    ctx.out.write(String(r.stdout ?? ''))
    ctx.err.write(String(r.stderr ?? ''))
    return typeof r.exitCode === 'number' ? r.exitCode : 1
  },
})

export const step = defineCommand({
  name: 'step',
  summary: 'play the next step of a live lab now and print what happened since the last command',
  positionals: [{ name: 'LAB', required: true, complete: 'lab', description: 'the live lab (tcplab ls)' }],
  options: {},
  examples: [{ description: 'one step further', command: 'sudo tcplab step seed-close-wait' }],
  async run(ctx) {
    const name = await labNameArg(ctx, 'step')
    const { requestLiveLab } = await import('../runner/live-registry.js')
    const r = await requestLiveLab(name, { op: 'step' }, 5 * 60_000)
    if (!r.ok) {
      ctx.err.write(`tcplab: ${r.error}\n`)
      return r.exitCode ?? 1
    }
    for (const line of (r.lines as string[] | undefined) ?? []) ctx.out.write(`${line}\n`)
    const next = Number(r.next)
    const rec = await (await import('../runner/live-registry.js')).readLiveRecord(name)
    const steps = rec?.steps ?? next
    ctx.out.write(next < steps ? `next: step ${next} of ${steps}\n` : `the timeline is played (${steps} steps)\n`)
    return 0
  },
})

export const down = defineCommand({
  name: 'down',
  summary: 'tear a live lab down (or every one, --all)',
  positionals: [{ name: 'LAB', complete: 'lab', description: 'the live lab (tcplab ls)' }],
  options: { all: { type: 'boolean', short: 'a', description: 'every live lab' } },
  examples: [{ description: 'done with it', command: 'sudo tcplab down seed-close-wait' }],
  async run(ctx) {
    const reg = await import('../runner/live-registry.js')
    const names = ctx.values.all ? (await reg.listLiveLabs()).map((l) => l.name) : [ctx.positionals[0] ?? '']
    if (!ctx.values.all && !names[0]) throw new UsageError('down expects a lab name (see `tcplab ls`), or --all')
    let code = 0
    for (const name of names) {
      const lines = await takeDown(name)
      for (const l of lines) ctx.out.write(`${l}\n`)
      if (lines.length === 0) code = 2
    }
    if (ctx.values.all && names.length === 0) ctx.out.write('no live labs\n')
    return code
  },
})

/** Take one live lab down: ask its owner, or clean up after a dead one. Returns what was done (empty: no such lab). */
export async function takeDown(name: string): Promise<string[]> {
  const reg = await import('../runner/live-registry.js')
  const rec = await reg.readLiveRecord(name)
  if (!rec) throw new UsageError(`no live lab named "${name}" (see \`tcplab ls\`)`)
  const { isAlive } = await import('../lab/lease.js')
  if (rec.alive) {
    try {
      await reg.requestLiveLab(name, { op: 'down' }, DOWN_TIMEOUT_MS)
    } catch {
      // Not answering (still building, or stuck): SIGTERM makes it tear down too.
      try {
        process.kill(rec.pid, 'SIGTERM')
      } catch {
        // gone
      }
    }
    const endMs = Date.now() + DOWN_TIMEOUT_MS
    while (isAlive(rec.pid) && Date.now() < endMs) await sleepMs(50)
    if (isAlive(rec.pid)) throw new LabError(`the owner of lab ${name} (pid ${rec.pid}) did not exit within ${DOWN_TIMEOUT_MS / 1000} s`, { hint: `kill ${rec.pid}, then \`tcplab gc\`` })
  }
  // A dead owner leaves its resources to the backend's gc, which sees they are no live run's.
  const out: string[] = []
  if (!rec.alive && rec.labId) {
    const { createBackend } = await import('../lab/index.js')
    const backend = await createBackend(rec.backend)
    for (const r of await backend.gc(rec.labId)) out.push(`${rec.backend}: removed ${r}`)
  }
  await reg.removeLiveFiles(name)
  out.push(`lab ${name} is down`)
  return out
}

export const ls = defineCommand({
  name: 'ls',
  summary: 'list live labs (tcplab up): name, scenario, backend, steps played, owner',
  options: { json: { type: 'boolean', description: 'as JSON' } },
  examples: [{ description: 'what is up', command: 'tcplab ls' }],
  async run(ctx) {
    const { listLiveLabs } = await import('../runner/live-registry.js')
    const labs = await listLiveLabs()
    if (ctx.values.json) {
      ctx.out.write(`${JSON.stringify(labs.map(({ played: _p, ...l }) => l), null, 2)}\n`)
      return 0
    }
    if (labs.length === 0) {
      ctx.out.write('no live labs (tcplab up FILE brings one up)\n')
      return 0
    }
    const rows = [['NAME', 'BACKEND', 'STATE', 'NEXT', 'HOSTS', 'OWNER', 'SCENARIO'], ...labs.map((l) => [
      l.name, l.backend, l.alive ? l.state : 'owner gone (tcplab gc)', `${l.next}/${l.steps}`,
      l.hosts.map((h) => `${h.name}=${h.addr}`).join(' ') || '-', String(l.pid), l.file,
    ])]
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
    for (const r of rows) ctx.out.write(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}\n`)
    return 0
  },
})

/**
 * For `tcplab gc`: live labs whose owner died are collected (their records
 * removed; the backend's gc removes their resources). Live labs whose owner is
 * alive are collected only with `all` (`gc --all`); otherwise they are listed as left up.
 */
export async function collectLiveLabs(all: boolean): Promise<string[]> {
  const { listLiveLabs, removeLiveFiles } = await import('../runner/live-registry.js')
  const out: string[] = []
  for (const l of await listLiveLabs()) {
    if (!l.alive) {
      await removeLiveFiles(l.name)
      out.push(`removed the record of live lab ${l.name} (its owner is gone)`)
    } else if (all) {
      out.push(...(await takeDown(l.name)))
    } else {
      out.push(`left up: live lab ${l.name} (tcplab down ${l.name}, or tcplab gc --all)`)
    }
  }
  return out
}

export const LAB_COMMANDS = [up, exec, step, down, ls] as const
