// How a command runs in a lab namespace, for the backends that drive namespaces
// from elsewhere (the vm backend runs them inside its guest): only src/lab/netns
// spells `ip netns`, so a change of how namespaces are entered is made here.

/** argv that runs `argv` in network namespace `ns`. */
export function netnsExecArgv(ns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv]
}

/** A shell line (for a setup script) that runs the already-quoted `command` in the already-quoted namespace `nsQuoted`. */
export function netnsExecLine(nsQuoted: string, command: string): string {
  return `ip netns exec ${nsQuoted} ${command}`
}

/** A shell line that kills every process of the already-quoted namespace `nsQuoted` and deletes it (errors ignored). */
export function netnsKillDeleteLine(nsQuoted: string): string {
  return `for p in $(ip netns pids ${nsQuoted} 2>/dev/null); do kill -9 $p; done; ip netns del ${nsQuoted} 2>/dev/null`
}
