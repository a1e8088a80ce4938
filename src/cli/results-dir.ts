import path from 'node:path'

/** The default results directory: results/<prefix><UTC time to the second>, e.g. results/2026-12-07T03-50-12. */
export function timestampedResultsDir(prefix = ''): string {
  return path.join('results', `${prefix}${new Date().toISOString().replace(/:/g, '-').replace(/\..*$/, '')}`)
}
