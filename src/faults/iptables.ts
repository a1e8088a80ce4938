// iptables/ip6tables rules added and removed on the timeline. Every rule gets
// a comment `tcplab:<name>` so its counters can be read back with
// `iptables-save -c` (the rule text is normalised by iptables, the comment is
// not) and so a delete matches exactly the rule we added. See iptables(8),
// iptables-extensions(8) "comment".

import type { Host } from '../lab/index.js'
import { ProcessError, StepError } from '../util/errors.js'
import { splitArgs } from '../scenario/template.js'

export type IptablesCmd = 'iptables' | 'ip6tables'

export interface InstalledRule {
  cmd: IptablesCmd
  name: string
  /** argv after the command, as added (with -A/-I and the comment). */
  argv: string[]
}

/** Turn a rule (string or argv) into argv with the tcplab comment appended. */
export function buildRuleArgv(rule: string | string[], name: string, table?: string): string[] {
  const argv = typeof rule === 'string' ? splitArgs(rule) : [...rule]
  const op = argv.find((a) => /^(-A|--append|-I|--insert)$/.test(a))
  if (!op) {
    throw new StepError(`iptables rule "${argv.join(' ')}" must add a rule (-A CHAIN or -I CHAIN); tcplab removes it with a later { delete: NAME } step`)
  }
  return [...(table ? ['-t', table] : []), ...argv, '-m', 'comment', '--comment', `tcplab:${name}`]
}

/** Add a rule inside a host; a rule iptables rejects is the scenario's fault (exit 2). */
export async function addRule(host: Host, cmd: IptablesCmd, argv: string[], name: string): Promise<InstalledRule> {
  try {
    await host.exec([cmd, '-w', ...argv])
  } catch (e: unknown) {
    if (e instanceof ProcessError) {
      throw new StepError(`${cmd} rejected the rule on ${host.name}: ${cmd} ${argv.join(' ')}\n  ${e.failure.stderr.trim().split('\n')[0] ?? ''}`, {
        hint: 'check the rule against iptables(8) and iptables-extensions(8); it is passed as argv, without a shell',
        cause: e,
      })
    }
    throw e
  }
  return { cmd, name, argv }
}

/** Delete a rule added by addRule (same argv with -D instead of -A/-I). */
export async function deleteRule(host: Host, rule: InstalledRule): Promise<void> {
  await host.exec([rule.cmd, '-w', ...toDeleteArgv(rule.argv)])
}

/** -A CHAIN ... / -I CHAIN [N] ... -> -D CHAIN ... */
export function toDeleteArgv(argv: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (/^(-A|--append|-I|--insert)$/.test(a)) {
      out.push('-D', argv[i + 1] as string)
      i++
      if (/^(-I|--insert)$/.test(a) && /^\d+$/.test(argv[i + 1] ?? '')) i++
    } else {
      out.push(a)
    }
  }
  return out
}

export interface RuleCounter {
  name: string
  packets: number
  bytes: number
}

/** Counters of every tcplab rule in a host, from `iptables-save -c`. */
export async function readRuleCounters(host: Host, cmd: IptablesCmd): Promise<RuleCounter[]> {
  const r = await host.exec([`${cmd}-save`, '-c'], { reject: false })
  return parseSaveCounters(r.stdout)
}

/** Parse `[pkts:bytes] -A CHAIN ... --comment "tcplab:NAME" ...` lines. */
export function parseSaveCounters(text: string): RuleCounter[] {
  const out: RuleCounter[] = []
  for (const line of text.split('\n')) {
    const m = /^\[(\d+):(\d+)\].*--comment "?tcplab:([^"\s]+)"?/.exec(line)
    if (m) out.push({ name: m[3] as string, packets: Number(m[1]), bytes: Number(m[2]) })
  }
  return out
}
