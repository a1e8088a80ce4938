// Resolving a kernel version to Debian packages, on `apt-cache madison` output recorded from the
// private apt state (bullseye, bookworm, -security, -backports, sid; mirror host replaced).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { compareDebianVersions } from '../../../src/kernels/debian-version.js'
import { isKernelPackageName, listCandidates, parseMadison, pickCandidate, rankCandidates, versionOfAbi } from '../../../src/kernels/packages.js'
import { findMirrors, parseSourceEntries, renderSourcesList, PrivateApt } from '../../../src/kernels/apt.js'

const FIX = new URL('../../fixtures/kernels/', import.meta.url)
const madison = readFileSync(new URL('madison-cloud-amd64.txt', FIX), 'utf8')

t.test('Debian version order (deb-version(7))', async (t) => {
  const ordered = ['6.1.176-1', '6.1.192-3', '6.12.95-1~bpo12+1', '6.12.118-1~deb12u1', '6.12.118-1', '7.2.13-1', '1:0.1-1']
  for (let i = 1; i < ordered.length; i++) t.equal(compareDebianVersions(ordered[i - 1] as string, ordered[i] as string), -1, `${ordered[i - 1]} < ${ordered[i]}`)
  t.equal(compareDebianVersions('1.0~rc1', '1.0'), -1, '~ sorts before the end')
  t.equal(compareDebianVersions('1.0a', '1.0+'), -1, 'letters before other characters')
  t.equal(compareDebianVersions('5.10.251-5', '5.10.251-5'), 0)
  t.equal(compareDebianVersions('5.10.262-1', '5.10.251-5'), 1)
})

t.test('package names: image, split binary and modules; not signed, dbg or other flavours', async (t) => {
  t.ok(isKernelPackageName('linux-image-6.1.0-57-cloud-amd64-unsigned'))
  t.ok(isKernelPackageName('linux-binary-unsigned-7.2.13+deb14-cloud-amd64'))
  t.ok(isKernelPackageName('linux-modules-7.2.13+deb14-cloud-amd64'))
  t.notOk(isKernelPackageName('linux-image-6.1.0-57-cloud-amd64'))
  t.notOk(isKernelPackageName('linux-image-6.1.0-57-cloud-amd64-dbg'))
  t.notOk(isKernelPackageName('linux-image-6.1.0-57-amd64-unsigned'))
  t.notOk(isKernelPackageName('linux-image-cloud-amd64'))
  t.equal(versionOfAbi('6.12.118+deb12'), '6.12')
  t.equal(versionOfAbi('6.1.0-57'), '6.1')
})

t.test('versions resolve to the newest native build, with the suite that offers it', async (t) => {
  const pkgs = parseMadison(madison)
  t.ok(pkgs.length > 50)
  t.same(pkgs.find((p) => p.name === 'linux-image-6.1.0-57-cloud-amd64-unsigned'), { name: 'linux-image-6.1.0-57-cloud-amd64-unsigned', version: '6.1.192-3', suite: 'bookworm-security' })
  const cands = listCandidates(pkgs)
  const pick = (v: string): [string, string, string, string | undefined] | undefined => {
    const c = pickCandidate(cands, v)
    return c ? [c.release, c.image.version, c.image.suite, c.modules?.name] : undefined
  }
  t.same(pick('5.10'), ['5.10.0-46-cloud-amd64', '5.10.262-1', 'bullseye-security', undefined])
  t.same(pick('6.1'), ['6.1.0-57-cloud-amd64', '6.1.192-3', 'bookworm-security', undefined], 'not 6.1.0-0.deb11.N, the rebuild for bullseye')
  t.same(pick('6.12'), ['6.12.118+deb12-cloud-amd64', '6.12.118-1~deb12u1', 'bookworm-security', undefined], 'the bookworm kernel, newer than the backport')
  t.same(pick('7.2'), ['7.2.13+deb14-cloud-amd64', '7.2.13-1', 'sid', 'linux-modules-7.2.13+deb14-cloud-amd64'], 'split: binary + modules')
  t.same(pick('6.1.0-50-cloud-amd64'), ['6.1.0-50-cloud-amd64', '6.1.176-1', 'bookworm', undefined], 'a release exactly')
  t.same(pick('6.1.0-50'), ['6.1.0-50-cloud-amd64', '6.1.176-1', 'bookworm', undefined], 'a release without the flavour')
  t.equal(pick('4.19'), undefined)
  t.equal(pick('9.9.9-1-cloud-amd64'), undefined)
  const r510 = rankCandidates(cands, '5.10').map((c) => c.release)
  t.same(r510.slice(0, 3), ['5.10.0-46-cloud-amd64', '5.10.0-45-cloud-amd64', '5.10.0-44-cloud-amd64'], 'fallbacks newest first (a mirror may 404 the newest)')
  const r61 = rankCandidates(cands, '6.1').map((c) => c.release)
  t.ok(r61.indexOf('6.1.0-0.deb11.52-cloud-amd64') > r61.indexOf('6.1.0-47-cloud-amd64'), 'backport rebuilds come last')
})

t.test('a split kernel whose modules package is missing is not offered', async (t) => {
  const pkgs = parseMadison(madison).filter((p) => !p.name.startsWith('linux-modules-7.2'))
  t.equal(pickCandidate(listCandidates(pkgs), '7.2'), undefined)
})

t.test('the private apt: sources from the machine\'s mirror, every directory inside root', async (t) => {
  const entries = parseSourceEntries(readFileSync(new URL('debian.sources', FIX), 'utf8'), true)
  t.same(entries, [
    { uri: 'http://mirror.example/debian', suite: 'bookworm' },
    { uri: 'http://mirror.example/debian', suite: 'bookworm-updates' },
    { uri: 'http://mirror.example/debian-security', suite: 'bookworm-security' },
  ])
  t.same(parseSourceEntries('deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n# deb http://x y z\n', false), [{ uri: 'http://m.example/debian', suite: 'bookworm' }])
  const m = findMirrors({ TCPLAB_DEBIAN_MIRROR: 'http://m.example/debian/' }, '/nonexistent')
  t.same(m, { main: 'http://m.example/debian', security: 'http://m.example/debian-security' })
  t.throws(() => findMirrors({}, '/nonexistent'), /no Debian mirror found/)
  const list = renderSourcesList(m)
  t.match(list, /^deb \[signed-by=\/usr\/share\/keyrings\/debian-archive-keyring\.gpg\] http:\/\/m\.example\/debian bullseye main$/m)
  t.match(list, /^deb \[signed-by=[^\]]+\] http:\/\/m\.example\/debian-security bookworm-security main$/m)
  t.match(list, / sid main$/m)
  const opts = new PrivateApt('/var/cache/x/.apt').options()
  const dirs = opts.filter((o) => o.startsWith('Dir'))
  t.ok(dirs.length >= 10)
  t.ok(dirs.every((o) => o.includes('=/var/cache/x/.apt/')), 'no apt directory outside the private root (state, cache, sources, parts, trusted keys)')
  t.ok(opts.includes('Dir::Etc::TrustedParts=/var/cache/x/.apt/trusted.gpg.d'), "the machine's trusted keys are not used")
})
