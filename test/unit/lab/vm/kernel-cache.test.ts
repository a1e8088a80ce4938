// Reading the kernel cache that `tcplab kernels fetch` fills: versions resolve to
// the newest fetch of that line, exact releases win, incomplete entries are
// ignored, and a missing kernel names the fetch command.
import t from 'tap'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { listCachedKernels, resolveKernel } from '../../../../src/lab/vm/kernel-cache.js'
import { EnvironmentError } from '../../../../src/util/errors.js'

const cache = mkdtempSync(path.join(tmpdir(), 'tcplab-kcache-'))
function put(release: string, version: string, fetchedAt: string, complete = true): void {
  const dir = path.join(cache, release)
  mkdirSync(path.join(dir, 'lib', 'modules', release), { recursive: true })
  if (complete) writeFileSync(path.join(dir, 'vmlinux'), '')
  writeFileSync(path.join(dir, 'kernel.json'), JSON.stringify({ version, release, fetchedAt }))
}
put('6.1.0-50-cloud-amd64', '6.1', '2026-12-01T00:00:00Z')
put('6.1.0-57-cloud-amd64', '6.1', '2026-12-07T00:00:00Z')
put('6.12.48+deb13-cloud-amd64', '6.12', '2026-12-06T00:00:00Z')
put('5.10.0-35-cloud-amd64', '5.10', '2026-12-06T00:00:00Z', false)

t.test('a version resolves to its newest fetch; 6.1 never matches 6.12', async (t) => {
  t.equal(resolveKernel('6.1', cache).info.release, '6.1.0-57-cloud-amd64')
  t.equal(resolveKernel('6.12', cache).info.release, '6.12.48+deb13-cloud-amd64')
  t.equal(resolveKernel('6.1.0-50-cloud-amd64', cache).info.release, '6.1.0-50-cloud-amd64')
  t.equal(resolveKernel('6.1', cache).vmlinux, path.join(cache, '6.1.0-57-cloud-amd64', 'vmlinux'))
})

t.test('an entry without vmlinux (a fetch in progress) is not a kernel', async (t) => {
  t.notOk(listCachedKernels(cache).some((k) => k.info.version === '5.10'))
  const e = t.throws(() => resolveKernel('5.10', cache)) as unknown
  t.ok(e instanceof EnvironmentError)
  t.match((e as EnvironmentError).message, /kernel 5\.10 is not in the cache .*6\.1\.0-57-cloud-amd64/)
  t.equal((e as EnvironmentError).hint, 'tcplab kernels fetch 5.10')
  t.equal((e as EnvironmentError).exitCode, 3)
})

t.test('an empty or missing cache says so', async (t) => {
  t.throws(() => resolveKernel('6.1', path.join(cache, 'nope')), /is empty/)
})
