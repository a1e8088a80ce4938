// Colors on terminals, following NO_COLOR (no-color.org) and FORCE_COLOR
// (force-color.org), with FORCE_COLOR first as in Node's own
// tty.getColorDepth: FORCE_COLOR=1 colors a pipe (CI logs that render ANSI),
// NO_COLOR=1 keeps a terminal plain.

import type { Writable } from 'node:stream'

/** Whether to color what goes to `stream`. */
export function isColorEnabled(stream: Writable, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false'
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  return (stream as Writable & { isTTY?: boolean }).isTTY === true && env.TERM !== 'dumb'
}

const SGR = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const
export type ColorName = keyof typeof SGR

/** `text` in a color when `on`, else as it is. */
export function paint(on: boolean, color: ColorName, text: string): string {
  return on ? `\x1b[${SGR[color]}m${text}\x1b[0m` : text
}
