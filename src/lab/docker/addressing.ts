// Networks, addresses and routes of a docker lab inside its leased /24, laid
// out like the netns backend's so that a scenario sees the same addresses on
// both: two hosts .1 and .2; a wire between two endpoints splits the /24 in two
// /25s (a .1 | wire .126 | wire .254 | b .129); more hosts share one network.
// Docker puts each network's gateway address on the host's side of the bridge;
// it is the one address of the /24 (or /25) no lab host uses.

import type { LabSpec } from '../types.js'

export interface NetworkPlan {
  /** Suffix of the network name: tcplab-<labId>-<key>. */
  key: string
  /** "198.18.7.0/24" */
  subnet: string
  /** Address Docker gives the host side of the bridge. */
  gateway: string
}

export interface HostPlan {
  name: string
  isWire: boolean
  /** Networks in interface order (eth0, eth1, ...), with the host's address on each. */
  attachments: Array<{ network: string; ip: string; prefixLen: number }>
  /** `ip route add` arguments: only routes to the lab's own /24, never a default route. */
  routes: string[][]
}

export interface LabPlan {
  networks: NetworkPlan[]
  hosts: HostPlan[]
}

/** Lay out a lab in the /24 whose first three octets are `prefix24` ("198.18.7"). */
export function planDockerLab(spec: LabSpec, prefix24: string): LabPlan {
  const p = prefix24
  const wire = spec.hosts.find((h) => h.isWire)
  const ends = spec.hosts.filter((h) => !h.isWire)
  if (wire && ends.length === 2) {
    const [a, b] = ends as [(typeof ends)[0], (typeof ends)[0]]
    return {
      networks: [
        { key: 'net0', subnet: `${p}.0/25`, gateway: `${p}.125` },
        { key: 'net1', subnet: `${p}.128/25`, gateway: `${p}.253` },
      ],
      hosts: spec.hosts.map((h): HostPlan => {
        if (h === a) return { name: h.name, isWire: false, attachments: [{ network: 'net0', ip: `${p}.1`, prefixLen: 25 }], routes: [[`${p}.0/24`, 'via', `${p}.126`]] }
        if (h === b) return { name: h.name, isWire: false, attachments: [{ network: 'net1', ip: `${p}.129`, prefixLen: 25 }], routes: [[`${p}.0/24`, 'via', `${p}.254`]] }
        return {
          name: h.name,
          isWire: true,
          attachments: [{ network: 'net0', ip: `${p}.126`, prefixLen: 25 }, { network: 'net1', ip: `${p}.254`, prefixLen: 25 }],
          routes: [],
        }
      }),
    }
  }
  if (spec.hosts.length > 253) throw new RangeError(`a lab has at most 253 hosts, got ${spec.hosts.length}`)
  return {
    networks: [{ key: 'net0', subnet: `${p}.0/24`, gateway: `${p}.254` }],
    hosts: spec.hosts.map((h, i) => ({
      name: h.name,
      isWire: h.isWire,
      attachments: [{ network: 'net0', ip: `${p}.${i + 1}`, prefixLen: 24 }],
      routes: [],
    })),
  }
}
