// Parse a command's arguments and run it (or print its help): what main.ts
// does for the command line, and what tests call with an argv of their own.

import type { Writable } from 'node:stream'
import type { AnyCommand, CommandContext } from './command.js'
import { formatCommandHelp } from './help.js'
import { parseCommandArgs } from './parse-args.js'

export interface CommandIo {
  out: Writable
  err: Writable
  signal?: AbortSignal | undefined
}

/** Run `cmd` with `args` (what follows its name); usage errors throw UsageError (exit 2). */
export async function invokeCommand(cmd: AnyCommand, args: readonly string[], io: CommandIo): Promise<number> {
  const parsed = parseCommandArgs(cmd, args)
  if (parsed.help) {
    io.out.write(formatCommandHelp(cmd))
    return 0
  }
  const ctx: CommandContext = {
    values: parsed.values as CommandContext['values'],
    positionals: parsed.positionals,
    signal: io.signal ?? new AbortController().signal,
    out: io.out,
    err: io.err,
  }
  return cmd.run(ctx)
}
