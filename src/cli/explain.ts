// `tcplab explain NAME`: the scenario's story, its timeline of steps, what to
// watch for (the expectations), and what the ss fields, states and timers
// they mention mean (from the report glossary, so both say the same).

import { formatMs } from '../util/duration.js'
import { stepTarget, type LoadedScenario } from '../scenario/loader.js'
import { kindOf } from '../expect/index.js'
import { QUEUE_MEANINGS, SS_FIELDS, STATE_MEANINGS, TIMER_MEANINGS, findMentionedFields, type FieldMeaning } from '../report/glossary.js'

/** The text printed by `tcplab explain`. */
export function explainScenario(l: LoadedScenario): string {
  const s = l.scenario
  const lines: string[] = [`${s.name}: ${s.title}`, `file: ${l.file}${s.tags.length ? `   tags: ${s.tags.join(', ')}` : ''}`, '']
  lines.push(...s.explain.trimEnd().split('\n').map((x) => `  ${x}`), '')
  lines.push('hosts:')
  for (const [name, h] of Object.entries(s.hosts)) {
    const sys = { ...s.sysctls, ...h.sysctls }
    // Optional sysctls come out of the schema as "?key" (set only where the kernel has them).
    const shown = Object.entries(sys).map(([k, v]) => (k.startsWith('?') ? `${k.slice(1)}=${v} (if the kernel has it)` : `${k}=${v}`))
    lines.push(`  ${name}${h.role ? ` (${h.role})` : ''}${shown.length ? `  ${shown.join(' ')}` : ''}`)
  }
  lines.push('', 'timeline:')
  s.steps.forEach((st, i) => {
    const when = st.at !== undefined ? `at ${formatMs(st.at)}` : st.after ? `after ${st.after}${st.delay ? ` + ${formatMs(st.delay)}` : ''}` : 'then'
    const t = stepTarget(st)
    const what = t ? `${t.host}: ${t.action} ${JSON.stringify(t.args)}` : `wait ${typeof st.wait === 'number' ? formatMs(st.wait) : `for ${st.wait?.for ?? ''}`}`
    lines.push(`  ${String(i).padStart(2)}. ${when.padEnd(24)} ${what}`)
  })
  lines.push(`      run ends at ${s.duration !== undefined ? formatMs(s.duration) : '1s after the last step'}`)
  lines.push('', 'what to watch (expectations):')
  const mentioned: string[] = []
  s.expect.forEach((e, i) => {
    const { kind, body } = kindOf(e)
    const desc = body.description ?? JSON.stringify(body)
    lines.push(`  ${String(i).padStart(2)}. ${kind}: ${desc}`)
    const detail = describeExpectation(kind, body as Record<string, unknown>)
    if (detail) lines.push(`      ${detail}`)
    // Fields named by what is checked (ss match keys, states), not by the prose of the description.
    const { description: _d, ...claim } = body as Record<string, unknown>
    mentioned.push(JSON.stringify(claim))
  })
  // A `sockets:` name stands for its selector: the states it names are watched too.
  for (const sel of Object.values(s.sockets ?? {})) mentioned.push(JSON.stringify(sel))
  lines.push(...explainFields(mentioned))
  return `${lines.join('\n')}\n`
}

/** Keys whose numbers are durations in ms (the schema parsed "1.5s" to 1500). */
const DURATION_KEYS = new Set(['at', 'during', 'before', 'after', 'gaps', 'tolerance', 'floor'])

/** "ss on=server match={sendQ: 6, timer: on} during [1.1s, 4s]" — the claim without its description. */
function describeExpectation(kind: string, body: Record<string, unknown>): string {
  const window = ['at', 'during', 'before', 'after', 'since', 'tolerance']
    .filter((k) => body[k] !== undefined)
    .map((k) => `${k} ${formatValue(body[k], DURATION_KEYS.has(k))}`)
    .join(' ')
  const what = Object.entries(body)
    .filter(([k]) => !['description', 'at', 'during', 'before', 'after', 'since', 'tolerance', 'when'].includes(k))
    .map(([k, v]) => `${k}=${formatValue(v, DURATION_KEYS.has(k))}`)
    .join(' ')
  const when = body.when ? ` (only ${formatValue(body.when, false)})` : ''
  return `${kind} ${what}${window ? ` ${window}` : ''}${when}`
}

function formatValue(v: unknown, isDuration: boolean): string {
  if (typeof v === 'number') return isDuration ? formatMs(v) : String(v)
  if (Array.isArray(v)) return `[${v.map((x) => formatValue(x, isDuration)).join(', ')}]`
  if (v && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${k}: ${formatValue(x, (isDuration || DURATION_KEYS.has(k)) && k !== 'percent')}`).join(', ')}}`
  return String(v)
}

/** The glossary entries for the fields, states and timers the expectations mention. */
export function explainFields(texts: readonly string[]): string[] {
  const keys = findMentionedFields(texts)
  const words = new Set(texts.flatMap((t) => t.split(/[^A-Za-z0-9-]+/)))
  const states = Object.keys(STATE_MEANINGS).filter((st) => words.has(st))
  const timers = Object.keys(TIMER_MEANINGS).filter((tm) => texts.some((t) => new RegExp(`"timer(\\.name)?":"${tm}"`).test(t)))
  if (keys.length === 0 && states.length === 0 && timers.length === 0) return []
  const out = ['', 'what the ss fields mean:']
  for (const k of keys) {
    const f: FieldMeaning = SS_FIELDS[k]
    if (k === 'recvQ' || k === 'sendQ') {
      out.push(`  ${f.ss}: on a LISTEN socket, ${QUEUE_MEANINGS.listen[k]}; otherwise, ${QUEUE_MEANINGS.other[k]}`)
      continue
    }
    out.push(`  ${f.ss}${f.unit ? ` (${f.unit})` : ''}: ${f.meaning}`)
  }
  for (const st of states) out.push(`  state ${st}: ${STATE_MEANINGS[st] ?? ''}`)
  for (const tm of timers) out.push(`  timer ${tm}: ${TIMER_MEANINGS[tm] ?? ''}`)
  return out
}
