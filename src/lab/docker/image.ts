// The lab image: its name (tcplab-lab:<package version>, built by `make image`,
// containers/build-image.sh) and what lab hosts find inside it.

import { readFileSync } from 'node:fs'

/** Path of the static socket agent inside the lab image (containers/build-image.sh puts it there). */
export const LAB_AGENT_PATH = '/usr/local/bin/tcplab-agent'

let cachedName: string | undefined

/** Image of lab hosts: $TCPLAB_IMAGE, else tcplab-lab:<version from package.json>. */
export function labImageName(): string {
  if (process.env.TCPLAB_IMAGE) return process.env.TCPLAB_IMAGE
  // Same relative path from src/lab/docker/ (tsx) and dist/lab/docker/ (built).
  cachedName ??= `tcplab-lab:${(JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version}`
  return cachedName
}
