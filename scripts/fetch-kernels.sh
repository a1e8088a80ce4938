#!/usr/bin/env bash
# Fetch the kernels the vm backend's tests boot into /var/cache/tcplab/kernels
# (tcplab kernels fetch: Debian packages verified through apt's signature chain
# with a private apt state; the machine's apt sources and state are not touched).
# A no-op, without network, when the cache already has them, like the lab image.
#   TCPLAB_CI_KERNELS   versions to fetch (default: 6.1)
#   TCPLAB_KERNEL_CACHE cache root (default /var/cache/tcplab/kernels)
# Needs `make build` first.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a versions <<< "${TCPLAB_CI_KERNELS:-6.1}"
node dist/cli/main.js kernels fetch "${versions[@]}"
