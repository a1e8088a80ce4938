// How a command runs in a lab namespace, for the backends that drive namespaces
// from elsewhere (the vm backend runs them inside its guest): only src/lab/netns
// spells `ip netns`, so a change of how namespaces are entered is made here.

/** argv that runs `argv` in network namespace `ns`. */
export function netnsExecArgv(ns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv]
}
