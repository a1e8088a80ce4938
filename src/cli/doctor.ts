// `tcplab doctor`: what this machine can do — privilege, tools and versions,
// kernel, the TCP sysctls scenarios pin, which qdiscs exist, the agent, docker.

import type { Writable } from 'node:stream'
import { existsSync } from 'node:fs'
import { runCommand } from '../util/proc.js'
import { agentBinaryPath, createBackend } from '../lab/index.js'

const TOOLS: Array<[string, string[], RegExp, string]> = [
  ['ip', ['-V'], /(iproute2-[\w.-]+)/, 'iproute2'],
  ['ss', ['-V'], /(iproute2-[\w.-]+)/, 'iproute2'],
  ['tc', ['-V'], /(iproute2-[\w.-]+)/, 'iproute2'],
  ['iptables', ['-V'], /(v[\d.]+.*)/, 'iptables'],
  ['ip6tables', ['-V'], /(v[\d.]+.*)/, 'iptables'],
  ['tcpdump', ['--version'], /tcpdump version ([\w.-]+)/, 'tcpdump'],
  ['nc', ['-h'], /(OpenBSD netcat[^\n]*)/, 'netcat-openbsd'],
  ['telnet', ['--help'], /()/, 'telnet'],
  ['sysctl', ['--version'], /(procps-ng [\w.-]+|from procps[^\n]*)/, 'procps'],
]

const SYSCTLS = [
  'net.ipv4.tcp_syn_retries', 'net.ipv4.tcp_synack_retries', 'net.ipv4.tcp_syn_linear_timeouts', 'net.ipv4.tcp_retries2',
  'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_rto_min_us', 'net.ipv4.tcp_congestion_control',
  'net.ipv4.tcp_available_congestion_control', 'net.core.somaxconn',
]
const QDISCS = ['netem', 'tbf', 'fq', 'fq_codel', 'pfifo', 'htb']

/** Print the machine report; exit 0 when the netns backend can run, 3 otherwise (docker is reported, not required). */
export async function runDoctor(out: Writable): Promise<number> {
  let ok = true
  const line = (status: 'ok' | 'missing' | 'info' | 'warn', what: string, detail = ''): void => {
    out.write(`${status.padEnd(7)} ${what}${detail ? `: ${detail}` : ''}\n`)
  }
  const root = process.getuid?.() === 0
  line(root ? 'ok' : 'missing', 'root', root ? 'yes' : 'the netns backend needs root (sudo) or CAP_NET_ADMIN+CAP_SYS_ADMIN')
  ok &&= root
  const kernel = await runCommand(['uname', '-r']).then((r) => r.stdout.trim(), () => 'unknown')
  line('info', 'kernel', kernel)
  line('info', 'node', process.version)
  for (const [tool, args, re, pkg] of TOOLS) {
    const r = await runCommand([tool, ...args], { reject: false }).catch(() => undefined)
    if (!r) {
      line('missing', tool, `apt-get install -y ${pkg}`)
      if (['ip', 'ss', 'iptables', 'tcpdump'].includes(tool)) ok = false
      continue
    }
    line('ok', tool, re.exec(`${r.stdout}\n${r.stderr}`)?.[1] ?? 'installed')
  }
  const agent = agentBinaryPath()
  line(existsSync(agent) ? 'ok' : 'missing', 'socket agent', existsSync(agent) ? agent : `${agent} (run \`make agent\`); socket steps need it`)

  if (root) {
    // Look inside a scratch host (the netns backend's throwaway namespace): that is what lab hosts see.
    await createBackend('netns').then((netns) => netns.withScratchHost?.(async (host) => {
      const exec = (argv: string[]) => host.exec(argv, { reject: false })
      for (const k of SYSCTLS) {
        const r = await exec(['sysctl', '-n', k])
        line(r.exitCode === 0 ? 'ok' : 'info', `sysctl ${k}`, r.exitCode === 0 ? r.stdout.trim() : 'not on this kernel (scenarios that need it are skipped)')
      }
      await exec(['ip', 'link', 'set', 'lo', 'up'])
      const have: string[] = []
      const lack: string[] = []
      for (const q of QDISCS) {
        const r = await exec(['tc', 'qdisc', 'add', 'dev', 'lo', 'root', q])
        ;(r.exitCode === 0 ? have : lack).push(q)
        await exec(['tc', 'qdisc', 'del', 'dev', 'lo', 'root'])
      }
      line('info', 'qdiscs available', have.join(' ') || 'none')
      if (lack.length) line('warn', 'qdiscs missing', `${lack.join(' ')} (scenarios that need them are skipped)`)
    })).catch((e: unknown) => line('warn', 'scratch namespace', (e as Error).message.split('\n')[0] ?? ''))
  }
  // The same check `run --backend docker` makes (daemon, Linux engine, lab image carrying this agent), then where and what.
  let dockerOk = false
  try {
    const docker = await createBackend('docker')
    await docker.check()
    line('ok', 'docker backend', (await docker.describe?.()) ?? 'daemon reachable, lab image present')
    dockerOk = true
  } catch (e: unknown) {
    const err = e as Error & { hint?: string }
    line('warn', 'docker backend', `${err.message.split('\n')[0] ?? ''}${err.hint ? ` (hint: ${err.hint})` : ''}`)
  }
  out.write(ok ? '\nthe netns backend can run here\n' : '\nthe netns backend cannot run here: fix the "missing" lines\n')
  out.write(dockerOk ? 'the docker backend can run here (--backend docker)\n' : 'the docker backend cannot run here: see the "docker backend" line\n')
  return ok ? 0 : 3
}
