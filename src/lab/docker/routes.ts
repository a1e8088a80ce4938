// A lab host's routes: Docker gives every container a default route via the
// bridge's gateway (on the daemon's host), even on an `internal` network; the
// backend deletes it and adds the lab's own routes, so a lab host only reaches
// the lab's /24.
//
// Two ways, one `ip -batch` each:
// - at start (ROUTES_AT_START): a lab-image host on one network runs the batch
//   as its first command, before it becomes `sleep infinity`, and reports the
//   outcome on its stdout, which the backend follows through an attach made
//   before the start. The interfaces exist by then (libnetwork configures the
//   container's network in runc's prestart hook, before the command runs), so
//   the routes cost no `docker exec` (50-800 ms with a loaded daemon) and no
//   extra round trip: the report arrives a few ms after the start returns.
// - by exec (setRoutes): hosts that get further networks after their start (the
//   wire: eth1 does not exist yet at start) and hosts of a user's image (their
//   command is theirs).

import type Docker from 'dockerode'
import type { Duplex } from 'node:stream'
import { Writable } from 'node:stream'
import { LabError, ProcessError } from '../../util/errors.js'
import type { HostPlan } from './addressing.js'
import { toLabError } from './client.js'
import { execInContainer, type ContainerRef } from './exec.js'

/** The `ip -batch` input of a host: drop the default route, add the lab routes. */
export function routeBatch(hp: HostPlan): string {
  return `${['route flush exact 0.0.0.0/0', ...hp.routes.map((r) => `route add ${r.join(' ')}`)].join('\n')}\n`
}

/** Whether a host can set its routes as it starts: every interface it routes over exists then. */
export function canRouteAtStart(hp: HostPlan, isUserImage: boolean): boolean {
  return !isUserImage && hp.attachments.length === 1
}

const ROUTES_TAG = 'tcplab-routes '

/**
 * The command of a lab-image host that sets its routes as it starts ($1: the batch, an argument,
 * not the environment, so that no lab command inherits it): one line `tcplab-routes RC ERRORS` on
 * stdout, then `sleep infinity` (the image's own command) with its output going nowhere.
 */
export function routesAtStartCmd(hp: HostPlan): string[] {
  // One fork (the substitution, which execs ip) when all goes well: every process costs on a loaded machine.
  const script = [
    'err=$(ip -batch - 2>&1 <<EOF',
    '$1',
    'EOF',
    '); rc=$?',
    `[ "$rc" = 0 ] || err=$(printf %s "$err" | tr '\\n' ' ')`,
    `printf '${ROUTES_TAG}%s %s\\n' "$rc" "$err"`,
    'exec sleep infinity </dev/null >/dev/null 2>&1',
  ].join('\n')
  return ['sh', '-c', script, 'tcplab-routes', routeBatch(hp)]
}

/** What the start command reported: ip's exit status and its messages. */
export interface RoutesReport {
  exitCode: number
  errors: string
}

/** Parse the start command's report line out of its stdout so far (undefined: not complete yet). */
export function parseRoutesReport(stdout: string): RoutesReport | undefined {
  const nl = stdout.indexOf('\n')
  if (nl < 0) return undefined
  const line = stdout.slice(0, nl)
  if (!line.startsWith(ROUTES_TAG)) return { exitCode: -1, errors: `unexpected output: ${line}` }
  const rest = line.slice(ROUTES_TAG.length)
  const sp = rest.indexOf(' ')
  const code = Number(sp < 0 ? rest : rest.slice(0, sp))
  return { exitCode: Number.isInteger(code) ? code : -1, errors: sp < 0 ? '' : rest.slice(sp + 1).trim() }
}

/** The report of a host that sets its routes at start: follow() before the start, outcome() after. */
export interface RoutesAtStart {
  /** Resolves when the host set its routes; LabError when ip failed or nothing came within the timeout. */
  outcome(timeoutMs?: number): Promise<void>
  /** Drop the attach connection (after the outcome, or when the start failed). */
  close(): void
}

/** Attach to the (created, not started) container's stdout, to read its routes report once it starts. */
export async function followRoutesAtStart(docker: Docker, container: Docker.Container, host: string): Promise<RoutesAtStart> {
  let stream: Duplex
  try {
    stream = await container.attach({ stream: true, stdout: true, stderr: true, logs: false }) as unknown as Duplex
  } catch (e: unknown) {
    throw toLabError(e, `cannot attach to the container of ${host}`)
  }
  let out = ''
  let report: RoutesReport | undefined
  let ended = false
  let wake: () => void = () => undefined
  const sink = (collect: boolean): Writable => new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (collect && report === undefined) {
        out += chunk.toString()
        report = parseRoutesReport(out)
        if (report) wake()
      }
      cb()
    },
  })
  docker.modem.demuxStream(stream, sink(true), sink(false))
  const end = (): void => {
    ended = true
    wake()
  }
  stream.once('end', end)
  stream.once('close', end)
  stream.on('error', end)
  const close = (): void => {
    stream.destroy()
  }
  return {
    close,
    async outcome(timeoutMs = 10_000): Promise<void> {
      let timer: NodeJS.Timeout | undefined
      try {
        if (report === undefined && !ended) {
          await new Promise<void>((resolve) => {
            wake = resolve
            timer = setTimeout(resolve, timeoutMs)
          })
        }
      } finally {
        clearTimeout(timer)
        close()
      }
      if (report === undefined) {
        throw new LabError(`cannot set the routes of ${host}: ${ended ? 'its container ended before it reported them' : `no report within ${timeoutMs / 1000} s`}`)
      }
      if (report.exitCode !== 0) throw new LabError(`cannot set the routes of ${host}: ip -batch exited ${report.exitCode}: ${report.errors}`)
    },
  }
}

/** Set a running host's routes through a command in it (hosts that cannot do it at start). */
export async function setRoutes(ref: ContainerRef, hp: HostPlan): Promise<void> {
  try {
    await execInContainer(ref, ['ip', '-batch', '-'], { input: routeBatch(hp), timeoutMs: 10_000 })
  } catch (e: unknown) {
    if (e instanceof ProcessError) throw new LabError(`cannot set the routes of ${hp.name}: ${e.message}`, { cause: e })
    throw e
  }
}
