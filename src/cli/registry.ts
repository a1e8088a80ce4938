// Every command of the CLI, in the order `tcplab --help` lists them. A new
// command is a defineCommand({...}) (command.ts) added to COMMANDS: it then
// parses, has --help and completes in bash, zsh and fish.

import { UsageError } from '../util/errors.js'
import { defineCommand, type AnyCommand } from './command.js'
import { run, list, validate, explain, gc, doctor } from './commands.js'
import { reportCommand, diffCommand, matrixCommand } from './report-commands.js'
import { kernelsCommand } from './kernels-command.js'
import { LAB_COMMANDS } from './lab-commands.js'
import { mergeCommand } from './merge-command.js'
import { SHELLS, renderCompletion, type ShellName } from './completion.js'
import { COMPLETERS, formatCompletionWords } from './complete-words.js'

export { COMPLETERS }

const completion = defineCommand({
  name: 'completion',
  summary: 'print a shell completion script (bash, zsh or fish)',
  positionals: [{ name: 'SHELL', required: true, choices: SHELLS, description: 'the shell to complete for' }],
  options: {},
  examples: [
    { description: 'bash, for this shell', command: 'source <(tcplab completion bash)' },
    { description: 'zsh, for every shell (a directory of $fpath)', command: 'tcplab completion zsh > ~/.zfunc/_tcplab' },
    { description: 'fish', command: 'tcplab completion fish > ~/.config/fish/completions/tcplab.fish' },
  ],
  async run(ctx) {
    ctx.out.write(renderCompletion(ctx.positionals[0] as ShellName, COMMANDS))
    return 0
  },
})

/** What the completion scripts ask for: words that depend on the directory the shell is in. */
const complete = defineCommand({
  name: '__complete',
  summary: 'words for shell completion: scenarios (names), tags or labs',
  hidden: true,
  positionals: [{ name: 'WHAT', required: true, description: Object.keys(COMPLETERS).join(', ') }],
  options: {},
  examples: [{ description: 'the scenario names', command: 'tcplab __complete scenarios' }],
  async run(ctx) {
    const what = ctx.positionals[0] as string
    const words = await formatCompletionWords(what)
    if (words === undefined) throw new UsageError(`__complete expects ${Object.keys(COMPLETERS).join(', ')}, got "${what}"`)
    ctx.out.write(words)
    return 0
  },
})

export const COMMANDS: readonly AnyCommand[] = [run, list, validate, explain, reportCommand, diffCommand, mergeCommand, matrixCommand, kernelsCommand, ...LAB_COMMANDS, gc, doctor, completion, complete]

/** The command of that name, or undefined. */
export function findCommand(name: string): AnyCommand | undefined {
  return COMMANDS.find((c) => c.name === name)
}
