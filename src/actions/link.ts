import { z } from 'zod'
import { commandStep, defineAction } from './define.js'

export const LinkAction = z.union([
  z.enum(['up', 'down']),
  z.object({
    state: z.enum(['up', 'down']).meta({ description: 'bring the link up or down', examples: ['down'] }),
    dev: z.string().optional().meta({ description: 'the interface (default: the host\'s lab interface)', examples: ['eth0'] }),
  }).strict(),
])

/** The device and state of a link step (default: the host's first lab interface). */
function target(a: z.output<typeof LinkAction>, ifnames: readonly string[]): { dev: string; state: 'up' | 'down' } {
  const state = typeof a === 'string' ? a : a.state
  const dev = (typeof a === 'string' ? undefined : a.dev) ?? ifnames[0] ?? 'eth0'
  return { dev, state }
}

export const link = defineAction({
  name: 'link',
  schema: LinkAction,
  doc: '`down` / `up` (or `{ state: down, dev: eth0 }`)',
  refs: () => [],
  compile(a, ctx) {
    const { dev, state } = target(a, ctx.ifnames)
    return [commandStep(ctx, ['ip', 'link', 'set', 'dev', dev, state], `${dev} ${state}`)]
  },
  async run(ctx, a) {
    const { dev, state } = target(a, ctx.host.ifnames)
    await ctx.host.exec(['ip', 'link', 'set', 'dev', dev, state])
    return `${dev} ${state}`
  },
})
