// The benches' own processes (the load they put beside what they measure, the
// CLI they time), run with zx: `$` with argv interpolation (each ${value}
// is one quoted argument), nothrow where a non-zero exit is a figure, not an
// error. What the benches measure (labs, agents, tcpdump) still goes through
// src/util/proc.ts, as tcplab itself runs it.
// (A file of bench/lib/, so `make bench` does not run it as a bench.)

import { $, type ProcessPromise } from 'zx'

/** Quiet (the benches print their own figures), and a failed exit is a value to look at. */
export const $bench = $({ quiet: true, nothrow: true })

export interface BusyLoops {
  count: number
  /** Kill them (SIGKILL) and wait until they are gone. */
  stop(): Promise<void>
}

/** `count` CPU-bound loops (one node process each) beside the bench: the loaded-machine figure. */
export function startBusyLoops(count: number): BusyLoops {
  const loops: ProcessPromise[] = Array.from({ length: count }, () => $bench`exec ${process.execPath} -e ${'for(;;){}'}`)
  // If the bench dies, its loops must not outlive it: kill synchronously on exit (zx's kill() is asynchronous).
  const killNow = (): void => {
    for (const p of loops) if (p.child?.pid) try { process.kill(p.child.pid, 'SIGKILL') } catch { /* already gone */ }
  }
  process.on('exit', killNow)
  return {
    count,
    async stop() {
      await Promise.all(loops.map((p) => p.kill('SIGKILL').catch(() => undefined)))
      await Promise.all(loops.map((p) => p.catch(() => undefined)))
      process.off('exit', killNow)
    },
  }
}

/** The 1-minute, 5-minute and 15-minute load averages, as printed beside every figure. */
export async function readLoadavg(): Promise<string> {
  return (await $bench`cat /proc/loadavg`).stdout.split(' ').slice(0, 3).join(' ')
}
