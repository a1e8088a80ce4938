// `--kernel` parsing and the per-kernel directory names the matrix page reads.
import t from 'tap'
import { kernelDirName, parseKernelList } from '../../../src/runner/kernel-matrix.js'
import { UsageError } from '../../../src/util/errors.js'

t.test('a comma-separated list of versions, releases and "host"', async (t) => {
  t.same(parseKernelList('6.1,6.12,host'), ['6.1', '6.12', 'host'])
  t.same(parseKernelList(' 6.1 , 6.1.0-50-cloud-amd64 '), ['6.1', '6.1.0-50-cloud-amd64'])
  t.equal(kernelDirName('6.12'), 'kernel-6.12')
  t.equal(kernelDirName('host'), 'kernel-host')
})

t.test('bad lists are usage errors (exit 2) naming what is wrong', async (t) => {
  for (const [v, re] of [[',', /expects a list like 6\.1,6\.12,host/], ['6.1,6.1', /names 6\.1 twice/], ['6.1,../x', /"\.\.\/x" is not a kernel version/], ['6.1;rm', /is not a kernel version/]] as const) {
    const e = t.throws(() => parseKernelList(v)) as unknown
    t.ok(e instanceof UsageError, v)
    t.match((e as Error).message, re, v)
    t.equal((e as UsageError).exitCode, 2)
  }
})
