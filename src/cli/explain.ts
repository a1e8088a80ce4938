// `tcplab explain NAME`: the scenario's story, its timeline, and what to watch.

import { formatMs } from '../util/duration.js'
import { stepTarget, type LoadedScenario } from '../scenario/loader.js'
import { kindOf } from '../expect/index.js'

/** The text printed by `tcplab explain`. */
export function explainScenario(l: LoadedScenario): string {
  const s = l.scenario
  const lines: string[] = [`${s.name}: ${s.title}`, `file: ${l.file}${s.tags.length ? `   tags: ${s.tags.join(', ')}` : ''}`, '']
  lines.push(...s.explain.trimEnd().split('\n').map((x) => `  ${x}`), '')
  lines.push('hosts:')
  for (const [name, h] of Object.entries(s.hosts)) {
    const sys = { ...s.sysctls, ...h.sysctls }
    lines.push(`  ${name}${h.role ? ` (${h.role})` : ''}${Object.keys(sys).length ? `  ${Object.entries(sys).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`)
  }
  lines.push('', 'timeline:')
  s.steps.forEach((st, i) => {
    const when = st.at !== undefined ? `at ${formatMs(st.at)}` : st.after ? `after ${st.after}${st.delay ? ` + ${formatMs(st.delay)}` : ''}` : 'then'
    const t = stepTarget(st)
    const what = t ? `${t.host}: ${t.action} ${JSON.stringify(t.args)}` : `wait ${typeof st.wait === 'number' ? formatMs(st.wait) : `for ${st.wait?.for ?? ''}`}`
    lines.push(`  ${String(i).padStart(2)}. ${when.padEnd(24)} ${what}`)
  })
  if (s.duration !== undefined) lines.push(`      run ends at ${formatMs(s.duration)}`)
  lines.push('', 'what to watch (expectations):')
  s.expect.forEach((e, i) => {
    const { kind, body } = kindOf(e)
    const desc = body.description ?? JSON.stringify(body)
    lines.push(`  ${String(i).padStart(2)}. ${kind}: ${desc}`)
  })
  return `${lines.join('\n')}\n`
}
