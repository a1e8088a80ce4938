// The vm backend: the hosts of a lab are network namespaces inside a QEMU guest
// running another kernel (guest.ts), laid out exactly as on the netns backend
// (planLab: the same veths, addresses and routes, the same names), and every
// command and process goes through the guest's multiplexer (mux.ts) as
// `ip netns exec NS ...`. One guest serves every lab of a run on its kernel;
// the backend does not own it (the kernel matrix boots and shuts it down).
// Where the guest has tracefs, each lab records sock:inet_sock_set_state and
// tcp:tcp_retransmit_skb (tracepoints.ts) and hands them over as Lab.kernelEvents.

import { netnsExecArgv, netnsExecLine, netnsKillDeleteLine } from '../netns/in-namespace.js'
import { LabError, PrivilegeError, ProcessError, StepError } from '../../util/errors.js'
import { Teardown } from '../../util/teardown.js'
import { agentBinaryPath } from '../agent-path.js'
import { leaseSubnet, registerLab } from '../lease.js'
import { netnsName, planLab } from '../netns/backend.js'
import type { Backend, ExecOptions, ExecResult, Host, HostSpec, Lab, LabSpec, Proc, SpawnOptions } from '../types.js'
import type { ClockOffset } from './clock.js'
import { gcGuests, type Guest } from './guest.js'
import type { Mux } from './mux.js'
import { hasTracepoints, startTrace, type TraceEvent, type TraceRecorder } from './tracepoints.js'

/** Under TCG a process takes 0.1-1 s to start in the guest, several seconds on a loaded machine: the time a recorder or agent gets to come up. */
const TCG_START_TIMEOUT_MS = 30_000

/** What env.json says about the guest a scenario ran in. */
export interface VmEnvFacts {
  kernelRelease: string
  kernelPackage?: string | undefined
  kernelDebVersion?: string | undefined
  accel: string
  cpus: number
  memMb: number
  bootMs: number
  /** Guest CLOCK_REALTIME minus the host's, measured when the lab came up (µs), and the round trip it rests on. */
  clockOffsetUs: number
  clockRttUs: number
  tracepoints: boolean
}

/** A lab inside a guest: envFacts and kernelEvents are always there. */
export interface VmLab extends Lab {
  readonly envFacts: { vm: VmEnvFacts }
  kernelEvents(): Promise<TraceEvent[]>
}

/** The backend of one booted guest. */
export function createVmBackend(guest: Guest): Backend {
  let tracing: Promise<boolean> | undefined
  let active = 0
  return {
    name: 'vm',
    async check() {
      if (process.getuid?.() !== 0) throw new PrivilegeError('the vm backend runs QEMU with virtiofsd sharing /, which needs root')
      if (guest.mux.isClosed) throw new LabError(`the guest on ${guest.release} is not running`)
    },
    async describe() {
      return `QEMU guest on kernel ${guest.release} (${guest.accel}, ${guest.cpus} CPUs, ${guest.memMb} MiB), hosts are network namespaces inside it; clock offset ${guest.clock.offsetUs} µs`
    },
    async up(spec, signal) {
      tracing ??= hasTracepoints(guest.mux).catch(() => false)
      // The clock is only set again while no lab runs: a step would move a running scenario's times.
      const clock = await guest.checkClock(active === 0)
      active++
      try {
        return await upVmLab(guest, spec, clock, await tracing, signal, () => active--)
      } catch (e: unknown) {
        active--
        throw e
      }
    },
    async gc(id?: string) {
      return gcGuests(id)
    },
  }
}

async function upVmLab(guest: Guest, spec: LabSpec, clock: ClockOffset, tracing: boolean, signal: AbortSignal | undefined, onDown: () => void): Promise<VmLab> {
  const mux = guest.mux
  const withImage = spec.hosts.find((h) => h.image !== undefined)
  if (withImage) throw new LabError(`host "${withImage.name}" names its own image, which only the docker backend runs`, { hint: 'run this scenario with --backend docker' })
  const bad = spec.hosts.find((h) => !/^[a-z][a-z0-9]*$/i.test(h.name))
  if (bad) throw new LabError(`host name "${bad.name}" cannot name a namespace`)
  const td = new Teardown()
  td.push('lab count', onDown)
  const procs = new Set<Proc>()
  const names = new Map(spec.hosts.map((h) => [h.name, netnsName(spec.labId, h.name)]))
  const checkAbort = (): void => {
    if (signal?.aborted) throw new LabError(`lab ${spec.labId} setup interrupted`)
  }
  try {
    const unregister = await registerLab({ labId: spec.labId, backend: 'vm', scenario: spec.scenario })
    td.push('unregister lab', unregister)
    // A lease from the machine-wide pool: each lab of a guest gets its own /24, which is also how
    // tracepoint events (guest-wide) are told apart.
    const lease = await leaseSubnet(spec.labId)
    td.push(`release subnet ${lease.cidr}`, () => lease.release())
    const wire = spec.hosts.find((h) => h.isWire)
    const ends = spec.hosts.filter((h) => !h.isWire)
    const useSwitch = !(ends.length === 2 && (wire === undefined || spec.hosts.length === 3))
    const sw = netnsName(spec.labId, 'sw')
    const allNs = [...names.values(), ...(useSwitch ? [sw] : [])]
    td.push(`delete netns ${allNs.join(' ')} in the guest`, () => deleteGuestNamespaces(mux, allNs))
    const plan = planLab(spec, lease.prefix24, names, useSwitch ? sw : undefined)
    checkAbort()
    // One guest process builds the whole lab (each exec through TCG costs tens of ms): the
    // namespaces and links, each namespace's addresses and routes, each host's sysctls.
    await mux.exec(['sh', '-c', setupScript(plan.create, plan.configure, spec.hosts, names)], { host: 'vm' }).catch((e: unknown) => {
      throw rewriteSetupError(e)
    })
    checkAbort()
    let trace: TraceRecorder | undefined
    if (tracing) {
      const prefix = `${lease.prefix24}.`
      trace = await startTrace(mux, spec.labId, () => clock, (a) => a.startsWith(prefix)).catch(() => undefined)
      if (trace) {
        const t = trace
        td.push('stop tracing', () => t.stop())
      }
    }
    const hosts = new Map<string, Host>()
    for (const h of spec.hosts) hosts.set(h.name, createVmHost(mux, h.name, names.get(h.name) as string, plan.addrs.get(h.name) ?? [], procs, guest.accel === 'tcg' ? TCG_START_TIMEOUT_MS : 0))
    td.push('stop processes', () => Promise.allSettled([...procs].map((p) => p.stop({ graceMs: 1000 }))))
    return {
      labId: spec.labId,
      hosts,
      down: () => td.run(),
      envFacts: {
        vm: {
          kernelRelease: guest.release,
          kernelPackage: guest.kernel.info.package,
          kernelDebVersion: guest.kernel.info.debVersion,
          accel: guest.accel,
          cpus: guest.cpus,
          memMb: guest.memMb,
          bootMs: guest.bootMs,
          clockOffsetUs: clock.offsetUs,
          clockRttUs: clock.rttUs,
          tracepoints: trace !== undefined,
        },
      },
      kernelEvents: () => (trace ? trace.stop() : Promise.resolve([])),
    }
  } catch (e: unknown) {
    await td.run().catch(() => undefined)
    throw e
  }
}

/** Shell-quote one word (single quotes). */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/**
 * The lab's setup as one shell script run in the guest: `ip -batch` for namespaces and links, one
 * `ip -n NS -batch` per namespace, then each host's sysctls (optional keys "?k" with `sysctl -e`).
 */
export function setupScript(create: readonly string[], configure: ReadonlyMap<string, string[]>, hosts: readonly HostSpec[], names: ReadonlyMap<string, string>): string {
  const lines = ['set -e', `printf '%s\\n' ${create.map(q).join(' ')} | ip -batch -`]
  for (const [ns, cmds] of configure) lines.push(`printf '%s\\n' ${cmds.map(q).join(' ')} | ip -n ${q(ns)} -batch -`)
  for (const h of hosts) {
    const ns = names.get(h.name) as string
    const sysctls = { ...h.sysctls, ...(h.isWire ? { 'net.ipv4.ip_forward': '1' } : {}) }
    const required = Object.entries(sysctls).filter(([k]) => !k.startsWith('?')).map(([k, v]) => `${k}=${v}`)
    const optional = Object.entries(sysctls).filter(([k]) => k.startsWith('?')).map(([k, v]) => `${k.slice(1)}=${v}`)
    if (required.length > 0) lines.push(`${netnsExecLine(q(ns), `sysctl -q -w ${required.map(q).join(' ')}`)} || { echo "sysctl on ${h.name}: failed" >&2; exit 3; }`)
    if (optional.length > 0) lines.push(`${netnsExecLine(q(ns), `sysctl -e -q -w ${optional.map(q).join(' ')}`)} || { echo "sysctl on ${h.name}: failed" >&2; exit 3; }`)
  }
  return lines.join('\n')
}

function rewriteSetupError(e: unknown): unknown {
  if (e instanceof ProcessError && e.failure.exitCode === 3) {
    return new StepError(`cannot set sysctl in the guest: ${e.failure.stderr.trim()}`, {
      hint: 'the key must exist in a network namespace on this kernel (per-netns sysctls only)',
      cause: e,
    })
  }
  return e
}

function createVmHost(mux: Mux, name: string, ns: string, addrs: Array<[string, string]>, procs: Set<Proc>, startTimeoutMs: number): Host {
  return {
    name,
    addr: addrs[0]?.[1].split('/')[0] ?? '',
    ifnames: addrs.map(([dev]) => dev),
    startTimeoutMs,
    agentPath: agentBinaryPath(),
    exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
      return mux.exec(netnsExecArgv(ns, argv), { ...opts, host: name }).catch((e: unknown) => {
        if (e instanceof ProcessError) throw new ProcessError({ ...e.failure, argv }, { cause: e, hint: e.hint })
        throw e
      })
    },
    spawn(argv: readonly string[], opts?: SpawnOptions): Proc {
      const p = mux.spawn(netnsExecArgv(ns, argv), opts, name)
      procs.add(p)
      void p.exited.then(() => procs.delete(p))
      return p
    },
  }
}

/** Kill what runs in the namespaces and delete them (idempotent). */
async function deleteGuestNamespaces(mux: Mux, nss: readonly string[]): Promise<void> {
  if (mux.isClosed) return
  const script = nss.map((ns) => netnsKillDeleteLine(q(ns))).join('\n')
  await mux.exec(['sh', '-c', `${script}\ntrue`], { reject: false, host: 'vm' })
}
