// The socket agent's public surface: its protocol types and the client that runs it.
export * from './protocol.js'
export { agentBinaryPath, isFinalEventFor, parseAgentEvent, startAgent, type AgentPriority } from './client.js'
export type { AgentClient, RequestOptions, StartAgentOptions } from './client.js'
