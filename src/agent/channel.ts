// The agent's own channel: a unix stream socket the runner listens on and the
// agent connects to (tcplab-agent --connect=PATH), carrying the same JSON lines
// as its stdin and stdout would. Used where the host shares the runner's
// filesystem (netns): its processes start through the spawner (util/spawner.ts),
// one normal-priority relay serving every process on one pipe, and a `go` or a
// trigger queued there behind other processes' output reached a SCHED_FIFO agent
// tens of ms late on a busy machine. The socket file is removed as soon as the
// agent has connected.

import { mkdir, rm } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'

export interface AgentChannel {
  /** Where the agent connects (--connect=PATH). */
  readonly path: string
  /** The agent's connection; rejects when `abandon` is called first. */
  readonly connected: Promise<net.Socket>
  /** Stop listening and remove the socket file (the agent did not come). */
  abandon(): void
}

let serial = 0

/** Listen at a fresh path in `dir` (created if missing; kept short: sun_path holds 107 bytes). */
export async function listenForAgent(dir: string): Promise<AgentChannel> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const file = path.join(dir, `.agent-${process.pid}-${serial++}.sock`)
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false })
  let settle: { resolve(s: net.Socket): void; reject(e: Error): void } | undefined
  const connected = new Promise<net.Socket>((resolve, reject) => { settle = { resolve, reject } })
  connected.catch(() => undefined)
  const done = (): void => {
    server.close()
    void rm(file, { force: true }).catch(() => undefined)
  }
  server.once('connection', (sock) => {
    done()
    settle?.resolve(sock)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(file, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    path: file,
    connected,
    abandon() {
      done()
      settle?.reject(new Error(`nothing connected to ${file}`))
    },
  }
}
