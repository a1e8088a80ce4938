// One QEMU guest per kernel: booted once, reused by every lab of a run on that
// kernel, and shut down (QEMU and virtiofsd killed, files removed) on every exit
// path. The host's root filesystem is shared read-only through virtiofsd (the
// Debian cloud kernels have virtiofs but no 9p); the guest's init
// (agent/vminit/tcplab-vminit.c) puts a tmpfs overlay on it, binds the kernel's
// own modules, and serves the runner's commands over a virtio-serial port that
// QEMU connects to a unix socket we listen on. The guest has no network device:
// lab traffic cannot leave it.
//
// Everything a guest owns lives in STATE_DIR/vm/<guestId>/ (state.json names the
// owning tcplab process and the QEMU and virtiofsd pids), so `tcplab gc` finds
// guests of a crashed run (gcGuests).

import { existsSync, openSync, closeSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import path from 'node:path'
import { EnvironmentError, LabError } from '../../util/errors.js'
import { spawnProcess } from '../../util/proc.js'
import { sleep } from '../../util/sleep.js'
import type { Proc } from '../types.js'
import { isAlive, STATE_DIR } from '../lease.js'
import { syncClock, measureOffset, RESYNC_US, type ClockOffset } from './clock.js'
import { initramfsFor } from './initramfs.js'
import type { CachedKernel } from '../../kernels/index.js'
import { guestMux, type Mux } from './mux.js'

export const VM_STATE_DIR = path.join(STATE_DIR, 'vm')
const QEMU = process.env.TCPLAB_QEMU ?? 'qemu-system-x86_64'
/** virtiofsd: QEMU 7.2's C daemon (Debian 12's qemu-system-common), or the Rust one. */
const VIRTIOFSD_CANDIDATES = [process.env.TCPLAB_VIRTIOFSD, '/usr/lib/qemu/virtiofsd', '/usr/libexec/virtiofsd', '/usr/bin/virtiofsd'].filter((p): p is string => !!p)
const QBOOT = '/usr/share/qemu/qboot.rom'
/** Niceness of QEMU (TCPLAB_VM_NICE; default -10, i.e. ~10x the CPU share of a normal task under contention). */
const QEMU_NICE = Number(process.env.TCPLAB_VM_NICE ?? -10)
/** Boot to READY: a stock kernel takes 2-4 s under TCG; a loaded machine, more. */
const BOOT_TIMEOUT_MS = 60_000
/** KVM that works boots in well under a second; one that does not (a nested PVM) hangs or dies. */
const KVM_PROBE_TIMEOUT_MS = 15_000

export type Accel = 'kvm' | 'tcg'

/**
 * Modules a lab may need, loaded once after boot (modprobe from the guest kernel's own modules):
 * the kernel would load them on first use, which under TCG takes seconds in the middle of a
 * scenario's first iptables step. Missing ones are skipped (modprobe -q -a).
 */
export const WARM_MODULES = ['veth', 'bridge', 'nf_tables', 'nft_compat', 'nft_chain_nat', 'x_tables', 'xt_tcpudp', 'xt_comment', 'xt_multiport',
  'xt_statistic', 'xt_conntrack', 'xt_state', 'xt_mark', 'xt_length', 'xt_limit', 'xt_owner', 'xt_REJECT', 'nf_reject_ipv4', 'nf_reject_ipv6', 'ipt_REJECT', 'ip6t_REJECT',
  'nft_reject', 'nft_reject_inet', 'nft_ct', 'nft_counter', 'nf_conntrack', 'sch_netem', 'sch_tbf', 'sch_htb', 'tcp_bbr', 'inet_diag', 'tcp_diag', 'udp_diag']

/**
 * Run once after boot, before the first lab: load WARM_MODULES and run each tool a lab uses once, so
 * their pages are in the guest's page cache and their code is already translated by TCG.
 */
const WARM_SCRIPT = `modprobe -q -a ${WARM_MODULES.join(' ')} 2>/dev/null
iptables -w -L -n >/dev/null 2>&1; ip6tables -w -L -n >/dev/null 2>&1
ss -V >/dev/null; tcpdump --version >/dev/null 2>&1; sysctl -a >/dev/null 2>&1; tc qdisc show >/dev/null; nc -h >/dev/null 2>&1
ip netns add tcplab-warm && ip netns exec tcplab-warm true; ip netns del tcplab-warm
true`

export interface GuestOptions {
  kernel: CachedKernel
  /** Guest memory (default 1024 MiB). */
  memMb?: number | undefined
  /**
   * Guest CPUs (default 1). One vCPU: sock_diag reads a socket without its lock, and under TCG a
   * timer handler or a sendmsg on another vCPU lasts long enough for a dump to catch it half
   * done (timer "none" between two "on" rows); on one vCPU a dump never runs inside them. It
   * also costs the host one emulation thread instead of several.
   */
  cpus?: number | undefined
  /** Force an accelerator (default: KVM where it works, else TCG; TCPLAB_VM_ACCEL). */
  accel?: Accel | undefined
  signal?: AbortSignal | undefined
}

export interface GuestState {
  guestId: string
  ownerPid: number
  qemuPid?: number | undefined
  virtiofsdPid?: number | undefined
  kernel: string
  createdAt: string
}

export interface Guest {
  readonly guestId: string
  readonly kernel: CachedKernel
  /** `uname -r` in the guest. */
  readonly release: string
  readonly accel: Accel
  readonly memMb: number
  readonly cpus: number
  readonly mux: Mux
  /** From QEMU start to READY with the clock set, ms. */
  readonly bootMs: number
  /** Then loading modules and running each lab tool once (WARM_SCRIPT), ms. */
  readonly warmMs: number
  /** The last clock measurement. */
  clock: ClockOffset
  /** Measure the clock offset again (re-set it if it drifted and `mayStep`); returns and keeps the measurement. */
  checkClock(mayStep: boolean): Promise<ClockOffset>
  /** Power off, kill QEMU and virtiofsd, remove its files. Idempotent. */
  shutdown(): Promise<void>
}

/** The virtiofsd binary, or EnvironmentError with the package to install. */
export function findVirtiofsd(): string {
  const found = VIRTIOFSD_CANDIDATES.find((p) => existsSync(p))
  if (!found) throw new EnvironmentError('E_MISSING_TOOL', 'virtiofsd is not installed (the vm backend shares the root filesystem with the guest through it)', { hint: 'apt-get install -y qemu-system-x86 (Debian 12 ships /usr/lib/qemu/virtiofsd in qemu-system-common)' })
  return found
}

let kvmWorks: boolean | undefined

/** Whether /dev/kvm exists and opens (it may still fail on a real kernel: bootGuest falls back). */
export function hasKvmDevice(): boolean {
  try {
    closeSync(openSync('/dev/kvm', 'r+'))
    return true
  } catch {
    return false
  }
}

/** The accelerator to try first: TCPLAB_VM_ACCEL, else KVM when its device opens and no earlier guest found it broken. */
export function preferredAccel(): Accel {
  const env = process.env.TCPLAB_VM_ACCEL
  if (env === 'kvm' || env === 'tcg') return env
  return kvmWorks !== false && hasKvmDevice() ? 'kvm' : 'tcg'
}

/** A short random guest id. */
function newGuestId(): string {
  return `g${Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0')}`
}

/**
 * Boot a guest on `kernel` and wait until its init answers with the clock set. With KVM preferred
 * and not forced, a guest that does not come up within KVM_PROBE_TIMEOUT_MS is killed and booted
 * again under TCG (the nested PVM case), and later guests of this process go straight to TCG.
 */
export async function bootGuest(opts: GuestOptions): Promise<Guest> {
  const accel = opts.accel ?? preferredAccel()
  if (accel === 'kvm' && opts.accel === undefined && process.env.TCPLAB_VM_ACCEL !== 'kvm') {
    try {
      const g = await bootOnce(opts, 'kvm', KVM_PROBE_TIMEOUT_MS)
      kvmWorks = true
      return g
    } catch (e: unknown) {
      if (opts.signal?.aborted) throw e
      kvmWorks = false
    }
  }
  return bootOnce(opts, accel === 'kvm' && kvmWorks === false ? 'tcg' : accel, BOOT_TIMEOUT_MS)
}

/**
 * QEMU's argv for a guest. The pc machine with PVH (`-kernel vmlinux`): microvm boots faster but
 * has no PIT/HPET reference, so a stock kernel cannot calibrate its TSC under TCG and hangs there.
 * qboot instead of SeaBIOS where installed (no BIOS POST: ~1 s less under TCG).
 */
export function qemuArgv(o: { kernel: CachedKernel; initrd: string; accel: Accel; memMb: number; cpus: number; fsSocket: string; ctlSocket: string; consoleLog: string }): string[] {
  const append = [
    'console=ttyS0', 'quiet', 'loglevel=4', 'panic=-1', 'reboot=t',
    // The guest's tsc runs off the host's clock under TCG; its calibration under load is noisy.
    ...(process.env.TCPLAB_VM_APPEND ?? 'clocksource=hpet').split(' ').filter(Boolean), 'random.trust_cpu=on',
    `tcplab.modules=${o.kernel.modulesDir}`,
  ].join(' ')
  return [
    QEMU,
    '-M', `pc,accel=${o.accel},memory-backend=mem`,
    ...(existsSync(QBOOT) ? ['-bios', QBOOT] : []),
    ...(o.accel === 'kvm' ? ['-cpu', 'host'] : []),
    '-smp', String(o.cpus),
    '-m', `${o.memMb}M`,
    '-object', `memory-backend-memfd,id=mem,size=${o.memMb}M,share=on`,
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    '-kernel', o.kernel.vmlinux,
    '-initrd', o.initrd,
    '-append', append,
    '-serial', `file:${o.consoleLog}`,
    '-chardev', `socket,id=fs,path=${o.fsSocket}`,
    '-device', 'vhost-user-fs-pci,chardev=fs,tag=root',
    '-device', 'virtio-serial-pci',
    '-chardev', `socket,id=ctl,path=${o.ctlSocket}`,
    '-device', 'virtserialport,chardev=ctl,name=tcplab',
  ]
}

async function bootOnce(opts: GuestOptions, accel: Accel, timeoutMs: number): Promise<Guest> {
  const kernel = opts.kernel
  const memMb = opts.memMb ?? 1024
  const cpus = opts.cpus ?? 1
  const guestId = newGuestId()
  const dir = path.join(VM_STATE_DIR, guestId)
  const started = performance.now()
  await mkdir(dir, { recursive: true })
  const state: GuestState = { guestId, ownerPid: process.pid, kernel: kernel.release, createdAt: new Date().toISOString() }
  const writeState = (): Promise<void> => writeFile(path.join(dir, 'state.json'), `${JSON.stringify(state)}\n`)
  await writeState()
  const procs: Proc[] = []
  let server: Server | undefined
  let sock: Socket | undefined
  const consoleLog = path.join(dir, 'console.log')
  const stderrTail: string[] = []
  const keep = (l: string): void => {
    stderrTail.push(l)
    if (stderrTail.length > 20) stderrTail.shift()
  }
  let down: Promise<void> | undefined
  // Aborted once the guest is ready (or failed): a boot timer left armed keeps the runner alive after its last kernel.
  const bootOver = new AbortController()
  const shutdown = (mux?: Mux): Promise<void> => {
    down ??= (async () => {
      if (mux && !mux.isClosed) {
        mux.send(7 /* POWEROFF */, 0)
        const qemu = procs[1]
        if (qemu) await Promise.race([qemu.exited, sleep(1500)])
      }
      sock?.destroy()
      await Promise.allSettled(procs.map((p) => p.stop({ sig: 'SIGKILL', graceMs: 500 })))
      server?.close()
      await rm(dir, { recursive: true, force: true })
    })()
    return down
  }
  try {
    const initrd = initramfsFor(kernel)
    const fsSocket = path.join(dir, 'fs.sock')
    const ctlSocket = path.join(dir, 'ctl.sock')
    // The runner listens; QEMU connects at start, before the guest runs, so nothing the guest
    // writes is lost (a virtio-serial write waits while the host side is not connected).
    const connected = new Promise<Socket>((resolve) => {
      server = createServer((s) => resolve(s))
    })
    await new Promise<void>((resolve, reject) => {
      server?.once('error', reject)
      server?.listen(ctlSocket, () => resolve())
    })
    const virtiofsd = spawnProcess([findVirtiofsd(), `--socket-path=${fsSocket}`, '-o', 'source=/', '-o', 'cache=always', '-o', 'sandbox=chroot', '-o', 'no_xattr'], { onStderrLine: keep })
    procs.push(virtiofsd)
    await virtiofsd.started
    state.virtiofsdPid = pidOf(virtiofsd)
    for (let i = 0; i < 500 && !existsSync(fsSocket); i++) {
      if (virtiofsd.hasExited) break
      await sleep(10)
    }
    if (!existsSync(fsSocket)) throw new LabError(`virtiofsd did not start: ${stderrTail.join(' | ') || 'no output'}`)
    const argv = qemuArgv({ kernel, initrd, accel, memMb, cpus, fsSocket, ctlSocket, consoleLog })
    // The guest is the lab's clock: under TCG its CPUs are host threads, and a loaded machine
    // that preempts them for hundreds of ms freezes the guest's sockets mid-step while its clock
    // runs on. A higher CFS weight (nice -10, QEMU_NICE) keeps them running without real-time
    // scheduling (which a busy TCG vCPU would turn into a starved host).
    const qemu = spawnProcess(['nice', '-n', String(QEMU_NICE), ...argv], { onStderrLine: keep })
    procs.push(qemu)
    await qemu.started.catch((e: unknown) => {
      throw new EnvironmentError('E_MISSING_TOOL', `cannot start ${QEMU}: ${(e as Error).message}`, { hint: 'apt-get install -y qemu-system-x86', cause: e })
    })
    state.qemuPid = pidOf(qemu)
    await writeState()
    const failed = qemu.exited.then((info) => {
      throw new LabError(`QEMU (${accel}) exited during boot (${info.signal ?? `code ${info.code ?? '?'}`}): ${stderrTail.join(' | ') || consoleTail(consoleLog)}`)
    })
    failed.catch(() => undefined)
    const timeout = sleep(timeoutMs, opts.signal ? AbortSignal.any([opts.signal, bootOver.signal]) : bootOver.signal).then(() => {
      throw new LabError(`guest on ${kernel.release} (${accel}) not ready within ${timeoutMs / 1000} s; console: ${consoleTail(consoleLog)}`)
    }, () => {
      throw new LabError('guest boot interrupted')
    })
    timeout.catch(() => undefined)
    sock = await Promise.race([connected, failed, timeout])
    const mux = guestMux(sock, `vm ${kernel.release}`)
    const release = await Promise.race([mux.ready, failed, timeout])
    const clock = await Promise.race([syncClock(mux), failed, timeout])
    const bootMs = Math.round(performance.now() - started)
    await Promise.race([mux.exec(['sh', '-c', WARM_SCRIPT], { reject: false, timeoutMs: timeoutMs }), failed, timeout])
    const warmMs = Math.round(performance.now() - started) - bootMs
    bootOver.abort()
    void qemu.exited.then(() => mux.fail(new LabError(`the guest on ${release} stopped (QEMU exited): ${stderrTail.join(' | ') || consoleTail(consoleLog)}`)))
    const guest: Guest = {
      guestId, kernel, release, accel, memMb, cpus, mux, bootMs, warmMs, clock,
      async checkClock(mayStep: boolean) {
        let c = await measureOffset(mux)
        if (mayStep && Math.abs(c.offsetUs) > RESYNC_US) c = await syncClock(mux)
        guest.clock = c
        return c
      },
      shutdown: () => shutdown(mux),
    }
    return guest
  } catch (e: unknown) {
    bootOver.abort()
    await shutdown()
    throw e
  }
}

function pidOf(p: Proc): number | undefined {
  return (p as Proc & { pid?: number }).pid ?? (p as unknown as { child?: { pid?: number } }).child?.pid
}

function consoleTail(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '')
    return lines.slice(-5).join(' | ') || '(empty)'
  } catch {
    return '(no console log)'
  }
}

/** Whether `pid` still runs a program that belongs to guest `dir` (its argv names the directory). */
function isGuestProcess(pid: number | undefined, dir: string): pid is number {
  if (pid === undefined || !isAlive(pid)) return false
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)
  } catch {
    return false
  }
}

/** Kill guests whose owning process is gone (or guest `id`) and remove their files; one line per thing removed. */
export async function gcGuests(id?: string): Promise<string[]> {
  const removed: string[] = []
  let names: string[]
  try {
    names = readdirSync(VM_STATE_DIR)
  } catch {
    return removed
  }
  for (const n of names) {
    if (n === 'initramfs') continue
    const dir = path.join(VM_STATE_DIR, n)
    if (id !== undefined && n !== id) continue
    let st: GuestState | undefined
    try {
      st = JSON.parse(await readFile(path.join(dir, 'state.json'), 'utf8')) as GuestState
    } catch {
      // no state: a guest that died while its directory was made (or a stray); old enough to be dead
      try {
        if (Date.now() - statSync(dir).mtimeMs < 60_000) continue
      } catch {
        continue
      }
    }
    if (id === undefined && st && st.ownerPid !== process.pid && isAlive(st.ownerPid)) continue
    for (const [what, pid] of [['QEMU', st?.qemuPid], ['virtiofsd', st?.virtiofsdPid]] as const) {
      if (isGuestProcess(pid, dir)) {
        try {
          process.kill(pid, 'SIGKILL')
          removed.push(`${what} of guest ${n} (pid ${pid})`)
        } catch {
          // gone
        }
      }
    }
    await rm(dir, { recursive: true, force: true })
    removed.push(`guest files ${dir}`)
  }
  return removed
}
