// Kernels for the vm backend: the cache (read offline) and fetching into it.
export { listKernels, resolveKernel, findCachedKernel, removeKernels, kernelCacheDir, kernelPaths, DEFAULT_KERNEL_CACHE } from './cache.js'
export type { CachedKernel, HostKernel, ResolvedKernel, KernelManifest } from './cache.js'
export { fetchKernels, listRemoteKernels, removeStaleWork } from './fetch.js'
export type { FetchOptions, FetchResult } from './fetch.js'
export type { KernelCandidate } from './packages.js'
