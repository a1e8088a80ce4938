// The static side of marks (`mark:` on an expectation, `since:` a mark in
// another): which expectations set and use which marks, and the order that
// evaluates every mark before its users. The loader checks it (unknown marks,
// cycles); src/expect/marks.ts resolves the moments at evaluation.

import { MARK_REF_RE } from './schema.js'

/** Where an expectation body refers to moments: its `since`, and the `since` of each states transition. */
export function referencesOf(body: Record<string, unknown>): string[] {
  const refs: string[] = []
  if (typeof body.since === 'string') refs.push(body.since)
  if (Array.isArray(body.sequence)) {
    for (const s of body.sequence) if (s && typeof s === 'object' && typeof (s as { since?: unknown }).since === 'string') refs.push((s as { since: string }).since)
  }
  return refs
}

/** The mark names each expectation declares (body.mark), by index. */
export function declaredMarks(bodies: ReadonlyArray<Record<string, unknown>>): Map<string, number[]> {
  const out = new Map<string, number[]>()
  bodies.forEach((b, i) => {
    if (typeof b.mark === 'string') out.set(b.mark, [...(out.get(b.mark) ?? []), i])
  })
  return out
}

/**
 * Evaluation order: every expectation after those whose marks it uses, else
 * file order. A cycle (a mark measured since a mark that depends on it) is
 * returned as the chain of indices, for the loader's error.
 */
export function evaluationOrder(bodies: ReadonlyArray<Record<string, unknown>>): { order: number[]; cycle?: number[] | undefined } {
  const marks = declaredMarks(bodies)
  const deps = bodies.map((b, i) => {
    const d = new Set<number>()
    for (const ref of referencesOf(b)) {
      const name = MARK_REF_RE.exec(ref)?.[1]
      if (name !== undefined) for (const j of marks.get(name) ?? []) if (j !== i) d.add(j)
    }
    return d
  })
  const order: number[] = []
  const state = new Array<0 | 1 | 2>(bodies.length).fill(0) // 0 new, 1 visiting, 2 done
  let cycle: number[] | undefined
  const visit = (i: number, path: number[]): void => {
    if (state[i] === 2 || cycle) return
    if (state[i] === 1) {
      cycle = [...path.slice(path.indexOf(i)), i]
      return
    }
    state[i] = 1
    for (const j of [...(deps[i] ?? [])].sort((a, b) => a - b)) visit(j, [...path, i])
    state[i] = 2
    order.push(i)
  }
  for (let i = 0; i < bodies.length; i++) visit(i, [])
  return cycle ? { order: bodies.map((_, i) => i), cycle } : { order }
}


// ---------------------------------------------------------------------------
// Steps after a mark (`after: zw`, `after: zw.2` plus `delay:`). A step fires
// during the run, so its mark must be known as it happens, and a moment once
// known must stay the one the end of the run gives. Marks set by `event` and
// `process` expectations are (their moments are agent events); so are marks
// set by `packets` expectations (the runner parses each capture as tcpdump
// writes it, and a packet's moment is its capture time), by `ss` expectations
// that look for a sample (`quantifier: eventually`: a matching sample's time)
// and by `states` sequences (a transition is dated by the sample that first
// shows it, or by a destroy event, both seen as they come). What only the end
// of the run can tell is refused: an `ss` that must hold in every sample
// (`always`, the default with a window) or in none, counts and trends over
// samples, an `exact` sequence (a later state undoes it), a mark's last moment.

/** The expectation kinds whose marks a step can wait for. */
export const LIVE_MARK_KINDS: ReadonlySet<string> = new Set(['event', 'process', 'packets', 'ss', 'states'])

/** Why a step cannot wait for the moments of this setter (known only when the run ends), or undefined. */
function notLiveWhy(kind: string, body: Record<string, unknown>): string | undefined {
  if (kind === 'ss') {
    if (body.sockets !== undefined || body.trend !== undefined) return `counts and trends over samples (${body.sockets !== undefined ? 'sockets:' : 'trend:'}) mark no moment; for the first sample where a socket matches, write match: with quantifier: eventually`
    const windowed = body.during !== undefined || body.before !== undefined || body.after !== undefined
    const q = typeof body.quantifier === 'string' ? body.quantifier : windowed ? 'always' : 'eventually'
    if (q === 'never') return 'quantifier never marks no moment; for the first sample that matches, write quantifier: eventually'
    if (q === 'always') return `with quantifier always${body.quantifier === undefined ? ' (the default with a window)' : ''} its moments count only if every sample of the window matches, which is known when the window ends; for the first sample that matches, write quantifier: eventually`
  }
  if (kind === 'states' && body.exact === true) return 'exact: a sequence that matches now may gain a state later (known only when the run ends); without exact the transitions are known as they are seen'
  return undefined
}

/** In StepMark.sampleHosts: a setter without `on:` reads the samples of every host. */
export const ANY_HOST = '*'

/** Kind and body of an expectation as written (`{ event: {...} }`). */
function kindAndBody(e: Record<string, unknown>): [string, Record<string, unknown>] {
  const k = Object.keys(e).find((x) => e[x] !== undefined) ?? ''
  return [k, (e[k] ?? {}) as Record<string, unknown>]
}

export interface StepMark {
  name: string
  /** 'first' or the nth moment (1-based). */
  pick: 'first' | number
  /** The canonical ref of the moment for the agents' gates: "mark:NAME.first", "mark:NAME.3". */
  gateRef: string
  /** The socket and process names its moments are measured on (setters and, through `since:`, the marks and events they count from). */
  names: Set<string>
  /** The hosts whose captures a packets setter involved reads (`on:`); empty when no packets expectation is involved. */
  packetHosts: Set<string>
  /** The hosts whose socket samples an ss or states setter involved reads (`on:`; ANY_HOST without one); empty when none is involved. */
  sampleHosts: Set<string>
  /** Whether a packets, ss or states setter involved selects by `socket:` (its packets and rows must be named as at the end of the run). */
  namedSockets: boolean
  /** Indices of the expectations involved (setters of this mark and of the marks they measure since), in evaluation order. */
  setters: number[]
  /** Where the agent can open the gate on its own event: "SRC.TYPE" (a mark that is exactly the first such event); else undefined (the runner evaluates it live). */
  direct?: string | undefined
}

/**
 * What a step's `after: REF` waits for when REF names a mark (`declared`: the
 * marks the expectations set), or a reason it cannot (a load error); undefined
 * when REF is not a mark (an event reference).
 */
export function stepMarkOf(ref: string, expect: ReadonlyArray<Record<string, unknown>>): StepMark | string | undefined {
  const m = MARK_REF_RE.exec(ref)
  const pairs = expect.map(kindAndBody)
  const bodies = pairs.map(([, b]) => b)
  const marks = declaredMarks(bodies)
  if (!m || !marks.has(m[1] as string)) return undefined
  const name = m[1] as string
  if (m[2] === 'last') return `a step cannot wait for ${ref}: the last moment of a mark is known only when the run ends; wait for ${name} (its first moment) or ${name}.N (the nth)`
  const pick: 'first' | number = m[2] === undefined || m[2] === 'first' ? 'first' : Number(m[2])
  const names = new Set<string>()
  const packetHosts = new Set<string>()
  const sampleHosts = new Set<string>()
  let namedSockets = false
  const involved = new Set<number>()
  const seen = new Set<string>()
  const visit = (mark: string, via: string): string | undefined => {
    if (seen.has(mark)) return undefined
    seen.add(mark)
    for (const i of marks.get(mark) ?? []) {
      const [kind, body] = pairs[i] as [string, Record<string, unknown>]
      const why = LIVE_MARK_KINDS.has(kind) ? notLiveWhy(kind, body) : 'it is known only when the run ends'
      if (why !== undefined) return `a step cannot wait for the mark "${mark}"${via}: it is set by a ${kind} expectation (#${i + 1}), and ${why}`
      involved.add(i)
      if (kind === 'packets' || kind === 'ss' || kind === 'states') {
        if (kind === 'packets') {
          if (typeof body.on === 'string') packetHosts.add(body.on)
        } else if (typeof body.on === 'string') sampleHosts.add(body.on)
        else sampleHosts.add(ANY_HOST)
        const sel = body.socket
        const sock = typeof sel === 'string' ? sel : sel && typeof sel === 'object' ? (sel as { listener?: unknown }).listener : undefined
        if (typeof sock === 'string') {
          names.add(sock)
          namedSockets = true
        }
      } else {
        const src = kind === 'process' ? body.name : (body.socket ?? body.source)
        if (typeof src === 'string') names.add(src)
      }
      for (const r of referencesOf(body)) {
        const rm = MARK_REF_RE.exec(r)
        if (rm && marks.has(rm[1] as string)) {
          if (rm[2] === 'last') return `a step cannot wait for the mark "${mark}"${via}: expectation #${i + 1} measures it since ${r}, whose last moment is known only when the run ends`
          const why = visit(rm[1] as string, ` (through "${mark}", measured since ${r})`)
          if (why !== undefined) return why
        } else if (r.includes('.')) names.add(r.slice(0, r.lastIndexOf('.')))
      }
    }
    return undefined
  }
  const why = visit(name, '') ?? statesPickWhy(ref, name, pick, pairs, marks.get(name) ?? [])
  if (why !== undefined) return why
  const order = evaluationOrder(bodies).order.filter((i) => involved.has(i))
  return { name, pick, gateRef: `mark:${name}.${pick}`, names, packetHosts, sampleHosts, namedSockets, setters: order, direct: directRef(name, pick, pairs, marks) }
}

/**
 * A states mark's moments are the transitions of its sequence, known together
 * once the last is seen: a step after an earlier one would always be late (it
 * is due at that transition plus the delay), and one after a moment past the
 * last never comes.
 */
function statesPickWhy(ref: string, name: string, pick: 'first' | number, pairs: ReadonlyArray<[string, Record<string, unknown>]>, setters: readonly number[]): string | undefined {
  const n = pick === 'first' ? 1 : pick
  for (const i of setters) {
    const [kind, body] = pairs[i] as [string, Record<string, unknown>]
    if (kind !== 'states' || !Array.isArray(body.sequence)) continue
    const states = body.sequence.map((x) => (typeof x === 'string' ? x : String((x as { state?: unknown }).state)))
    const last = states[states.length - 1] ?? ''
    if (n > states.length) return `a step cannot wait for ${ref}: the mark "${name}" is set by a states expectation (#${i + 1}) whose moments are the ${states.length} transitions of its sequence (${states.join(' → ')}); there is no moment #${n}`
    if (n < states.length) {
      const which = `${name}.${states.length}`
      return `a step cannot wait for ${ref} (${states[n - 1] ?? ''}): the mark "${name}" is set by a states expectation (#${i + 1}), whose moments (its transitions: ${states.join(' → ')}) are known together once the last, ${last}, is seen, so the step would always run late; wait for ${which} (${last}), or mark a sequence that ends with the state to wait for`
    }
  }
  return undefined
}

/** Keys of an event/process expectation that do not change which moments it marks. */
const NEUTRAL_KEYS = new Set(['mark', 'description', 'count', 'tolerance'])

/** "SRC.TYPE" when the mark is exactly the first event SRC.TYPE of the run (one setter, no filter, window or guard). */
function directRef(name: string, pick: 'first' | number, pairs: ReadonlyArray<[string, Record<string, unknown>]>, marks: Map<string, number[]>): string | undefined {
  const setters = marks.get(name) ?? []
  if (pick !== 'first' || setters.length !== 1) return undefined
  const [kind, body] = pairs[setters[0] as number] as [string, Record<string, unknown>]
  const rest = Object.keys(body).filter((k) => body[k] !== undefined && !NEUTRAL_KEYS.has(k))
  if (kind === 'event') {
    const src = body.socket ?? body.source
    const plain = rest.every((k) => k === 'socket' || k === 'source' || k === 'type')
    return plain && typeof src === 'string' && typeof body.type === 'string' ? `${src}.${body.type}` : undefined
  }
  // A process marks its exit, whatever exit code or output it is checked for.
  if (kind === 'process') return rest.every((k) => ['name', 'exit', 'stdout', 'stderr'].includes(k)) && typeof body.name === 'string' ? `${body.name}.exited` : undefined
  return undefined
}
