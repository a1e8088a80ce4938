// The typed definition of a CLI command: its options (with their types,
// defaults, allowed values and what completes them), its arguments, its
// examples and what it runs. One definition feeds the argument parser
// (parse-args.ts), `--help` (help.ts) and the shell completion scripts
// (completion.ts), so they cannot disagree (citty's defineCommand, smaller).
//
// Adding an option is one entry in a command's `options`; adding a command is
// one `defineCommand({...})` put in the list of cli/registry.ts.

import type { Writable } from 'node:stream'

/** What completes a value in the shell: scenario names and YAML files, tags, files, directories, or nothing. */
export type CompletionKind = 'scenario' | 'tag' | 'file' | 'dir' | 'lab' | 'host' | 'none'

export interface OptionDef {
  type: 'string' | 'boolean'
  /** One letter: -j for --jobs. */
  short?: string | undefined
  /** May be given several times (--tag a --tag b): the value is a string[]. */
  multiple?: boolean | undefined
  /** One line for --help and the completion menus. */
  description: string
  /** The name of the value in --help (`--jobs N`); default VALUE, or the choices. */
  valueName?: string | undefined
  /** Applied when the option is not given, and shown in --help. */
  default?: string | boolean | undefined
  /** Shown in --help as the default when it is computed when the command runs (e.g. "results/<timestamp>"). */
  defaultText?: string | undefined
  /** The only values accepted (checked by the parser, offered by completion). */
  choices?: readonly string[] | undefined
  /** What completes the value (default: choices, else nothing). */
  complete?: CompletionKind | undefined
}

export interface PositionalDef {
  /** As shown in usage: PATH, NAME, DIR. */
  name: string
  description: string
  /** One or more (PATH...). */
  variadic?: boolean | undefined
  required?: boolean | undefined
  /** The only values accepted (checked by the parser, offered by completion). */
  choices?: readonly string[] | undefined
  complete?: CompletionKind | undefined
}

export interface Example {
  /** The command line, starting with `tcplab`. */
  command: string
  /** What it does, shown as a comment above it. */
  description: string
}

type ValueOf<O extends OptionDef> = O['type'] extends 'boolean' ? boolean : O['multiple'] extends true ? string[] : string

/** The parsed values of a command's options: typed from their definitions (an option with a default is always there). */
export type ValuesOf<Os extends Record<string, OptionDef>> = {
  [K in keyof Os]: Os[K] extends { default: string | boolean } ? ValueOf<Os[K]> : ValueOf<Os[K]> | undefined
}

export interface CommandContext<Os extends Record<string, OptionDef> = Record<string, OptionDef>> {
  values: ValuesOf<Os>
  positionals: string[]
  signal: AbortSignal
  out: Writable
  err: Writable
}

export interface CommandDef<Os extends Record<string, OptionDef> = Record<string, OptionDef>> {
  name: string
  /** One line for `tcplab --help` and the completion menus. */
  summary: string
  /** More text for `tcplab NAME --help` (paragraphs). */
  description?: string | undefined
  positionals?: readonly PositionalDef[] | undefined
  options: Os
  /** At least one: --help shows them. */
  examples: readonly Example[]
  /** Left out of help and completion (internal commands such as __complete). */
  hidden?: boolean | undefined
  run(ctx: CommandContext<Os>): Promise<number>
}

/** A command with its option types inferred from `options` (so `ctx.values.jobs` is typed). */
export function defineCommand<const Os extends Record<string, OptionDef>>(def: CommandDef<Os>): CommandDef<Os> {
  return def
}

/** Any command, as the registry, help and completion see it (run's parameter is bivariant: a method). */
export type AnyCommand = CommandDef<Record<string, OptionDef>>

/** The option every command has: --help, -h. */
export const HELP_OPTION: OptionDef = { type: 'boolean', short: 'h', description: 'show this help and exit' }
