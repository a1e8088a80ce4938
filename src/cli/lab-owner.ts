// The owner of one live lab (`tcplab up`), started detached by the CLI:
//   node dist/cli/lab-owner.js '{"name":..., "file":..., "backend":..., "untilStep"?:N, "untilMs"?:MS}'
// It builds the lab, plays the prefix, records itself under <STATE_DIR>/live/
// and answers exec/step/down on its unix socket until `down` (or SIGTERM,
// `tcplab gc --all`), then tears the lab down and exits. The lab's resources
// are registered with this process's pid, so `tcplab gc` leaves them alone
// while it lives and collects them if it dies.

import { TcplabError, exitCodeOf } from '../util/errors.js'
import type { LiveLab } from '../runner/live-lab.js'
import {
  type LiveLabRecord, type LiveReply, type LiveRequest, removeLiveFiles, serveLiveLab, writeLiveRecord,
} from '../runner/live-registry.js'

export interface OwnerArgs {
  name: string
  file: string
  backend: string
  untilStep?: number | undefined
  untilMs?: number | undefined
}

const log = (msg: string): void => {
  process.stdout.write(`${new Date().toISOString()} ${msg}\n`)
}

async function main(args: OwnerArgs): Promise<number> {
  const controller = new AbortController()
  const rec: LiveLabRecord = {
    name: args.name, labId: '', pid: process.pid, backend: args.backend, scenario: '', file: args.file,
    state: 'building', next: 0, steps: 0, hosts: [], createdAt: new Date().toISOString(),
  }
  await writeLiveRecord(rec)
  let live: LiveLab | undefined
  let stopping: Promise<void> | undefined
  const stop = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log(`tearing down (${why})`)
      controller.abort()
      rec.state = 'stopping'
      await writeLiveRecord(rec).catch(() => undefined)
      try {
        await live?.down()
      } finally {
        await removeLiveFiles(args.name)
        log('down')
      }
    })()
    return stopping
  }
  process.on('SIGTERM', () => void stop('SIGTERM').finally(() => process.exit(0)))
  process.on('SIGINT', () => void stop('SIGINT').finally(() => process.exit(0)))
  process.on('SIGHUP', () => undefined)
  try {
    const [{ loadScenario }, { createBackend }, { LiveLab }] = await Promise.all([
      import('../scenario/loader.js'), import('../lab/index.js'), import('../runner/live-lab.js'),
    ])
    const loaded = await loadScenario(args.file)
    Object.assign(rec, { scenario: loaded.scenario.name, steps: loaded.scenario.steps.length })
    const backend = await createBackend(args.backend)
    await backend.check()
    rec.state = 'playing'
    await writeLiveRecord(rec)
    live = await LiveLab.start({ loaded, backend, untilStep: args.untilStep, untilMs: args.untilMs, signal: controller.signal, log })
    const lab = live
    Object.assign(rec, { labId: lab.labId, hosts: lab.hosts, next: lab.next, state: 'ready', played: lab.drainLines() })
    const handle = async (req: LiveRequest): Promise<LiveReply> => {
      try {
        switch (req.op) {
          case 'status':
            return { ok: true, record: rec }
          case 'exec': {
            const r = await lab.exec(req.host ?? '', req.argv ?? [], req.timeoutMs ?? 30_000)
            return { ok: true, ...r }
          }
          case 'step': {
            rec.state = 'stepping'
            await writeLiveRecord(rec)
            try {
              const r = await lab.step(controller.signal)
              return { ok: true, ...r }
            } finally {
              Object.assign(rec, { state: 'ready', next: lab.next })
              await writeLiveRecord(rec)
            }
          }
          case 'down':
            await stop('down')
            setImmediate(() => process.exit(0))
            return { ok: true }
          default:
            return { ok: false, error: `unknown request "${String((req as { op: unknown }).op)}"` }
        }
      } catch (e: unknown) {
        return { ok: false, error: e instanceof TcplabError ? e.format() : e instanceof Error ? e.message : String(e), exitCode: exitCodeOf(e) }
      }
    }
    await serveLiveLab(args.name, handle)
    await writeLiveRecord(rec)
    log(`ready: ${lab.hosts.map((h) => `${h.name} ${h.addr}`).join(', ')}; next step ${lab.next} of ${lab.stepCount}`)
    return -1 // keep serving
  } catch (e: unknown) {
    const message = e instanceof TcplabError ? e.format() : e instanceof Error ? (e.stack ?? e.message) : String(e)
    log(`failed: ${message}`)
    await live?.down().catch(() => undefined)
    Object.assign(rec, { state: 'failed', error: message, exitCode: exitCodeOf(e) })
    await writeLiveRecord(rec)
    return exitCodeOf(e)
  }
}

const raw = process.argv[2]
if (raw === undefined) {
  process.stderr.write('lab-owner: expects its arguments as JSON (it is started by `tcplab up`)\n')
  process.exit(2)
}
main(JSON.parse(raw) as OwnerArgs).then(
  (code) => {
    if (code >= 0) process.exit(code)
  },
  (e: unknown) => {
    log(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    process.exit(1)
  },
)
