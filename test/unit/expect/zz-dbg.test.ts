import t from 'tap'
import { loadFixture, contextOf, evaluateList } from './timeline-fixture.js'
const fx = loadFixture('seed-accept-queue')
const ctx = contextOf(fx)
for (const r of ctx.records) if (r.kind === 'ss' || (r.kind==='event' && r.type==='ss-destroy')) if (r.t < 0.5 || r.t > 5.3) console.log(r.t, r.kind, r.host, (r as any).state ?? (r as any).type ?? '', (r as any).local ?? '', (r as any).peer ?? '', JSON.stringify((r as any).data ?? ''))
const runs = new Map<string, string[]>()
for (const r of ctx.records) if (r.kind==='ss') { const k = `${r.host} ${r.local} ${r.peer}`; const s = runs.get(k) ?? []; if (s[s.length-1] !== r.state) s.push(r.state); runs.set(k, s) }
let i = 0
for (const [k, s] of runs) console.log(i++, k, s.join(','))
const e = [{ states: { on: 'server', socket: { local: 8000 }, sequence: ['LISTEN', 'CLOSED'], mark: 'x' } }]
console.log(JSON.stringify(evaluateList(ctx, e)[0]))
t.pass('x')
