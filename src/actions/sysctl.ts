import { SysctlMap } from '../scenario/fields.js'
import { commandStep, defineAction, type CompiledCommand } from './define.js'

export const sysctl = defineAction({
  name: 'sysctl',
  schema: SysctlMap,
  doc: '`{ net.ipv4.tcp_retries2: 5 }`',
  refs: () => [],
  compile(a, ctx) {
    const entries = Object.entries(a).filter(([k]) => !k.startsWith('?'))
    const optional = Object.entries(a).filter(([k]) => k.startsWith('?')).map(([k, v]): [string, string] => [k.slice(1), String(v)])
    const detail = Object.entries(a).map(([k, v]) => `${k}=${String(v)}`).join(' ')
    const out: CompiledCommand[] = []
    // `sysctl -e` ignores keys this kernel lacks (sysctl(8)); a bad value still fails.
    if (entries.length > 0) out.push(commandStep(ctx, ['sysctl', '-q', '-w', ...entries.map(([k, v]) => `${k}=${String(v)}`)], detail, 0))
    if (optional.length > 0) out.push(commandStep(ctx, ['sysctl', '-e', '-q', '-w', ...optional.map(([k, v]) => `${k}=${v}`)], detail, out.length))
    return out
  },
  unplayable: (h, name) => (h.setsSysctlsOutside ? `this backend sets ${name}'s sysctls from outside the host` : undefined),
  async run(ctx, a) {
    // The lab is the runner's (loaded by then); the schema does not load it.
    const { applySysctls } = await import('../lab/index.js')
    await applySysctls(ctx.host, a)
    return Object.entries(a).map(([k, v]) => `${k}=${v}`).join(' ')
  },
})
