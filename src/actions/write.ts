import { z } from 'zod'
import { Name } from '../scenario/fields.js'
import { fillPlaceholders } from '../scenario/template.js'
import { StepError } from '../util/errors.js'
import { defineAction, programsUnplayable, type CompiledCommand } from './define.js'

export const WriteAction = z
  .object({
    to: Name.meta({ description: 'the process (a `run` step\'s name) whose stdin gets the data', examples: ['cli'] }),
    data: z.string().optional().meta({ description: 'the text to type into its stdin', examples: ['12345\n'] }),
    eof: z.boolean().optional().meta({ description: 'close stdin after writing (Ctrl-D)', examples: [true] }),
  })
  .strict()

type Write = z.output<typeof WriteAction>
const detailOf = (a: Write): string => `${a.data !== undefined ? JSON.stringify(a.data) : ''}${a.eof ? ' EOF' : ''} -> ${a.to}`

export const write = defineAction({
  name: 'write',
  schema: WriteAction,
  doc: '`{ to: cli, data: "12345\\n", eof: false }`',
  refs: (a) => [{ uses: 'process', name: a.to, key: 'to' }],
  compile(a, ctx) {
    const out: CompiledCommand[] = []
    const detail = detailOf(a)
    if (a.data !== undefined) out.push({ cmd: { op: 'write', name: a.to, data: fillPlaceholders(a.data, ctx.facts) }, waits: true, role: 'process-io', detail, target: a.to })
    if (a.eof) out.push({ cmd: { op: 'endStdin', name: a.to }, waits: true, role: 'process-io', detail, target: a.to })
    return out
  },
  unplayable: programsUnplayable,
  async run(ctx, a) {
    const p = ctx.procs.get(a.to)
    if (!p) throw new StepError(`no process named ${a.to}`)
    if (a.data !== undefined) {
      try {
        await p.proc.write(fillPlaceholders(a.data, ctx.facts))
      } catch (e: unknown) {
        throw new StepError(`cannot write to ${a.to}: ${(e as Error).message}`, { hint: 'the process may have exited already, or was started with stdin: false', cause: e })
      }
    }
    if (a.eof) p.proc.endStdin()
    return detailOf(a)
  },
})
