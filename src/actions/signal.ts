import { z } from 'zod'
import { Name } from '../scenario/fields.js'
import { StepError } from '../util/errors.js'
import { defineAction, programsUnplayable } from './define.js'

const Signal = z.enum(['STOP', 'CONT', 'INT', 'TERM', 'KILL', 'HUP', 'QUIT', 'USR1', 'USR2'])

export const SignalAction = z.object({
  to: Name.meta({ description: 'the process (a `run` step\'s name) to signal', examples: ['srv'] }),
  signal: Signal.meta({ description: 'the signal: STOP freezes the process (its sockets stay, nobody reads), CONT resumes it', examples: ['STOP', 'KILL'] }),
}).strict()

export const signal = defineAction({
  name: 'signal',
  schema: SignalAction,
  doc: '`{ to: srv, signal: STOP }` (STOP, CONT, INT, TERM, KILL, HUP, QUIT, USR1, USR2)',
  refs: (a) => [{ uses: 'process', name: a.to, key: 'to' }],
  compile: (a) => [{ cmd: { op: 'signal', name: a.to, signal: a.signal }, waits: true, role: 'process-io', detail: `SIG${a.signal} -> ${a.to}`, target: a.to }],
  unplayable: programsUnplayable,
  async run(ctx, a) {
    const p = ctx.procs.get(a.to)
    if (!p) throw new StepError(`no process named ${a.to}`)
    await p.proc.signal(`SIG${a.signal}` as NodeJS.Signals)
    return `SIG${a.signal} -> ${a.to}`
  },
})
