// iptables and ip6tables: one definition, two commands. A rule may be named, so
// that a later step deletes it and its counters are recorded under that name.

import { z } from 'zod'
import { addRule, buildRuleArgv, deleteRule, readRuleCounters, type IptablesCmd } from '../faults/iptables.js'
import { Argv, Name } from '../scenario/fields.js'
import { fillPlaceholders, type HostFacts } from '../scenario/template.js'
import { StepError } from '../util/errors.js'
import { commandStep, defineAction, internalName, stepNow, type ActionDefinition, type StepContext } from './define.js'

/** An iptables rule: a string split on whitespace (quotes allowed), or an argv array. */
const Rule = z.union([z.string().min(1), Argv])

export const IptablesAction = z.union([
  Rule,
  z
    .object({
      name: Name.optional().meta({ description: 'name the rule, so a later step deletes it and its counters are recorded under this name', examples: ['drop-syn'] }),
      rule: Rule.meta({ description: 'the rule: a string split on whitespace (quotes allowed) or an argv array; {{host}} is that host\'s address', examples: ['-A INPUT -p tcp --dport 8000 --syn -j DROP'] }),
      table: z.string().optional().meta({ description: 'the iptables table (default filter)', examples: ['mangle'] }),
    })
    .strict(),
  z.object({ delete: Name.meta({ description: 'delete the rule a previous step named', examples: ['drop-syn'] }) }).strict(),
])

type Iptables = z.output<typeof IptablesAction>

function isDelete(a: Iptables): a is { delete: string } {
  return typeof a === 'object' && !Array.isArray(a) && 'delete' in a
}

/** The rule's name (step<index> when unnamed) and its argv with placeholders filled. */
function ruleOf(a: Exclude<Iptables, { delete: string }>, index: number, facts: ReadonlyMap<string, HostFacts>): { name: string; argv: string[] } {
  const spec = typeof a === 'string' || Array.isArray(a) ? { rule: a, name: undefined, table: undefined } : a
  const name = spec.name ?? `step${index}`
  const filled = (typeof spec.rule === 'string' ? [spec.rule] : spec.rule).map((x) => fillPlaceholders(x, facts))
  return { name, argv: buildRuleArgv(typeof spec.rule === 'string' ? (filled[0] as string) : filled, name, spec.table) }
}

/** Record the counters of every tcplab rule on the context's host. */
export async function recordCounters(ctx: Pick<StepContext, 'host' | 'hostName' | 'timeline'>, cmd: IptablesCmd): Promise<void> {
  const counters = await readRuleCounters(ctx.host, cmd)
  const now = stepNow(ctx)
  for (const c of counters) {
    ctx.timeline.add({ kind: 'counter', t: now, host: ctx.hostName, name: c.name, value: c.packets, packets: c.packets, bytes: c.bytes })
  }
}

function ruleAction<const K extends IptablesCmd>(cmd: K): ActionDefinition<K, typeof IptablesAction> {
  return defineAction({
    name: cmd,
    schema: IptablesAction,
    doc: '`"-A INPUT -p tcp --dport 8000 --syn -j DROP"` or `{ name: drop-syn, rule: ... }`, then later `{ delete: drop-syn }`',
    refs(a) {
      if (isDelete(a)) return [{ deletesRule: a.delete, key: 'delete' }]
      if (typeof a === 'object' && !Array.isArray(a) && typeof a.name === 'string') return [{ addsRule: a.name, key: 'name' }]
      return []
    },
    compile(a, ctx) {
      if (isDelete(a)) {
        // The rule's argv is known from the step that added it: the player resolves it (resolveDeletes).
        return [
          { cmd: { op: 'exec', name: internalName(ctx.index, 0), argv: [`${cmd}-save`, '-c'], lines: true, keepPriority: true }, waits: true, role: 'counters', detail: `${cmd} counters`, iptables: cmd },
          { ...commandStep(ctx, [cmd, '-w', '@delete', a.delete], `${cmd} ${a.delete} (deleted)`, 1), target: a.delete, iptables: cmd },
        ]
      }
      const { name, argv } = ruleOf(a, ctx.index, ctx.facts)
      return [{ ...commandStep(ctx, [cmd, '-w', ...argv], `${cmd} ${argv.join(' ')}`), target: name, iptables: cmd }]
    },
    async run(ctx, a) {
      if (isDelete(a)) {
        const key = `${cmd}:${a.delete}`
        const held = ctx.rules.get(key)
        if (!held) throw new StepError(`no ${cmd} rule named ${a.delete}`)
        await recordCounters(ctx, cmd)
        await deleteRule(ctx.host, held.rule)
        ctx.rules.delete(key)
        return `${cmd} ${held.rule.argv.join(' ')} (deleted)`
      }
      const { name, argv } = ruleOf(a, ctx.stepIndex, ctx.facts)
      const rule = await addRule(ctx.host, cmd, argv, name)
      ctx.rules.set(`${cmd}:${name}`, { host: ctx.hostName, rule })
      return `${cmd} ${argv.join(' ')}`
    },
  })
}

export const iptables = ruleAction('iptables')
export const ip6tables = ruleAction('ip6tables')
