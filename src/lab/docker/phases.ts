// Where a docker lab's up and down spend their time: each phase (network
// create, container create+start, routes, events, teardown steps) is timed and
// handed to whoever listens (bench/lab-updown.ts prints the medians). No
// listener, no cost beyond a performance.now() per phase.

/** One timed phase of a lab's up or down, ms from the start of that up/down. */
export interface DockerPhase {
  name: string
  startMs: number
  durationMs: number
}

/** The phases of one lab's up or down. */
export interface DockerPhaseReport {
  labId: string
  stage: 'up' | 'down'
  totalMs: number
  phases: DockerPhase[]
}

type PhaseListener = (report: DockerPhaseReport) => void

const listeners = new Set<PhaseListener>()

/** Be told the phases of every docker lab's up and down from now on; returns the unsubscribe. */
export function watchDockerPhases(listener: PhaseListener): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

/** Times the phases of one up or down (phases may overlap: each is timed on its own). */
export class PhaseClock {
  private readonly t0 = performance.now()
  private readonly phases: DockerPhase[] = []

  constructor(private readonly labId: string, private readonly stage: 'up' | 'down') {}

  /** Run `fn` as phase `name`. */
  async time<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    const start = performance.now()
    try {
      return await fn()
    } finally {
      this.phases.push({ name, startMs: start - this.t0, durationMs: performance.now() - start })
    }
  }

  /** Hand the phases to the listeners (once the up or down is over). */
  report(): void {
    if (listeners.size === 0) return
    const report: DockerPhaseReport = { labId: this.labId, stage: this.stage, totalMs: performance.now() - this.t0, phases: [...this.phases] }
    for (const l of listeners) l(report)
  }
}
