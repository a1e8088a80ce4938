// What `validate` (and `run`, before it creates anything) can know about a
// scenario beyond its schema: the checks that need the rule syntax of iptables,
// the lab's interface names, or the machine itself. Host checks run in one
// throwaway host of the backend (Backend.withScratchHost; on netns an empty
// namespace, deleted afterwards), never in the machine's own namespace:
//   - sysctl keys this kernel has per network namespace (/proc/sys/net as a
//     fresh namespace sees it; cached for the process, i.e. the run);
//   - iptables rules, with `iptables-restore --test` (nothing is committed);
//   - programs a `run` step starts, on PATH where the lab hosts run them.
// Every problem is a ScenarioIssue with its file:line:col (exit 2).

import { buildRuleArgv } from '../faults/iptables.js'
import type { Backend, ScratchHost } from '../lab/index.js'
import { stepTarget, type LoadedScenario } from '../scenario/loader.js'
import { fillPlaceholders, type HostFacts } from '../scenario/template.js'
import type { ScenarioIssue, SourcePos } from '../util/errors.js'
import { TcplabError } from '../util/errors.js'

/** iptables commands other than adding one rule: they would flush, delete or rewrite whole chains or tables. */
const WHOLE_CHAIN_OPS = /^(-F|--flush|-X|--delete-chain|-Z|--zero|-P|--policy|-N|--new-chain|-E|--rename-chain|-D|--delete|-R|--replace)$/

/** Per-interface sysctl paths: the interface part is checked against `default`, which every namespace has. */
const PER_IF_KEY = /^(net\.ipv[46]\.(?:conf|neigh))\.([^.]+)\.(.+)$/

interface Found {
  loaded: LoadedScenario
  pos: SourcePos
  path: string
}

interface Collected {
  sysctls: Array<Found & { key: string }>
  rules: Array<Found & { cmd: 'iptables' | 'ip6tables'; argv: string[] }>
  commands: Array<Found & { program: string; host: string }>
}

/** The interfaces a lab host has, by topology (both backends name them so): eth0, and eth1 on a wire; lo everywhere. */
export function interfacesOf(s: LoadedScenario['scenario'], host: string): string[] {
  return s.hosts[host]?.role === 'wire' ? ['lo', 'eth0', 'eth1'] : ['lo', 'eth0']
}

/** Stand-in host facts for filling placeholders before a lab exists (a lab address, eth0). */
function placeholderFacts(s: LoadedScenario['scenario']): Map<string, HostFacts> {
  return new Map(Object.keys(s.hosts).map((h, i) => [h, { addr: `198.18.0.${i + 1}`, ifname: 'eth0' }]))
}

/** Checks without the machine: iptables rule shape (one added rule, no flushes), interface names. */
export function checkStatically(list: readonly LoadedScenario[]): { issues: ScenarioIssue[]; collected: Collected } {
  const issues: ScenarioIssue[] = []
  const collected: Collected = { sysctls: [], rules: [], commands: [] }
  for (const loaded of list) {
    const s = loaded.scenario
    const posOf = (p: Array<string | number>, i: number, atKey = false): SourcePos =>
      loaded.posOf?.(p, atKey) ?? loaded.stepPos[i] ?? { file: loaded.file, line: 1, col: 1 }
    const add = (pos: SourcePos, path: string, message: string): void => void issues.push({ ...pos, path, message })
    const facts = placeholderFacts(s)
    const sysctlMaps: Array<[Array<string | number>, Record<string, string> | undefined]> = [
      [['sysctls'], s.sysctls],
      ...Object.entries(s.hosts).map(([h, spec]): [Array<string | number>, Record<string, string> | undefined] => [['hosts', h, 'sysctls'], spec.sysctls]),
    ]
    s.steps.forEach((step, i) => {
      const target = stepTarget(step)
      if (!target) return
      const p = ['steps', i, target.host, target.action]
      const path = `steps[${i}].${target.host}.${target.action}`
      const args = target.args as Record<string, unknown> | string | unknown[]
      switch (target.action) {
        case 'sysctl':
          sysctlMaps.push([p, args as Record<string, string>])
          break
        case 'iptables':
        case 'ip6tables': {
          if (typeof args === 'object' && !Array.isArray(args) && 'delete' in args) break
          const spec = typeof args === 'string' || Array.isArray(args) ? { rule: args, table: undefined } : (args as { rule: string | string[]; table?: string })
          const rule = typeof spec.rule === 'string' ? fillPlaceholders(spec.rule, facts) : (spec.rule as string[]).map((x) => fillPlaceholders(String(x), facts))
          let argv: string[]
          try {
            argv = buildRuleArgv(rule, `step${i}`, spec.table)
          } catch (e: unknown) {
            add(posOf(p, i), path, e instanceof TcplabError ? e.message : String(e))
            break
          }
          const other = argv.find((a) => WHOLE_CHAIN_OPS.test(a))
          if (other) {
            add(posOf(p, i), path, `"${other}" in a rule would ${/F|flush/.test(other) ? 'flush' : 'change'} a whole chain or table; a step adds one rule (-A/-I) and a later { delete: NAME } step removes it`)
            break
          }
          collected.rules.push({ loaded, pos: posOf(p, i), path, cmd: target.action, argv })
          break
        }
        case 'link': {
          const dev = typeof args === 'object' && !Array.isArray(args) ? (args as { dev?: string }).dev : undefined
          const ifs = interfacesOf(s, target.host)
          if (dev !== undefined && !ifs.includes(fillPlaceholders(dev, facts))) {
            add(posOf([...p, 'dev'], i), `${path}.dev`, `unknown interface "${dev}" on ${target.host} (it has ${ifs.join(', ')})`)
          }
          break
        }
        case 'tc': {
          const argv = ((args as { args: string[] }).args ?? []).map((x) => fillPlaceholders(x, facts))
          const ifs = interfacesOf(s, target.host)
          const k = argv.indexOf('dev')
          const dev = k >= 0 ? argv[k + 1] : undefined
          if (dev !== undefined && !ifs.includes(dev)) add(posOf([...p, 'args', k + 1], i), `${path}.args[${k + 1}]`, `unknown interface "${dev}" on ${target.host} (it has ${ifs.join(', ')})`)
          break
        }
        case 'run': {
          const cmd = (args as { cmd: string[] }).cmd
          const program = cmd[0]
          // Programs in the host's own image (docker) are that image's business.
          if (program !== undefined && s.hosts[target.host]?.image === undefined) {
            collected.commands.push({ loaded, pos: posOf([...p, 'cmd', 0], i), path: `${path}.cmd[0]`, program, host: target.host })
          }
          break
        }
      }
    })
    for (const [p, map] of sysctlMaps) {
      for (const key of Object.keys(map ?? {})) {
        if (key.startsWith('?')) continue // optional: set only where the kernel has it
        // A key the scenario `requires` is checked when it runs: a kernel without it skips the scenario.
        if (s.requires?.sysctls?.includes(key)) continue
        const kp = p[0] === 'steps' ? [...p, key] : [...p, key]
        collected.sysctls.push({ loaded, pos: loaded.posOf?.(kp, true) ?? { file: loaded.file, line: 1, col: 1 }, path: `${formatPath(p)}.${key}`, key })
      }
    }
  }
  return { issues, collected }
}

function formatPath(p: ReadonlyArray<string | number>): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('')
}

let sysctlKeys: Promise<Set<string>> | undefined

/** The sysctl keys of a fresh network namespace on this kernel (dotted), read once per process. */
async function namespaceSysctls(host: ScratchHost): Promise<Set<string>> {
  sysctlKeys ??= host.exec(['find', '/proc/sys/net', '-type', 'f']).then((r) =>
    new Set(r.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^\/proc\/sys\//, '').replace(/\//g, '.'))))
  return sysctlKeys
}

/** Whether a key exists per namespace (interface keys checked on `default`). */
export function hasNamespaceKey(keys: ReadonlySet<string>, key: string): boolean {
  if (keys.has(key)) return true
  const m = PER_IF_KEY.exec(key)
  return m !== null && keys.has(`${m[1]}.default.${m[3]}`)
}

/** Quote an argument for an iptables-restore rule line (it splits on blanks and honours double quotes). */
function restoreQuote(a: string): string {
  return /^[\w.:/,!@%+=-]+$/.test(a) ? a : `"${a.replace(/(["\\])/g, '\\$1')}"`
}

/**
 * Every check: static ones, then, when `backend` can make a scratch host, the machine's. `extraSysctls`
 * (--sysctl KEY=VALUE) are checked like a scenario's. Returns the problems and notes (checks skipped).
 */
export async function preflightScenarios(
  list: readonly LoadedScenario[],
  backend: Backend | undefined,
  extraSysctls: Record<string, string> = {},
): Promise<{ issues: ScenarioIssue[]; notes: string[] }> {
  const { issues, collected } = checkStatically(list)
  const notes: string[] = []
  if (!backend?.withScratchHost) {
    notes.push(`host checks skipped (sysctl keys, iptables rules, programs): ${backend ? `the ${backend.name} backend has no scratch host` : 'no backend'}`)
    return { issues, notes }
  }
  try {
    await backend.withScratchHost(async (host) => {
      const keys = await namespaceSysctls(host)
      for (const f of collected.sysctls) {
        if (!hasNamespaceKey(keys, f.key)) {
          issues.push({ ...f.pos, path: f.path, message: `sysctl ${f.key} does not exist in a network namespace on this kernel (only per-namespace keys can be set; make it optional with { value: V, optional: true } if it is new)` })
        }
      }
      for (const k of Object.keys(extraSysctls)) {
        if (!hasNamespaceKey(keys, k)) issues.push({ file: '--sysctl', line: 1, col: 1, path: k, message: `sysctl ${k} does not exist in a network namespace on this kernel` })
      }
      for (const r of collected.rules) {
        const t = r.argv.indexOf('-t') >= 0 ? r.argv[r.argv.indexOf('-t') + 1] : r.argv.indexOf('--table') >= 0 ? r.argv[r.argv.indexOf('--table') + 1] : 'filter'
        const rest = r.argv.filter((_, i) => !(['-t', '--table'].includes(r.argv[i] as string) || ['-t', '--table'].includes(r.argv[i - 1] as string)))
        const input = `*${t ?? 'filter'}\n${rest.map(restoreQuote).join(' ')}\nCOMMIT\n`
        // --test parses without committing, which misses chains and targets that do not exist; so the
        // rule is then loaded for real, into this namespace's empty tables, which go with it.
        let res = await host.exec([`${r.cmd}-restore`, '--test', '-w'], { input, reject: false })
        if (res.exitCode === 0) res = await host.exec([`${r.cmd}-restore`, '--noflush', '-w'], { input, reject: false })
        if (res.exitCode !== 0) {
          const lines = res.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^(Error occurred at line|Try `)/.test(l))
          const why = (lines.find((l) => /v\d[\d.]* \(/.test(l)) ?? lines[0] ?? `exit ${res.exitCode}`).replace(/^\S+-restore v[\d.]+ \([^)]*\): /, '')
          issues.push({ ...r.pos, path: r.path, message: `${r.cmd} rejects the rule "${r.argv.join(' ').slice(0, 120)}": ${why.slice(0, 200)}` })
        }
      }
      const programs = [...new Set(collected.commands.map((c) => c.program))]
      if (programs.length > 0) {
        const res = await host.exec(['sh', '-c', 'for p; do command -v -- "$p" >/dev/null 2>&1 || echo "$p"; done', 'sh', ...programs], { reject: false })
        const missing = new Set(res.stdout.split('\n').filter(Boolean))
        for (const c of collected.commands) {
          if (missing.has(c.program)) issues.push({ ...c.pos, path: c.path, message: `program "${c.program}" is not on PATH where ${c.host} runs it (the ${backend.name} backend's hosts)` })
        }
      }
    })
  } catch (e: unknown) {
    notes.push(`host checks skipped: ${(e as Error).message.split('\n')[0] ?? ''}`)
  }
  return { issues, notes }
}
