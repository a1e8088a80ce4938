// `tcplab kernels list|fetch|rm`: the kernel cache the vm backend boots from.
// list reads the cache only (works offline); --remote asks the archive.

import { UsageError } from '../util/errors.js'
import { defineCommand } from './command.js'

const USAGE = 'kernels expects: list [--remote] [--json] | fetch VERSION... [--refresh] | rm VERSION|RELEASE...'

/** List, fetch or remove cached kernels. */
export const kernelsCommand = defineCommand({
  name: 'kernels',
  summary: 'list, fetch and remove the Debian kernels the vm backend boots (cached in /var/cache/tcplab/kernels)',
  positionals: [
    { name: 'ACTION', required: true, choices: ['list', 'ls', 'fetch', 'rm', 'remove'], description: 'list (offline), fetch VERSION..., rm VERSION|RELEASE...' },
    { name: 'VERSION', variadic: true, description: 'kernel versions (5.10, 6.1, 6.12, 7.2) or releases (6.1.0-57-cloud-amd64)' },
  ],
  options: {
    json: { type: 'boolean', description: 'list: as JSON' },
    remote: { type: 'boolean', description: 'list: what Debian\'s archive offers, not what is cached' },
    refresh: { type: 'boolean', description: 'fetch: download again even when cached; list --remote: update the package lists' },
  },
  examples: [
    { description: 'fetch four kernels (verified through apt\'s signature chain)', command: 'sudo tcplab kernels fetch 5.10 6.1 6.12 7.2' },
    { description: 'what is cached (works offline)', command: 'tcplab kernels list' },
    { description: 'remove one', command: 'sudo tcplab kernels rm 5.10' },
  ],
  async run(ctx) {
    const [sub, ...args] = ctx.positionals
    const k = await import('../kernels/index.js')
    if (sub === 'list' || sub === 'ls') {
      if (ctx.values.remote) {
        const remote = await k.listRemoteKernels({ refresh: ctx.values.refresh === true })
        if (ctx.values.json) ctx.out.write(`${JSON.stringify(remote, null, 2)}\n`)
        else for (const c of remote) ctx.out.write(`${c.version.padEnd(6)} ${c.release.padEnd(30)} ${c.image.version.padEnd(22)} ${c.image.suite}  ${c.image.name}${c.modules ? ` + ${c.modules.name}` : ''}\n`)
        return 0
      }
      const list = k.listKernels()
      if (ctx.values.json) {
        ctx.out.write(`${JSON.stringify(list, null, 2)}\n`)
        return 0
      }
      if (list.length === 0) ctx.out.write(`no kernels in ${k.kernelCacheDir()} (tcplab kernels fetch 6.1)\n`)
      for (const c of list) ctx.out.write(`${c.version.padEnd(6)} ${c.release.padEnd(30)} ${c.debVersion.padEnd(22)} ${c.suite.padEnd(20)} ${c.fetchedAt.slice(0, 19)}\n`)
      return 0
    }
    if (sub === 'fetch') {
      if (args.length === 0) throw new UsageError(`kernels fetch expects at least one version, e.g. tcplab kernels fetch 6.1 6.12`)
      k.removeStaleWork()
      const res = await k.fetchKernels(args, { refresh: ctx.values.refresh === true, log: (l) => ctx.err.write(`${l}\n`) })
      for (const r of res) ctx.out.write(`${r.cached ? 'cached ' : 'fetched'} ${r.spec.padEnd(6)} ${r.kernel.release} (${r.kernel.package} ${r.kernel.debVersion}, ${r.kernel.suite}) ${r.kernel.dir}\n`)
      return 0
    }
    if (sub === 'rm' || sub === 'remove') {
      if (args.length === 0) throw new UsageError('kernels rm expects versions or releases (see tcplab kernels list)')
      let n = 0
      for (const a of args) {
        const gone = k.removeKernels(a)
        for (const r of gone) ctx.out.write(`removed ${r}\n`)
        if (gone.length === 0) ctx.err.write(`tcplab: no cached kernel matches "${a}"\n`)
        n += gone.length
      }
      return n > 0 ? 0 : 1
    }
    throw new UsageError(USAGE)
  },
})
