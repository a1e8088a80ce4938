// The runner's end of the guest's command multiplexer (agent/vminit/tcplab-vminit.c):
// frames over the virtio-serial port, which QEMU connects to a unix socket we listen on.
// The protocol and the multiplexer are util/mux.ts (this machine's spawner speaks it too);
// here: the guest's transport, its spawn errors, its clock, and what its init configures.

import type { Socket } from 'node:net'
import { ProcessError } from '../../util/errors.js'
import { Mux } from '../../util/mux.js'
import { hostRealtimeUs } from './clock.js'

export { decodeFrames, encodeFrame, errnoName, FRAME, Mux, type GuestTime } from '../../util/mux.js'

/** The ip-batch lines the guest's init does itself (CONFIGURE): those of a lab plan's namespaces (lab/netns planLab). */
export const CONFIGURE_LINE = /^(link set \S+ up|link set \S+ master \S+ up|link add \S+ type bridge|addr add [\d.]+\/\d+ dev \S+|route add [\d.]+\/\d+ via [\d.]+)$/

/** The multiplexer over a guest's port (the unix socket QEMU connects it to). */
export function guestMux(sock: Socket, label: string): Mux {
  return new Mux({
    write: (frame) => sock.write(frame),
    onData: (fn) => sock.on('data', fn),
    onClose: (fn) => {
      sock.on('close', fn)
      sock.on('error', fn)
    },
  }, label, {
    clockUs: hostRealtimeUs,
    spawnError: (argv, why, host) => new ProcessError({ argv, host, exitCode: undefined, signal: undefined, stderr: `cannot start in the guest: ${why}` }, {
      hint: why === 'ENOENT' ? `"${argv[0] ?? ''}" is not installed (the vm guest runs this machine's programs, through its shared root)` : undefined,
    }),
  })
}
