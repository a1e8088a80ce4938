// `createBackend('vm')`: the vm backend before any guest is booted. It checks the
// machine (root, QEMU, virtiofsd) and cleans up after crashed runs (`tcplab gc`);
// labs need a guest, which `tcplab run --kernel VERSION` boots (runner/kernel-matrix.ts).

import { existsSync } from 'node:fs'
import { runCommand } from '../../util/proc.js'
import { EnvironmentError, PrivilegeError, TcplabError, UsageError } from '../../util/errors.js'
import type { Backend } from '../types.js'
import { findVirtiofsd, gcGuests, hasKvmDevice, preferredAccel } from './guest.js'
import { kernelCacheDir, listKernels } from '../../kernels/index.js'

/** Root, qemu-system-x86_64 and virtiofsd; EnvironmentError with the fix otherwise. */
export async function checkVmTools(): Promise<void> {
  if (process.getuid?.() !== 0) throw new PrivilegeError('the vm backend runs QEMU and virtiofsd sharing /, which needs root')
  try {
    await runCommand([process.env.TCPLAB_QEMU ?? 'qemu-system-x86_64', '--version'])
  } catch (e: unknown) {
    if (e instanceof TcplabError && !(e instanceof EnvironmentError)) throw e
    throw new EnvironmentError('E_MISSING_TOOL', 'cannot run qemu-system-x86_64', { hint: 'apt-get install -y qemu-system-x86 (or: bash scripts/install-deps.sh --vm)', cause: e })
  }
  findVirtiofsd()
}

export function createVmToolsBackend(): Backend {
  return {
    name: 'vm',
    check: checkVmTools,
    async describe() {
      const dir = kernelCacheDir()
      const kernels = listKernels(dir)
      return `QEMU guests (${preferredAccel()}${hasKvmDevice() ? '' : ': no /dev/kvm'}); cached kernels in ${dir}: ${kernels.length > 0 ? kernels.map((k) => k.release).join(', ') : 'none'}${existsSync(dir) ? '' : ' (missing)'}`
    },
    up() {
      return Promise.reject(new UsageError('the vm backend runs scenarios on a kernel you name', { hint: 'tcplab run --kernel 6.1 (see `tcplab kernels list`)' }))
    },
    gc: (id?: string) => gcGuests(id),
  }
}
