// Where the static socket agent binary is on this machine (built by `make agent`).
import { fileURLToPath } from 'node:url'

/** Local path of agent/build/tcplab-agent (same from src/ under tsx and from dist/). */
export function agentBinaryPath(): string {
  return process.env.TCPLAB_AGENT ?? fileURLToPath(new URL('../../agent/build/tcplab-agent', import.meta.url))
}
