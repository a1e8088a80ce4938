// Load scenario files: YAML parsed with source positions, validated by the zod
// schema, then checked for meaning (known hosts, names defined before use).
// Every problem becomes `file:line:col path: message`; nothing is created.

import { constants as fsConstants } from 'node:fs'
import { open, readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml'
import type { z } from 'zod'
import { ScenarioError, type ScenarioIssue, type SourcePos } from '../util/errors.js'
import { actionOf, Scenario, type ActionName, type HostActions, type Step } from './schema.js'
import { evaluationOrder, stepMarkOf } from './marks.js'
import { MARK_REF_RE, SYSCTL_GUARD_RE } from './schema.js'
import { findPlaceholders } from './template.js'
import { excerptOf, MAX_ALIASES, MAX_DEPTH, MAX_FILE_BYTES, quoteExcerpt } from './limits.js'
import { SYSCTL_KEY_HINT } from './sysctl-values.js'

export interface LoadedScenario {
  /** Path as given (relative paths stay relative, for messages). */
  file: string
  /** The file's text, copied into results as scenario.yaml. */
  source: string
  scenario: Scenario
  /** Source position of steps[i] and expect[i], for reports. */
  stepPos: SourcePos[]
  expectPos: SourcePos[]
  /** Source position of any path in the document (its key with atKey), for checks made after loading. */
  posOf?: ((p: Array<string | number>, atKey?: boolean) => SourcePos) | undefined
}

/** Load and validate one scenario file; throws ScenarioError listing every problem. */
export async function loadScenario(file: string): Promise<LoadedScenario> {
  return parseScenario(await readScenarioText(file), file)
}

/**
 * Read a scenario file within the limits (limits.ts): a regular file, at most MAX_FILE_BYTES,
 * text without NUL bytes. /dev/zero, a FIFO or a directory is refused before it is opened for
 * reading (O_NONBLOCK: opening a FIFO does not wait for a writer); a /proc file (size 0 in its
 * stat) is read up to the limit and no further.
 */
export async function readScenarioText(file: string): Promise<string> {
  const fail = (message: string, cause?: unknown): ScenarioError =>
    new ScenarioError([{ file, line: 1, col: 1, path: '', message }], { cause, hint: 'a scenario is a YAML text file of at most 1 MiB' })
  let fh
  try {
    fh = await open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY)
  } catch (e: unknown) {
    const code = (e as NodeJS.ErrnoException).code
    throw fail(`cannot read file: ${code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (code ?? 'error')}`, e)
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw fail(`not a regular file (${st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a file'})`)
    if (st.size > MAX_FILE_BYTES) throw fail(`file is ${st.size} bytes, more than the limit of ${MAX_FILE_BYTES} (1 MiB)`)
    const buf = Buffer.alloc(MAX_FILE_BYTES + 1)
    let n = 0
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null)
      if (bytesRead === 0) break
      n += bytesRead
      if (n > MAX_FILE_BYTES) throw fail(`file is more than the limit of ${MAX_FILE_BYTES} bytes (1 MiB)`)
    }
    const nul = buf.subarray(0, n).indexOf(0)
    const text = buf.subarray(0, n).toString('utf8')
    if (nul >= 0) {
      const before = buf.subarray(0, nul).toString('utf8')
      const line = before.split('\n').length
      const col = nul - before.lastIndexOf('\n')
      throw new ScenarioError([{ file, line, col, path: '', message: 'not a text file: it holds a NUL byte' }], { hint: 'a scenario is a YAML text file' })
    }
    return text
  } catch (e: unknown) {
    if (e instanceof ScenarioError) throw e
    const code = (e as NodeJS.ErrnoException).code
    throw fail(`cannot read file: ${code ?? 'error'}`, e)
  } finally {
    await fh.close().catch(() => undefined)
  }
}

/** Validate scenario text (as read from `file`). */
export function parseScenario(source: string, file: string): LoadedScenario {
  if (source.length > MAX_FILE_BYTES) {
    throw new ScenarioError([{ file, line: 1, col: 1, path: '', message: `scenario text is more than the limit of ${MAX_FILE_BYTES} bytes (1 MiB)` }])
  }
  try {
    return parseWithinLimits(source, file)
  } catch (e: unknown) {
    if (e instanceof ScenarioError) throw e
    // A limit the checks above did not foresee (deep recursion in a library): still bad input, with a position.
    if (e instanceof RangeError || (e instanceof Error && /alias|call stack|Invalid string length/i.test(e.message))) {
      throw new ScenarioError([{ file, line: 1, col: 1, path: '', message: `the file exceeds the parser's limits (${excerptOf(e.message, 60)})` }], { cause: e })
    }
    throw e
  }
}

function parseWithinLimits(source: string, file: string): LoadedScenario {
  const lc = new LineCounter()
  const doc = parseDocument(source, { lineCounter: lc, prettyErrors: false, uniqueKeys: true })
  const posAt = (offset: number): SourcePos => {
    const p = lc.linePos(offset)
    return { file, line: p.line, col: p.col }
  }
  if (doc.errors.length > 0) {
    throw new ScenarioError(doc.errors.slice(0, 20).map((e) => ({ ...posAt(e.pos[0]), path: '', message: `YAML: ${excerptOf(firstLine(e.message), 120)}` })))
  }
  const limit = checkTreeLimits(doc)
  if (limit) throw new ScenarioError([{ ...posAt(limit.offset), path: '', message: limit.message }], { hint: limit.hint })
  const data: unknown = doc.toJS({ maxAliasCount: MAX_ALIASES })
  const result = Scenario.safeParse(data)
  if (!result.success) {
    const hosts = hostNamesOf(data)
    const issues = sortIssues(result.error.issues.slice(0, 50).map((i) => toIssue(i, doc, posAt, hosts)))
    throw new ScenarioError(issues, { hint: issues.some((i) => i.message.includes('not a network-namespace key')) ? SYSCTL_KEY_HINT : undefined })
  }
  const scenario = result.data
  const nodePos = (p: Array<string | number>, atKey = false): SourcePos => positionOf(doc, p, posAt, atKey)
  const issues = checkMeaning(scenario, nodePos)
  if (issues.length > 0) throw new ScenarioError(sortIssues(issues))
  return {
    file,
    source,
    scenario,
    stepPos: scenario.steps.map((_, i) => nodePos(['steps', i])),
    expectPos: scenario.expect.map((_, i) => nodePos(['expect', i])),
    posOf: nodePos,
  }
}

/** Find scenario files: each PATH is a file or a directory searched recursively for *.yaml/*.yml. */
export async function findScenarioFiles(paths: string[]): Promise<string[]> {
  const out: string[] = []
  for (const p of paths) {
    let st
    try {
      st = await stat(p)
    } catch {
      throw new ScenarioError([{ file: p, line: 1, col: 1, path: '', message: 'no such file or directory' }])
    }
    if (st.isDirectory()) {
      const entries = await readdir(p, { recursive: true })
      out.push(...entries.filter((e) => /\.ya?ml$/.test(e)).map((e) => path.join(p, e)).sort())
    } else {
      out.push(p)
    }
  }
  return out
}

/** Load many files, collecting every file's problems into one error. Also rejects duplicate names. */
export async function loadScenarios(files: string[]): Promise<LoadedScenario[]> {
  const loaded: LoadedScenario[] = []
  const issues: ScenarioIssue[] = []
  const hints = new Set<string>()
  for (const f of files) {
    try {
      loaded.push(await loadScenario(f))
    } catch (e: unknown) {
      if (!(e instanceof ScenarioError)) throw e
      issues.push(...e.issues)
      if (e.hint) hints.add(e.hint)
    }
  }
  const seen = new Map<string, string>()
  for (const l of loaded) {
    const other = seen.get(l.scenario.name)
    if (other) issues.push({ file: l.file, line: 1, col: 1, path: 'name', message: `duplicate scenario name "${l.scenario.name}" (also in ${other})` })
    seen.set(l.scenario.name, l.file)
  }
  if (issues.length > 0) throw new ScenarioError(issues, { hint: hints.size > 0 ? [...hints].join('\nhint: ') : undefined })
  return loaded
}

/**
 * Aliases and nesting, counted on the parsed tree without recursion (an explicit stack), so
 * that neither an alias bomb nor a 100 000-deep `[[[[...` gets to toJS or the schema.
 */
function checkTreeLimits(doc: Document): { offset: number; message: string; hint: string } | undefined {
  let aliases = 0
  const stack: Array<[unknown, number]> = [[doc.contents, 1]]
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number]
    if (node === null || node === undefined) continue
    const offset = (node as { range?: [number, number, number] }).range?.[0] ?? 0
    if (isAlias(node)) {
      if (++aliases > MAX_ALIASES) return { offset, message: `more than ${MAX_ALIASES} YAML aliases`, hint: 'a scenario needs few aliases (*name); write the values out' }
      continue
    }
    if (isMap(node) || isSeq(node)) {
      if (depth > MAX_DEPTH) return { offset, message: `nested more than ${MAX_DEPTH} levels deep`, hint: 'a scenario is a few levels deep; this file is not one' }
      for (const item of node.items) {
        if (isPair(item)) {
          stack.push([item.key, depth + 1], [item.value, depth + 1])
        } else stack.push([item, depth + 1])
      }
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------

type PosFn = (p: Array<string | number>, atKey?: boolean) => SourcePos
const STEP_KEYS = ['at', 'after', 'delay', 'timeout', 'wait']

/** Host key and action of a step (the schema guarantees at most one host key). */
export function stepTarget(step: Step): { host: string; action: ActionName; args: unknown } | undefined {
  for (const [k, v] of Object.entries(step)) {
    if (STEP_KEYS.includes(k) || v === undefined) continue
    const acts = v as HostActions
    for (const [a, args] of Object.entries(acts)) {
      if (args !== undefined) return { host: k, action: a as ActionName, args }
    }
  }
  return undefined
}

/** Checks the schema cannot express: names defined before use, hosts known, times in range. */
function checkMeaning(s: Scenario, pos: PosFn): ScenarioIssue[] {
  const issues: ScenarioIssue[] = []
  const add = (p: Array<string | number>, message: string, atKey = false): void => {
    issues.push({ ...pos(p, atKey), path: formatPath(p), message })
  }
  const hosts = Object.keys(s.hosts)
  const wires = hosts.filter((h) => s.hosts[h]?.role === 'wire')
  if (hosts.length < 2) add(['hosts'], `expected at least two hosts, got ${hosts.length}`)
  if (wires.length > 1) add(['hosts'], 'expected at most one host with role: wire')
  if (wires.length === 1 && hosts.length !== 3) add(['hosts'], 'a wire host sits between exactly two other hosts')
  const hostList = hosts.map((h) => `"${h}"`).join(', ')

  // Names: processes (run) and sockets (agent) per host, iptables rules per host.
  const procs = new Map<string, string>() // name -> host
  const sockets = new Map<string, string>()
  const rules = new Map<string, string>()
  const eventSources = new Set<string>()
  // A listener's later connections are named AS-2, AS-3, ... (schema: ListenAction.as).
  const acceptNames = new Map<string, string>() // AS -> host
  function isAcceptedName(name: string): boolean {
    const m = /^(.+)-(\d+)$/.exec(name)
    return m !== null && Number(m[2]) >= 2 && acceptNames.has(m[1] as string)
  }

  // `sockets:` names for command endpoints: their own names, on real hosts.
  for (const [name, sel] of Object.entries(s.sockets ?? {})) {
    const p = ['sockets', name]
    if (!s.hosts[sel.on]) add([...p, 'on'], `unknown host "${sel.on}" (hosts: ${hostList})`)
    if (sel.local === undefined && sel.peer === undefined) add(p, 'expected local or peer: a name needs ports to find its sockets by')
    sockets.set(name, sel.on)
    eventSources.add(name)
  }

  let lastAtMs = 0
  s.steps.forEach((step, i) => {
    const p: Array<string | number> = ['steps', i]
    const hostKeys = Object.keys(step).filter((k) => !STEP_KEYS.includes(k))
    for (const h of hostKeys) if (!s.hosts[h]) add([...p, h], `unknown host "${h}" (hosts: ${hostList})`, true)
    if (hostKeys.length > 1) add(p, `expected one host per step, got ${hostKeys.join(' and ')}`)
    if (hostKeys.length === 0 && step.wait === undefined) add(p, `expected a host key (${hostList}) with an action, or wait`)
    if (hostKeys.length > 0 && step.wait !== undefined) add([...p, 'wait'], 'wait is a step of its own; move it to a separate step')
    if (step.at !== undefined && step.after !== undefined) add([...p, 'after'], 'use either at or after, not both')
    if (step.delay !== undefined && step.after === undefined) add([...p, 'delay'], 'delay only applies to after: EVENT or MARK')
    if (step.at !== undefined) {
      if (step.at < lastAtMs) add([...p, 'at'], `steps run in order: at ${step.at}ms is earlier than a previous step's at ${lastAtMs}ms`)
      lastAtMs = step.at
      if (s.duration !== undefined && step.at > s.duration) add([...p, 'at'], `at is after the scenario's duration`)
    }
    const refs: Array<[Array<string | number>, string]> = []
    if (step.after) refs.push([[...p, 'after'], step.after])
    if (step.wait !== undefined && typeof step.wait === 'object') refs.push([[...p, 'wait', 'for'], step.wait.for])
    for (const [rp, ref] of refs) {
      const mark = stepMarkOf(ref, s.expect as unknown as Array<Record<string, unknown>>)
      if (typeof mark === 'string') add(rp, mark)
      else if (mark) {
        if (mark.packetHosts.size > 0 && s.capture === false) add(rp, `the mark "${mark.name}" is set by packets, and this scenario captures none (capture: false): the step would never run`)
        // Its moments must come from names earlier steps define: else the step would wait for itself.
        for (const n of mark.names) {
          if (!eventSources.has(n) && !isAcceptedName(n)) add(rp, `the mark "${mark.name}" is measured on "${n}", which no earlier step defines: the step would wait for a moment that only it, or a step after it, can bring about`)
        }
      } else checkRef(rp, ref)
    }

    const target = stepTarget(step)
    if (!target || !s.hosts[target.host]) return
    const { host, action, args } = target
    const ap = [...p, host, action]
    const defineName = (map: Map<string, string>, name: string, key: string, what: string): void => {
      if (procs.has(name) || sockets.has(name)) add([...ap, key], `${what} name "${name}" is already used`)
      map.set(name, host)
      eventSources.add(name)
    }
    const useName = (map: Map<string, string>, name: string, key: string, what: string): void => {
      const where = map.get(name) ?? (map === sockets && isAcceptedName(name) ? acceptNames.get(name.replace(/-\d+$/, '')) : undefined)
      if (where === undefined) add([...ap, key], `unknown ${what} "${name}" (define it in an earlier step)`)
      else if (where !== host) add([...ap, key], `${what} "${name}" is on host "${where}", not "${host}"`)
    }
    // The names the action defines and uses, as its definition (src/actions/) says.
    for (const ref of actionOf(action).refs(args)) {
      if ('defines' in ref) defineName(ref.defines === 'process' ? procs : sockets, ref.name, ref.key, ref.defines)
      else if ('uses' in ref) useName(ref.uses === 'process' ? procs : sockets, ref.name, ref.key, ref.uses)
      else if ('accepts' in ref) {
        sockets.set(ref.accepts, host)
        eventSources.add(ref.accepts)
        acceptNames.set(ref.accepts, host)
      } else if ('hostPort' in ref) checkHostPort([...ap, ref.key], ref.hostPort)
      else if ('deletesRule' in ref) {
        const name = ref.deletesRule
        const where = rules.get(`${action}:${name}`)
        if (where === undefined) add([...ap, ref.key], `unknown rule "${name}" (name it in an earlier ${action} step)`)
        else if (where !== host) add([...ap, ref.key], `rule "${name}" is on host "${where}", not "${host}"`)
        else rules.delete(`${action}:${name}`)
      } else {
        if (rules.has(`${action}:${ref.addsRule}`)) add([...ap, ref.key], `rule "${ref.addsRule}" already exists`)
        rules.set(`${action}:${ref.addsRule}`, host)
      }
    }
    // {{host}} placeholders must name hosts.
    for (const [sp, text] of stringsIn(args, ap)) {
      for (const ph of findPlaceholders(text)) {
        if (!s.hosts[ph.host]) add(sp, `unknown host "{{${ph.raw}}}" in placeholder (hosts: ${hostList})`)
      }
    }
  })

  function checkRef(p: Array<string | number>, ref: string): void {
    const name = ref.slice(0, ref.lastIndexOf('.'))
    if (!ref.includes('.')) {
      add(p, `"${ref}" is neither an event (NAME.EVENT) nor a mark (${markList()})`)
    } else if (!eventSources.has(name) && !procs.has(name) && !sockets.has(name) && !isAcceptedName(name)) {
      add(p, `"${ref}" refers to "${name}", which no earlier step defines (run name or socket name)${MARK_REF_RE.test(ref) ? `, and is not a mark (${markList()})` : ''}`)
    }
  }
  function markList(): string {
    const names = [...new Set(s.expect.map((e) => (Object.values(e).find((v) => v !== undefined) as { mark?: unknown }).mark).filter((m): m is string => typeof m === 'string'))]
    return names.length ? `marks: ${names.map((m) => `"${m}"`).join(', ')}` : 'no expectation sets one with mark:'
  }
  function checkHostPort(p: Array<string | number>, hp: string): void {
    const h = hp.slice(0, hp.lastIndexOf(':'))
    if (/^[a-z]/.test(h) && !s.hosts[h]) add(p, `unknown host "${h}" (hosts: ${hostList})`)
  }

  // Expectations: hosts, names and references exist; marks (mark:) are named once per meaning and used without cycles.
  const bodies = s.expect.map((e) => Object.values(e).find((v) => v !== undefined) as Record<string, unknown>)
  const markNames = new Map<string, number[]>()
  bodies.forEach((b, i) => {
    if (typeof b.mark === 'string') markNames.set(b.mark, [...(markNames.get(b.mark) ?? []), i])
  })
  const { cycle } = evaluationOrder(bodies)
  if (cycle) {
    const first = cycle[0] as number
    const kind = Object.keys(s.expect[first] ?? {}).find((k) => (s.expect[first] as Record<string, unknown>)[k] !== undefined) ?? ''
    add(['expect', first, kind, 'since'], `marks depend on each other in a circle: expectations ${cycle.map((k) => `#${k + 1}`).join(' → ')}`)
  }
  s.expect.forEach((e, i) => {
    const [kind, body] = Object.entries(e).find(([, v]) => v !== undefined) as [string, Record<string, unknown>]
    const p: Array<string | number> = ['expect', i, kind]
    if (typeof body.on === 'string' && !s.hosts[body.on]) add([...p, 'on'], `unknown host "${body.on}" (hosts: ${hostList})`)
    const sinceRefs: Array<[Array<string | number>, string]> = typeof body.since === 'string' ? [[[...p, 'since'], body.since]] : []
    if (Array.isArray(body.sequence)) {
      body.sequence.forEach((it: unknown, k: number) => {
        if (it && typeof it === 'object' && typeof (it as { since?: unknown }).since === 'string') sinceRefs.push([[...p, 'sequence', k, 'since'], (it as { since: string }).since])
      })
    }
    for (const [sp, ref] of sinceRefs) {
      const markName = MARK_REF_RE.exec(ref)?.[1]
      if (markName !== undefined && markNames.has(markName)) {
        if (markNames.get(markName)?.includes(i) && markNames.get(markName)?.length === 1) add(sp, `"${ref}" is the mark this expectation sets: measure it since another moment`)
        continue
      }
      const name = ref.slice(0, ref.lastIndexOf('.'))
      if (!ref.includes('.') || !eventSources.has(name)) {
        add(sp, `"${ref}" is neither a mark (${markNames.size ? [...markNames.keys()].map((m) => `"${m}"`).join(', ') : 'no expectation sets one with mark:'}) nor an event of a name a step defines`)
      }
    }
    const when = body.when as { sysctl?: string | string[]; noSysctl?: string | string[] } | undefined
    for (const k of ['sysctl', 'noSysctl'] as const) {
      const gs = when?.[k] === undefined ? [] : Array.isArray(when[k]) ? when[k] : [when[k]]
      gs.forEach((g, gi) => {
        const h = SYSCTL_GUARD_RE.exec(g)?.[1]
        if (h !== undefined && !s.hosts[h]) add([...p, 'when', k, ...(Array.isArray(when?.[k]) ? [gi] : [])], `unknown host "${h}" (hosts: ${hostList})`)
      })
    }
    if (typeof body.mark === 'string' && (eventSources.has(body.mark) || procs.has(body.mark) || sockets.has(body.mark))) {
      add([...p, 'mark'], `mark "${body.mark}" has the name of a socket or process: choose another (since: ${body.mark}.EVENT would be ambiguous)`)
    }
    if (kind === 'process' && !procs.has(body.name as string)) add([...p, 'name'], `unknown process "${String(body.name)}"`)
    if ((kind === 'ss' || kind === 'states') && body.on === undefined && typeof body.socket !== 'string') {
      add(p, 'expected on: HOST (or socket: NAME of a named socket)')
    }
    if (typeof body.socket === 'string' && !sockets.has(body.socket) && !isAcceptedName(body.socket)) add([...p, 'socket'], `unknown socket "${body.socket}"`)
    const listener = typeof body.socket === 'object' && body.socket !== null ? (body.socket as { listener?: string }).listener : undefined
    if (listener !== undefined && !sockets.has(listener)) add([...p, 'socket', 'listener'], `unknown socket "${listener}"`)
    if (kind === 'event') {
      const src = (body.socket ?? body.source) as string | undefined
      if (src === undefined) add(p, 'expected socket: NAME or source: NAME')
      else if (!eventSources.has(src) && !isAcceptedName(src)) add([...p, body.socket ? 'socket' : 'source'], `unknown socket or process "${src}"`)
    }
    if (kind === 'counter' && body.value === undefined && body.packets === undefined && body.bytes === undefined) {
      add(p, 'expected value, packets or bytes')
    }
    if (kind === 'packets' && body.at !== undefined && body.gaps !== undefined) add([...p, 'gaps'], 'use either at or gaps, not both')
    if (Array.isArray(body.at) && kind !== 'packets' && kind !== 'event') add([...p, 'at'], 'a list of times applies to packets and event expectations; use one time, or during: [FROM, TO]')
    for (const stream of ['stdout', 'stderr']) {
      const v = body[stream]
      if (typeof v === 'string' && v.length > 2 && v.startsWith('/') && v.endsWith('/')) {
        try {
          new RegExp(v.slice(1, -1))
        } catch (err: unknown) {
          add([...p, stream], `bad regular expression ${excerptOf(v)}: ${excerptOf((err as Error).message, 80)}`)
        }
      }
    }
    const windows = ['at', 'during', 'before', 'after'].filter((k) => body[k] !== undefined)
    if (windows.length > 1 && !(windows.length === 2 && windows.includes('before') && windows.includes('after'))) {
      add([...p, windows[1] as string], `use one of at, during, before/after (got ${windows.join(' and ')})`)
    }
    const during = body.during as [number, number | 'end'] | undefined
    if (during && during[1] !== 'end' && during[1] < during[0]) add([...p, 'during'], 'the window ends before it starts')
  })
  return issues
}

/** Every string inside a value, with its path (for placeholder checks). */
function* stringsIn(v: unknown, p: Array<string | number>): Generator<[Array<string | number>, string]> {
  if (typeof v === 'string') yield [p, v]
  else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) yield* stringsIn(v[i], [...p, i])
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) yield* stringsIn(x, [...p, k])
}

function hostNamesOf(data: unknown): string[] {
  const hosts = (data as { hosts?: unknown } | null)?.hosts
  return hosts && typeof hosts === 'object' ? Object.keys(hosts) : []
}

function toIssue(i: z.core.$ZodIssue, doc: Document, posAt: (o: number) => SourcePos, hosts: string[]): ScenarioIssue {
  const p = i.path.filter((k): k is string | number => typeof k !== 'symbol')
  // A step key that is neither a timing key nor a host: say so instead of "expected object".
  const stepKey = p.length === 3 && p[0] === 'steps' ? p[2] : undefined
  if (typeof stepKey === 'string' && !STEP_KEYS.includes(stepKey) && !hosts.includes(stepKey)) {
    return {
      ...positionOf(doc, p, posAt, true),
      path: formatPath(p),
      message: `unknown key "${excerptOf(stepKey)}": a step has ${STEP_KEYS.join(', ')}, or a host name (${hosts.map((h) => `"${h}"`).join(', ')})`,
    }
  }
  if (i.code === 'invalid_key') {
    // A record key the schema refused (a sysctl key): its own message, at the key.
    const inner = i.issues[0]?.message ?? i.message
    return { ...positionOf(doc, p, posAt, true), path: formatPath(p), message: inner }
  }
  if (i.code === 'unrecognized_keys') {
    const key = i.keys[0] as string
    const keyPath = [...p, key]
    return { ...positionOf(doc, keyPath, posAt, true), path: formatPath(keyPath), message: unknownKeyMessage(i.keys, p) }
  }
  return { ...positionOf(doc, p, posAt), path: formatPath(p), message: describeIssue(i, doc, p) }
}

function unknownKeyMessage(keys: string[], p: Array<string | number>): string {
  const which = keys.slice(0, 5).map((k) => `"${excerptOf(k)}"`).join(', ')
  if (p.length === 2 && p[0] === 'steps') return `unknown key ${which}: a step has at, after, delay, timeout, wait, or a host name`
  return `unknown key ${which}`
}

/** zod's message rewritten as `expected ..., got ...` with the value from the file. */
function describeIssue(i: z.core.$ZodIssue, doc: Document, p: Array<string | number>): string {
  const node = doc.getIn(p, true) as Node | undefined
  const got = node === undefined ? 'nothing' : describeNode(node)
  switch (i.code) {
    case 'invalid_type':
      if (p[0] === 'steps' && (p[2] === 'after' || (p[2] === 'wait' && p[3] === 'for')) && node !== undefined) return `expected an event ("cli.connected") or a mark, written as in since: ("zw", "zw.2"), got ${got}`
      return node === undefined ? `missing required key (expected ${i.expected})` : `expected ${i.expected}, got ${got}`
    case 'invalid_value':
      return `expected one of ${i.values.map((v) => JSON.stringify(v)).join(', ')}, got ${got}`
    case 'invalid_union': {
      // Prefer the message of the branch that got furthest.
      const inner = i.errors.flat().find((e) => e.code === 'custom' || e.code === 'invalid_format')
      return inner ? `${inner.message}` : `expected ${unionExpectation(p)}, got ${got}`
    }
    case 'invalid_format':
      return `${i.message.replace(/^Invalid string: /, '')}, got ${got}`
    case 'too_small':
      return i.origin === 'array' ? `expected at least ${String(i.minimum)} item(s)` : `expected at least ${String(i.minimum)}, got ${got}`
    case 'too_big':
      return `expected at most ${String(i.maximum)}, got ${got}`
    default:
      return i.message
  }
}

function unionExpectation(p: Array<string | number>): string {
  const last = p[p.length - 1]
  if (last === 'iptables' || last === 'ip6tables') return 'a rule (string or list), { name, rule } or { delete: NAME }'
  if (last === 'wait' && p[0] === 'steps') return 'a duration ("2s") or { for: EVENT or MARK ("cli.error", "zw.2"), timeout }'
  return 'one of the allowed forms'
}

function describeNode(n: Node): string {
  if (isScalar(n)) return quoteExcerpt(n.value)
  if (isSeq(n)) return 'a list'
  if (isMap(n)) return 'a mapping'
  return 'a value'
}

/** Position of the node at path `p` (or of its key); falls back to the nearest ancestor. */
function positionOf(doc: Document, p: Array<string | number>, posAt: (o: number) => SourcePos, preferKey = false): SourcePos {
  for (let n = p.length; n >= 0; n--) {
    const sub = p.slice(0, n)
    if (preferKey || n < p.length) {
      const keyNode = keyNodeAt(doc, sub)
      if (keyNode?.range) return posAt(keyNode.range[0])
    }
    const node = (sub.length === 0 ? doc.contents : doc.getIn(sub, true)) as Node | null | undefined
    if (node && node.range) return posAt(node.range[0])
  }
  return posAt(0)
}

/** The key node of the pair that holds path `p` (so unknown keys point at the key). */
function keyNodeAt(doc: Document, p: Array<string | number>): Node | undefined {
  if (p.length === 0) return undefined
  const parent = (p.length === 1 ? doc.contents : doc.getIn(p.slice(0, -1), true)) as Node | null | undefined
  const last = p[p.length - 1]
  if (!parent || !isMap(parent)) return undefined
  for (const item of parent.items) {
    if (isPair(item) && isScalar(item.key) && item.key.value === last) return item.key as Node
  }
  return undefined
}

/** `steps[2].client.run.cmd[0]` */
export function formatPath(p: ReadonlyArray<string | number>): string {
  let out = ''
  for (const k of p) out += typeof k === 'number' ? `[${k}]` : out === '' ? k : `.${k}`
  return out
}

function sortIssues(issues: ScenarioIssue[]): ScenarioIssue[] {
  return [...issues].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col)
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s
}
