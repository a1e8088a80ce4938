// The emergency paths' loop over state files: only what this process owns is
// removed, unreadable entries and a failing remover do not stop the rest.
import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { removeOwnedSync } from '../../../src/lab/owned-state.js'

t.test('removes the entries whose state names this process, and nothing else', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tcplab-owned-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const guest = (name: string, ownerPid: number): void => {
    mkdirSync(path.join(dir, name))
    writeFileSync(path.join(dir, name, 'state.json'), JSON.stringify({ ownerPid }))
  }
  guest('mine1', process.pid)
  guest('mine2', process.pid)
  guest('theirs', process.pid + 100_000)
  mkdirSync(path.join(dir, 'nostate'))
  writeFileSync(path.join(dir, 'junk'), 'not json')
  const seen: string[] = []
  removeOwnedSync<{ ownerPid: number }>(dir, (e) => path.join(e, 'state.json'), (s) => s.ownerPid, (e) => {
    seen.push(path.basename(e))
    if (path.basename(e) === 'mine1') throw new Error('cannot')
    rmSync(e, { recursive: true, force: true })
  })
  t.same(seen.sort(), ['mine1', 'mine2'])
  t.ok(existsSync(path.join(dir, 'mine1')), 'a failing remover leaves its entry (gc removes it)')
  t.notOk(existsSync(path.join(dir, 'mine2')))
  t.ok(existsSync(path.join(dir, 'theirs')))
  t.ok(existsSync(path.join(dir, 'nostate')))
})

t.test('a missing directory is nothing to do', async (t) => {
  removeOwnedSync(path.join(tmpdir(), 'tcplab-owned-none', 'x'), (e) => e, () => process.pid, () => t.fail('called'))
  t.pass()
})
