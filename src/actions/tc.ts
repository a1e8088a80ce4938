import { z } from 'zod'
import { Argv } from '../scenario/fields.js'
import { fillPlaceholders } from '../scenario/template.js'
import { ProcessError, StepError } from '../util/errors.js'
import { commandStep, defineAction } from './define.js'

export const TcAction = z.object({
  args: Argv.meta({ description: 'the arguments of tc(8), run on the step\'s host', examples: [['qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'loss', '10%']] }),
  qdisc: z.string().optional().meta({ description: 'the qdisc this needs (checked before the run, like `requires: { qdiscs }`)', examples: ['netem'] }),
}).strict()

export const tc = defineAction({
  name: 'tc',
  schema: TcAction,
  doc: '`{ args: [qdisc, add, dev, eth0, root, netem, loss, 10%] }` (with `requires: { qdiscs: [netem] }`)',
  refs: () => [],
  compile(a, ctx) {
    const argv = a.args.map((x) => fillPlaceholders(x, ctx.facts))
    return [commandStep(ctx, ['tc', ...argv], `tc ${argv.join(' ')}`)]
  },
  async run(ctx, a) {
    const argv = a.args.map((x) => fillPlaceholders(x, ctx.facts))
    try {
      await ctx.host.exec(['tc', ...argv])
    } catch (e: unknown) {
      if (e instanceof ProcessError) throw new StepError(`tc rejected: tc ${argv.join(' ')}: ${e.failure.stderr.trim()}`, { hint: e.hint, cause: e })
      throw e
    }
    return `tc ${argv.join(' ')}`
  },
})
