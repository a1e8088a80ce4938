import { z } from 'zod'
import type { Proc } from '../lab/types.js'
import { Argv, Name } from '../scenario/fields.js'
import { fillPlaceholders } from '../scenario/template.js'
import { StepError } from '../util/errors.js'
import { defineAction, programsUnplayable, stepNow } from './define.js'

export const RunAction = z
  .object({
    name: Name.meta({ description: 'the process name (events NAME.started, NAME.exited, NAME.stdout; `process` expectations)', examples: ['nc'] }),
    cmd: Argv.meta({ description: 'argv; {{host}} placeholders are replaced by that host\'s address', examples: [['nc', '{{server}}', 8000]] }),
    stdin: z.boolean().default(true).meta({ description: 'keep stdin open so that later `write` steps can type into it', examples: [false] }),
  })
  .strict()

export const run = defineAction({
  name: 'run',
  schema: RunAction,
  doc: '`{ name: cli, cmd: [nc, "{{server}}", 8000] }`. `{{host}}` is that host\'s address and `{{host.if}}` its interface. stdin stays open for `write`.',
  refs: (a) => [{ defines: 'process', name: a.name, key: 'name' }],
  compile(a, ctx) {
    const argv = a.cmd.map((x) => fillPlaceholders(x, ctx.facts))
    return [{ cmd: { op: 'exec', name: a.name, argv, stdin: a.stdin === true, lines: true }, waits: false, role: 'process', detail: argv.join(' '), target: a.name }]
  },
  unplayable: programsUnplayable,
  /** Start a process on the host and record its life as events. */
  async run(ctx, a) {
    const { signalName } = await import('../util/proc.js')
    const argv = a.cmd.map((x) => fillPlaceholders(x, ctx.facts))
    const { timeline, hostName } = ctx
    const ev = (type: string, extra: Record<string, unknown> = {}): void =>
      timeline.add({ kind: 'event', t: stepNow(ctx), host: hostName, source: a.name, type, ...extra })
    // "started" is when the runner started it: a backend may confirm the pid later
    // (docker exec takes ~50 ms), by which time the program may already be talking.
    const startedT = stepNow(ctx)
    // The user's program lives in the host's own image (docker `image:`), not with the lab tools.
    const proc = ctx.host.spawn(argv, {
      inUserImage: true,
      stdin: a.stdin,
      onStdoutLine: (line) => ev('stdout', { text: line }),
      onStderrLine: (line) => ev('stderr', { text: line }),
    })
    ctx.procs.set(a.name, { host: hostName, proc })
    try {
      await proc.started
    } catch (e: unknown) {
      throw new StepError(`cannot start ${argv.join(' ')} on ${hostName}: ${(e as Error).message}`, { cause: e })
    }
    timeline.add({ kind: 'event', t: startedT, host: hostName, source: a.name, type: 'started', data: { argv } })
    void proc.exited.then((x) => {
      const stopped = (proc as Proc & { stoppedByRunner?: boolean }).stoppedByRunner === true
      ev('exited', { code: x.code, signal: signalName(x.signal), ...(stopped ? { data: { stoppedByRunner: true } } : {}) })
    })
    return argv.join(' ')
  },
})
