// Parse a command's arguments from its definition (node:util parseArgs,
// strict): unknown options, a missing value or a value outside `choices` are
// usage errors (exit 2) that point at `tcplab NAME --help`. `--help` or `-h`
// anywhere before `--` asks for help instead of running.

import { parseArgs, type ParseArgsConfig } from 'node:util'
import { UsageError } from '../util/errors.js'
import { HELP_OPTION, type AnyCommand, type OptionDef } from './command.js'
import { joinNegativeValues } from './option-values.js'

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
  /** --help or -h was given: show the command's help, run nothing. */
  help: boolean
}

/** Whether the arguments ask for help (before any `--`). */
export function isHelpRequested(args: readonly string[]): boolean {
  const end = args.indexOf('--')
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h')
}

/** The options of a command as node:util parseArgs wants them, with --help. */
function parseArgsOptions(cmd: AnyCommand): NonNullable<ParseArgsConfig['options']> {
  const all: Record<string, OptionDef> = { ...cmd.options, help: HELP_OPTION }
  return Object.fromEntries(
    Object.entries(all).map(([name, o]) => [name, { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) }]),
  )
}

/** Parse `args` (what follows the command name) against the command's definition. */
export function parseCommandArgs(cmd: AnyCommand, args: readonly string[]): ParsedArgs {
  if (isHelpRequested(args)) return { values: {}, positionals: [], help: true }
  const hint = `tcplab ${cmd.name} --help`
  let parsed
  try {
    const options = parseArgsOptions(cmd)
    parsed = parseArgs({ args: joinNegativeValues(args, options as Record<string, { type: string; short?: string | undefined }>), options, allowPositionals: true, strict: true })
  } catch (e: unknown) {
    throw new UsageError(`${cmd.name}: ${(e as Error).message}`, { hint })
  }
  const values = parsed.values as ParsedArgs['values']
  for (const [name, o] of Object.entries(cmd.options as Record<string, OptionDef>)) {
    const v = values[name]
    if (v === undefined) {
      if (o.default !== undefined) values[name] = o.default
      continue
    }
    if (o.choices && o.type === 'string') {
      for (const one of Array.isArray(v) ? v : [v]) {
        if (!o.choices.includes(String(one))) throw new UsageError(`${cmd.name}: --${name} expects ${formatChoices(o.choices)}, got "${String(one)}"`, { hint })
      }
    }
  }
  const required = (cmd.positionals ?? []).filter((p) => p.required)
  if (parsed.positionals.length < required.length) {
    const missing = required.slice(parsed.positionals.length).map((p) => p.name).join(' ')
    throw new UsageError(`${cmd.name}: missing ${missing}`, { hint })
  }
  const defs = cmd.positionals ?? []
  parsed.positionals.forEach((arg, i) => {
    const def = defs[Math.min(i, defs.length - 1)]
    if (def?.choices && !def.choices.includes(arg)) throw new UsageError(`${cmd.name}: ${def.name} expects ${formatChoices(def.choices)}, got "${arg}"`, { hint })
  })
  const takesMany = (cmd.positionals ?? []).some((p) => p.variadic)
  const max = (cmd.positionals ?? []).length
  if (!takesMany && parsed.positionals.length > max) {
    throw new UsageError(`${cmd.name}: unexpected argument "${parsed.positionals[max] ?? ''}"`, { hint })
  }
  return { values, positionals: parsed.positionals, help: false }
}

/** "netns or docker", "pretty, tap or json". */
export function formatChoices(choices: readonly string[]): string {
  if (choices.length <= 1) return choices.join('')
  return `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1] ?? ''}`
}
