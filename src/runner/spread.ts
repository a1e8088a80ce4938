// Several backends in one run (`--docker-host a,b`: one docker backend per
// daemon): each scenario's lab goes, whole, to the backend with the fewest labs
// running at that moment; ties go to the one that has started the fewest so
// far, then to the first named. So --jobs 1 alternates between the daemons
// (round robin), and with several at a time a daemon that finishes early gets
// the next scenario. No lab spans two daemons: its hosts talk over one daemon's
// networks.

import type { Backend } from '../lab/index.js'

/** A backend taken for one scenario; release() when its lab is down. */
export interface BackendSlot {
  backend: Backend
  release(): void
}

/** Picks a backend for each scenario among several (one: always that one). */
export class BackendSpread {
  readonly backends: readonly Backend[]
  private readonly running: number[]
  private readonly started: number[]

  constructor(backends: readonly Backend[]) {
    if (backends.length === 0) throw new Error('BackendSpread needs at least one backend')
    this.backends = backends
    this.running = backends.map(() => 0)
    this.started = backends.map(() => 0)
  }

  /** Take the least busy backend (fewest running, then fewest started, then first). */
  acquire(): BackendSlot {
    let best = 0
    for (let i = 1; i < this.backends.length; i++) {
      const r = (this.running[i] as number) - (this.running[best] as number)
      if (r < 0 || (r === 0 && (this.started[i] as number) < (this.started[best] as number))) best = i
    }
    this.running[best] = (this.running[best] as number) + 1
    this.started[best] = (this.started[best] as number) + 1
    let released = false
    return {
      backend: this.backends[best] as Backend,
      release: () => {
        if (released) return
        released = true
        this.running[best] = (this.running[best] as number) - 1
      },
    }
  }

  /** How many scenarios each backend has started so far, in backend order. */
  startedCounts(): number[] {
    return [...this.started]
  }
}
