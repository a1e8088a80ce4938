// The vm backend: the hosts of a lab are network namespaces inside a QEMU guest
// running another kernel (guest.ts), laid out exactly as on the netns backend
// (openNamespaceLab/planLab: the same registration, lease, veths, addresses,
// routes and names), and every command and process goes through the guest's
// multiplexer (mux.ts) as `ip netns exec NS ...`. One
// guest serves every lab of a run on its kernel; the backend does not own it
// (the kernel matrix boots and shuts it down). Where the guest has tracefs, each
// lab records sock:inet_sock_set_state and tcp:tcp_retransmit_skb from the
// guest's one trace reader (tracepoints.ts) and hands them over as Lab.kernelEvents.
//
// Under TCG every program started in the guest costs tens of ms (hundreds on a
// loaded machine), so a lab's up starts no program: a long-running `ip -batch`
// of the guest makes the namespaces and links (ip-worker.ts), and the guest's
// init sets addresses and routes over rtnetlink, writes sysctls and deletes
// namespaces; the labs share one trace reader. bench/vm.ts has the figures.

import { LabError, PrivilegeError, ProcessError, StepError } from '../../util/errors.js'
import { Teardown } from '../../util/teardown.js'
import { agentBinaryPath } from '../agent-path.js'
import { netnsName, openNamespaceLab } from '../netns/backend.js'
import { netnsExecArgv } from '../netns/in-namespace.js'
import { sysctlKeyProblem, SYSCTL_KEY_HINT } from '../../scenario/sysctl-values.js'
import type { Backend, ExecOptions, ExecResult, Host, HostSpec, Lab, LabSpec, Proc, SpawnOptions } from '../types.js'
import type { ClockOffset } from './clock.js'
import { gcGuests, type Guest } from './guest.js'
import { IpBatchWorker } from './ip-worker.js'
import { CONFIGURE_LINE, errnoName, type Mux } from './mux.js'
import { openGuestTrace, type GuestTrace, type TraceEvent, type TraceRecorder } from './tracepoints.js'

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
  // The guest's trace reader starts with the backend, while the runner still prepares the first lab.
  const tracing: Promise<GuestTrace | undefined> = openGuestTrace(guest.mux, `tcplab-${guest.guestId}`).catch(() => undefined)
  const ip = new IpBatchWorker(guest.mux)
  let active = 0
  return {
    name: 'vm',
    // The guest's CPUs are QEMU's threads: a loaded host stops them and the lab's clock with them, which only probes inside see.
    probeMachine: {
      label: `the guest on ${guest.release}`,
      cpus: Array.from({ length: guest.cpus }, (_, i) => i),
      spawn: (argv, opts) => guest.mux.spawn(argv, opts, `vm ${guest.release}`),
    },
    async check() {
      if (process.getuid?.() !== 0) throw new PrivilegeError('the vm backend runs QEMU with virtiofsd sharing /, which needs root')
      if (guest.mux.isClosed) throw new LabError(`the guest on ${guest.release} is not running`)
    },
    async describe() {
      return `QEMU guest on kernel ${guest.release} (${guest.accel}, ${guest.cpus} CPUs, ${guest.memMb} MiB), hosts are network namespaces inside it; clock offset ${guest.clock.offsetUs} µs`
    },
    async up(spec, signal) {
      // The clock is only set again while no lab runs: a step would move a running scenario's times.
      const clock = await guest.checkClock(active === 0)
      active++
      try {
        return await upVmLab(guest, ip, spec, clock, await tracing, signal, () => active--)
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

async function upVmLab(guest: Guest, ip: IpBatchWorker, spec: LabSpec, clock: ClockOffset, tracing: GuestTrace | undefined, signal: AbortSignal | undefined, onDown: () => void): Promise<VmLab> {
  const mux = guest.mux
  const withImage = spec.hosts.find((h) => h.image !== undefined)
  if (withImage) throw new LabError(`host "${withImage.name}" names its own image, which only the docker backend runs`, { hint: 'run this scenario with --backend docker' })
  const bad = spec.hosts.find((h) => !/^[a-z][a-z0-9]*$/i.test(h.name))
  if (bad) throw new LabError(`host name "${bad.name}" cannot name a namespace`)
  for (const h of spec.hosts) {
    for (const k of Object.keys(h.sysctls)) {
      const problem = sysctlKeyProblem(k)
      if (problem) throw new StepError(problem, { hint: SYSCTL_KEY_HINT })
    }
  }
  const td = new Teardown()
  td.push('lab count', onDown)
  const procs = new Set<Proc>()
  const names = new Map(spec.hosts.map((h) => [h.name, netnsName(spec.labId, h.name)]))
  const checkAbort = (): void => {
    if (signal?.aborted) throw new LabError(`lab ${spec.labId} setup interrupted`)
  }
  try {
    // The same registration, lease (each lab of a guest gets its own /24, which is also how
    // tracepoint events, guest-wide, are told apart) and plan as on netns.
    const { plan, prefix24 } = await openNamespaceLab(spec, 'vm', names, td, (nss) => deleteGuestNamespaces(mux, nss))
    checkAbort()
    // The namespaces and links by the guest's ip worker, then each namespace's addresses and routes
    // and each host's sysctls, in parallel, by the guest's init.
    await ip.run(plan.create)
    checkAbort()
    await Promise.all([
      ...[...plan.configure].map(([ns, lines]) => configureNamespace(mux, ns, lines)),
      ...spec.hosts.map((h) => writeSysctls(mux, h.name, names.get(h.name) as string, { ...h.sysctls, ...(h.isWire ? { 'net.ipv4.ip_forward': '1' } : {}) })),
    ])
    checkAbort()
    let trace: TraceRecorder | undefined
    if (tracing) {
      const prefix = `${prefix24}.`
      const t = tracing.subscribe(() => clock, (a) => a.startsWith(prefix))
      trace = t
      td.push('stop tracing', () => t.stop())
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
          kernelPackage: guest.kernel.package,
          kernelDebVersion: guest.kernel.debVersion,
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

/** A sysctl key's file under /proc/sys (sysctl(8): dots separate levels, a slash stands for a dot). */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key.split('.').map((p) => p.replace(/\//g, '.')).join('/')}`
}

/**
 * Set a host's sysctls from inside its namespace, as `sysctl -w` would: keys prefixed with "?" are
 * optional (skipped where this kernel lacks them, like `sysctl -e`); a missing required key or a
 * refused value is the scenario's fault.
 */
async function writeSysctls(mux: Mux, host: string, ns: string, sysctls: Record<string, string>): Promise<void> {
  const entries = Object.entries(sysctls).map(([k, v]) => ({ key: k.replace(/^\?/, ''), optional: k.startsWith('?'), value: v }))
  if (entries.length === 0) return
  const errnos = await mux.writeFiles(ns, entries.map((e) => [sysctlPath(e.key), e.value] as const))
  const failed = entries.flatMap((e, i) => {
    const errno = errnos[i] ?? -1
    if (errno === 0 || (e.optional && errno === ENOENT)) return []
    return [`${e.key}=${e.value}: ${errno === ENOENT ? 'no such key' : errno < 0 ? 'no answer' : errnoName(errno)}`]
  })
  if (failed.length > 0) {
    throw new StepError(`cannot set sysctl in the guest on ${host}: ${failed.join('; ')}`, {
      hint: failed.some((f) => f.endsWith('EPERM'))
        ? 'the kernel refuses this value inside a namespace (e.g. a congestion control not in net.ipv4.tcp_allowed_congestion_control); set it per socket instead'
        : 'the key must exist in a network namespace on this kernel (per-netns sysctls only)',
    })
  }
}

const ENOENT = 2

function createVmHost(mux: Mux, name: string, ns: string, addrs: Array<[string, string]>, procs: Set<Proc>, startTimeoutMs: number): Host {
  return {
    name,
    addr: addrs[0]?.[1].split('/')[0] ?? '',
    ifnames: addrs.map(([dev]) => dev),
    startTimeoutMs,
    agentPath: agentBinaryPath(),
    // Through `ip netns exec`, as before, although the init can enter the namespace itself (Mux
    // netns, one exec less per command): syn-drop on 6.1 failed both ways at load ~9 once lab
    // setup got fast (a server listen step ~1 s late, the wire's rule after the first SYN), and
    // which part is timing-sensitive is not known yet; hosts keep the tested entry until it is.
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

/** A namespace's addresses, routes and links: by the guest's init over rtnetlink, or by `ip -batch` started in it for a line of another form. */
async function configureNamespace(mux: Mux, ns: string, lines: readonly string[]): Promise<void> {
  if (!lines.every((l) => CONFIGURE_LINE.test(l))) {
    await mux.exec(['ip', '-batch', '-'], { input: `${lines.join('\n')}\n`, host: ns, netns: ns })
    return
  }
  const errnos = await mux.configureNetns(ns, lines)
  const i = errnos.findIndex((e) => e !== 0)
  if (i >= 0 || errnos.length !== lines.length) {
    throw new LabError(`cannot configure namespace ${ns} in the guest: "${lines[i] ?? '?'}": ${i >= 0 ? errnoName(errnos[i] as number) : 'no answer'}`)
  }
}

/** Kill what runs in the namespaces and delete them, by the guest's init (idempotent). */
async function deleteGuestNamespaces(mux: Mux, nss: readonly string[]): Promise<void> {
  if (mux.isClosed) return
  const failed = await mux.deleteNetns(nss)
  if (failed.length > 0) throw new LabError(`cannot delete network namespace(s) in the guest: ${failed.join('; ')}`)
}
