// A minimal two-host lab for the socket agent's own tests and bench: two
// network namespaces (tcplabagent-<pid>-<tag>-{client,server}) joined by a veth
// pair, 198.18.250.1 <-> 198.18.250.2, processes run with `ip netns exec`.
// Independent of the real backends on purpose; it never touches the root
// namespace's rules or sysctls, and down() deletes everything it made.

import { agentBinaryPath } from '../../src/agent/client.js'
import { runCommand, spawnProcess } from '../../src/util/proc.js'
import type { ExecOptions, ExecResult, Host, Proc, SpawnOptions } from '../../src/lab/types.js'

export const AGENT_TEST_NETNS_PREFIX = 'tcplabagent-'
export const CLIENT_ADDR = '198.18.250.1'
export const SERVER_ADDR = '198.18.250.2'

export interface AgentTestLab {
  client: Host
  server: Host
  /** Delete both namespaces (idempotent). */
  down(): Promise<void>
}

/** A Host over `ip netns exec <ns>`. */
export function createNetnsHost(name: string, ns: string, addr: string): Host {
  const inNs = (argv: readonly string[]): string[] => ['ip', 'netns', 'exec', ns, ...argv]
  return {
    name,
    addr,
    ifnames: ['eth0'],
    agentPath: agentBinaryPath(),
    exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
      return runCommand(inNs(argv), { ...opts, host: name })
    },
    spawn(argv: readonly string[], opts?: SpawnOptions): Proc {
      return spawnProcess(inNs(argv), opts)
    },
  }
}

/** Build the agent binary (a no-op when it is up to date). */
export async function buildAgent(): Promise<void> {
  await runCommand(['make', '-s', '-C', new URL('../../agent', import.meta.url).pathname, 'all'], { timeoutMs: 120_000 })
}

/** Whether this process may create namespaces (root). */
export function isRoot(): boolean {
  return process.getuid?.() === 0
}

/** Create the two namespaces and the veth pair between them. */
export async function createAgentTestLab(tag: string): Promise<AgentTestLab> {
  const base = `${AGENT_TEST_NETNS_PREFIX}${process.pid}-${tag}`
  const nsClient = `${base}-client`
  const nsServer = `${base}-server`
  const made: string[] = []
  const down = async (): Promise<void> => {
    const errors: unknown[] = []
    for (const ns of made.splice(0).reverse()) {
      try {
        await runCommand(['ip', 'netns', 'del', ns])
      } catch (e: unknown) {
        errors.push(e)
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `deleting the agent test namespaces of ${base}`)
  }
  try {
    for (const ns of [nsClient, nsServer]) {
      await runCommand(['ip', 'netns', 'add', ns])
      made.push(ns)
    }
    // Created directly inside the namespaces: nothing appears in the root namespace.
    await runCommand(['ip', 'link', 'add', 'eth0', 'netns', nsClient, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsServer])
    for (const [ns, addr] of [[nsClient, CLIENT_ADDR], [nsServer, SERVER_ADDR]] as const) {
      await runCommand(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
      await runCommand(['ip', '-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0'])
      await runCommand(['ip', '-n', ns, 'link', 'set', 'eth0', 'up'])
    }
  } catch (e: unknown) {
    await down().catch(() => undefined)
    throw e
  }
  return {
    client: createNetnsHost('client', nsClient, CLIENT_ADDR),
    server: createNetnsHost('server', nsServer, SERVER_ADDR),
    down,
  }
}

/** Namespaces this process created and has not deleted (the leak check). */
export async function listOwnTestNamespaces(): Promise<string[]> {
  const r = await runCommand(['ip', 'netns', 'list'])
  const prefix = `${AGENT_TEST_NETNS_PREFIX}${process.pid}-`
  return r.stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(prefix))
}
