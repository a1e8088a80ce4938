// --help text, generated from the command definitions (command.ts): usage,
// arguments, every option with its value, default and allowed values, and
// examples. `tcplab --help` lists the commands.

import { HELP_OPTION, type AnyCommand, type OptionDef, type PositionalDef } from './command.js'
import { formatChoices } from './parse-args.js'

const INDENT = '  '
/** Text wraps at this width (help is read in 80-column terminals and CI logs). */
const WIDTH = 80

/** `tcplab run [options] [PATH...]` */
export function formatUsage(cmd: AnyCommand): string {
  const args = (cmd.positionals ?? []).map(formatPositional)
  const hasOptions = Object.keys(cmd.options).length > 0
  return ['tcplab', cmd.name, ...(hasOptions ? ['[options]'] : []), ...args].join(' ')
}

function formatPositional(p: PositionalDef): string {
  const name = p.variadic ? `${p.name}...` : p.name
  return p.required ? name : `[${name}]`
}

/** `-j, --jobs N` */
function formatOptionName(name: string, o: OptionDef): string {
  const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}`
  if (o.type === 'boolean') return flag
  return `${flag} ${o.valueName ?? (o.choices ? o.choices.join('|') : 'VALUE')}`
}

/** The description of an option with its default, allowed values and repeatability. */
function formatOptionText(o: OptionDef): string {
  const notes: string[] = []
  if (o.choices && !o.description.includes(o.choices.join(' ')) && o.valueName !== undefined) notes.push(`one of ${formatChoices(o.choices)}`)
  const def = o.defaultText ?? (typeof o.default === 'string' ? o.default : undefined)
  if (def !== undefined) notes.push(`default: ${def}`)
  if (o.multiple) notes.push('repeatable')
  return notes.length > 0 ? `${o.description} (${notes.join('; ')})` : o.description
}

/** Two columns, the second wrapped to WIDTH. */
function formatTable(rows: ReadonlyArray<[string, string]>): string[] {
  const left = Math.min(28, Math.max(...rows.map(([l]) => l.length)) + 2)
  const out: string[] = []
  for (const [l, r] of rows) {
    const lines = wrap(r, WIDTH - INDENT.length - left)
    if (l.length + 2 > left) {
      out.push(`${INDENT}${l}`)
      for (const line of lines) out.push(`${INDENT}${' '.repeat(left)}${line}`)
    } else {
      lines.forEach((line, i) => out.push(`${INDENT}${i === 0 ? l.padEnd(left) : ' '.repeat(left)}${line}`))
    }
  }
  return out
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line ? `${line} ${word}` : word
  }
  if (line || lines.length === 0) lines.push(line)
  return lines
}

/** `tcplab NAME --help`. */
export function formatCommandHelp(cmd: AnyCommand): string {
  const out = [`usage: ${formatUsage(cmd)}`, '', ...wrap(cmd.summary, WIDTH)]
  if (cmd.description) {
    for (const para of cmd.description.split(/\n\s*\n/)) out.push('', ...wrap(para, WIDTH))
  }
  const positionals = cmd.positionals ?? []
  if (positionals.length > 0) {
    out.push('', 'arguments:', ...formatTable(positionals.map((p) => [p.variadic ? `${p.name}...` : p.name, p.choices ? `${p.description}: ${formatChoices(p.choices)}` : p.description])))
  }
  const options = Object.entries({ ...(cmd.options as Record<string, OptionDef>), help: HELP_OPTION })
  out.push('', 'options:', ...formatTable(options.map(([name, o]) => [formatOptionName(name, o), formatOptionText(o)])))
  out.push('', 'examples:')
  for (const ex of cmd.examples) out.push(`${INDENT}# ${ex.description}`, `${INDENT}${ex.command}`)
  return `${out.join('\n')}\n`
}

/** `tcplab --help`: what tcplab is, its commands, and where to read more. */
export function formatMainHelp(commands: readonly AnyCommand[]): string {
  const visible = commands.filter((c) => !c.hidden)
  return [
    'tcplab: reproducible TCP failure scenarios on real kernels',
    '',
    'usage: tcplab COMMAND [options] [ARGS...]',
    '',
    'commands:',
    ...formatTable(visible.map((c) => [c.name, c.summary])),
    '',
    'options:',
    ...formatTable([['-h, --help', 'show this help (`tcplab COMMAND --help`: a command\'s options, defaults and examples)'], ['-V, --version', 'print the version']]),
    '',
    'Exit codes: 0 every expectation held, 1 some failed, 2 bad input or usage,',
    '3 the machine lacks something, 130 interrupted.',
    'Environment: NO_COLOR=1 turns colors off, FORCE_COLOR=1 turns them on.',
    '',
  ].join('\n')
}
