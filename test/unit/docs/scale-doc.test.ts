// docs/scale.md: its GitHub Actions workflow and Kubernetes manifests parse, and
// their wiring is right. Every matrix entry and every Indexed Job pod is expanded
// (the pods' `sh -c` commands are run by a real sh, with the tcplab call replaced
// by printf) and must give the shards 1/N ... N/N exactly once; results paths,
// artifact names and the merge job's inputs and output must line up; the pod
// must have what the netns backend needs.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, parseAllDocuments } from 'yaml'
import { parseShard } from '../../../src/runner/shard.js'
import { findCommand } from '../../../src/cli/registry.js'

const DOC = fileURLToPath(new URL('../../../docs/scale.md', import.meta.url))

/** The ```yaml blocks of the page whose first line is `# file: NAME`. */
function yamlBlocks(md: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const m of md.matchAll(/```yaml\n# file: (\S+)\n([\s\S]*?)```/g)) out.set(m[1] as string, m[2] as string)
  return out
}

type Obj = Record<string, unknown>
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null ? (v as Obj) : {})
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])

/** A glob with `*` as a RegExp. */
const globRe = (g: string): RegExp => new RegExp(`^${g.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`)

/** The value after `--name` in a command line. */
const optionOf = (cmd: string, name: string): string | undefined => new RegExp(`--${name}[ =](\\S+)`).exec(cmd)?.[1]

const blocks = yamlBlocks(readFileSync(DOC, 'utf8'))

t.test('the page has the workflow and the two manifests', async (t) => {
  t.same([...blocks.keys()].sort(), ['.github/workflows/tcplab.yml', 'k8s/tcplab-merge.yaml', 'k8s/tcplab-suite.yaml'])
  t.ok('shard' in (findCommand('run')?.options ?? {}) && 'results' in (findCommand('run')?.options ?? {}), 'tcplab run has --shard and --results')
  t.ok('out' in (findCommand('merge')?.options ?? {}), 'tcplab merge has --out')
})

t.test('GitHub Actions: the matrix runs each shard once, uploads it, and the merge job takes all of them', async (t) => {
  const wf = obj(parse(blocks.get('.github/workflows/tcplab.yml') ?? ''))
  const suite = obj(obj(wf.jobs).suite)
  const strategy = obj(suite.strategy)
  t.equal(strategy['fail-fast'], false, 'fail-fast: false (every shard runs even when one fails)')
  const matrix = obj(strategy.matrix)
  const total = arr(matrix.shardTotal)
  t.equal(total.length, 1, 'one shardTotal')
  const n = total[0] as number
  t.same(matrix.shardIndex, Array.from({ length: n }, (_, i) => i + 1), `shardIndex is 1..${n}`)
  const steps = arr(suite.steps).map(obj)
  const uploadNames: string[] = []
  const shards: string[] = []
  for (const index of arr(matrix.shardIndex)) {
    const expand = (s: unknown): string => String(s ?? '').replaceAll('${{ matrix.shardIndex }}', String(index)).replaceAll('${{ matrix.shardTotal }}', String(n))
    const run = steps.map((s) => expand(s.run)).find((r) => / run /.test(r) && r.includes('--shard'))
    if (!run) {
      t.fail('no step runs tcplab with --shard')
      continue
    }
    const shard = optionOf(run, 'shard') ?? ''
    t.doesNotThrow(() => parseShard(shard), `entry ${String(index)}: --shard ${shard} is valid`)
    shards.push(shard)
    const results = optionOf(run, 'results')
    const upload = steps.find((s) => String(s.uses).startsWith('actions/upload-artifact@'))
    const withUpload = obj(upload?.with)
    t.equal(expand(withUpload.path), results, `entry ${String(index)}: uploads its --results directory`)
    t.match(String(upload?.if), /!cancelled\(\)|always\(\)/, 'uploads also when the shard failed')
    uploadNames.push(expand(withUpload.name))
  }
  t.same(shards.map((s) => parseShard(s)).map((s) => [s.index, s.total]), Array.from({ length: n }, (_, i) => [i + 1, n]), 'the shards 1/N ... N/N, each once')
  t.equal(new Set(uploadNames).size, n, 'one artifact name per shard')

  const merge = obj(obj(wf.jobs).merge)
  t.ok(arr(merge.needs).includes('suite') || merge.needs === 'suite', 'the merge job needs the shards')
  t.match(String(merge.if), /!cancelled\(\)|always\(\)/, 'and runs when a shard failed')
  const msteps = arr(merge.steps).map(obj)
  const download = obj(msteps.find((s) => String(s.uses).startsWith('actions/download-artifact@'))?.with)
  const pattern = String(download.pattern)
  t.notOk(download['merge-multiple'], 'each artifact in its own folder')
  for (const name of uploadNames) t.match(name, globRe(pattern), `the download pattern takes ${name}`)
  const mergeRun = msteps.map((s) => String(s.run ?? '')).find((r) => / merge /.test(r)) ?? ''
  const m = / merge (\S+) --out (\S+)/.exec(mergeRun)
  t.ok(m, `a step runs tcplab merge INPUTS --out DIR (${mergeRun})`)
  t.equal(m?.[1], `${String(download.path)}/${pattern}`, 'merge takes every downloaded shard folder')
  const out = m?.[2] ?? ''
  const reportUpload = obj(msteps.find((s) => String(s.uses).startsWith('actions/upload-artifact@'))?.with)
  t.equal(reportUpload.path, out, 'the merged directory is uploaded')
  const junit = obj(msteps.find((s) => String(s.uses).includes('junit'))?.with)
  t.equal(junit.report_paths, `${out}/junit.xml`, 'the JUnit file of the merged directory is published')
})

/** Run a pod's `sh -c` script with the tcplab call replaced by printf: the argv tcplab would get. */
function argvOf(script: string, env: Record<string, string>, replace: [string, string][] = []): string[] {
  let s = script.replace(/^exec node dist\/cli\/main\.js /, "printf '%s\\n' ")
  for (const [a, b] of replace) s = s.replaceAll(a, b)
  const out = execFileSync('sh', ['-c', s], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, encoding: 'utf8' })
  return out.split('\n').filter(Boolean)
}

t.test('Kubernetes: the Indexed Job runs each shard once on the shared volume, with what the netns backend needs', async (t) => {
  const docs = parseAllDocuments(blocks.get('k8s/tcplab-suite.yaml') ?? '').map((d) => obj(d.toJS()))
  const pvc = docs.find((d) => d.kind === 'PersistentVolumeClaim')
  const job = docs.find((d) => d.kind === 'Job')
  t.ok(pvc && job, 'a PersistentVolumeClaim and a Job')
  t.same(obj(pvc?.spec).accessModes, ['ReadWriteMany'], 'the volume is shared by the pods (RWX)')
  const spec = obj(job?.spec)
  t.equal(spec.completionMode, 'Indexed')
  const n = spec.completions as number
  t.ok(Number.isInteger(n) && n >= 1, `completions: ${n}`)
  t.ok((spec.parallelism as number) <= n, 'parallelism <= completions')
  t.equal(spec.backoffLimitPerIndex, 0, 'a failed shard is not retried, the others go on')
  const pod = obj(obj(spec.template).spec)
  t.equal(pod.restartPolicy, 'Never')
  const c = obj(arr(pod.containers)[0])
  const env = Object.fromEntries(arr(c.env).map(obj).map((e) => [String(e.name), String(e.value)]))
  t.equal(env.SHARD_TOTAL, String(n), 'SHARD_TOTAL is the number of completions')
  const cmd = arr(c.command).map(String)
  t.same(cmd.slice(0, 2), ['sh', '-c'])
  const mount = obj(arr(c.volumeMounts).map(obj).find((v) => v.name === 'results'))
  const volume = obj(arr(pod.volumes).map(obj).find((v) => v.name === mount.name))
  t.equal(obj(volume.persistentVolumeClaim).claimName, obj(pvc?.metadata).name, 'results go to the shared claim')
  const seen: Array<[number, number]> = []
  const dirs = new Set<string>()
  for (let k = 0; k < n; k++) {
    const argv = argvOf(cmd[2] ?? '', { ...env, JOB_COMPLETION_INDEX: String(k) })
    t.equal(argv[0], 'run', `pod ${k}: tcplab run`)
    const shard = parseShard(argv[argv.indexOf('--shard') + 1] ?? '')
    seen.push([shard.index, shard.total])
    const results = argv[argv.indexOf('--results') + 1] ?? ''
    t.ok(results.startsWith(`${String(mount.mountPath)}/`), `pod ${k}: results on the volume (${results})`)
    dirs.add(results)
  }
  t.same(seen, Array.from({ length: n }, (_, i) => [i + 1, n]), 'pods 0..N-1 run the shards 1/N ... N/N')
  t.equal(dirs.size, n, 'each pod its own results directory')
  const sc = obj(c.securityContext)
  const caps = arr(obj(sc.capabilities).add).map(String)
  const needed = ['NET_ADMIN', 'SYS_ADMIN', 'NET_RAW', 'SETUID', 'SETGID', 'KILL', 'SYS_NICE']
  t.ok(sc.privileged === true || (needed.every((x) => caps.includes(x)) && sc.procMount === 'Unmasked'),
    'privileged, or the capabilities the netns backend needs and a writable /proc/sys')
  t.ok(sc.runAsUser === 0 || sc.runAsUser === undefined, 'runs as root')

  // The merge Job, run against a scratch copy of the volume holding the shards' directories.
  const mergeJob = obj(parse(blocks.get('k8s/tcplab-merge.yaml') ?? ''))
  t.equal(mergeJob.kind, 'Job')
  const mpod = obj(obj(obj(mergeJob.spec).template).spec)
  const mc = obj(arr(mpod.containers)[0])
  const mmount = obj(arr(mc.volumeMounts).map(obj).find((v) => v.name === 'results'))
  t.equal(obj(obj(arr(mpod.volumes).map(obj).find((v) => v.name === mmount.name)).persistentVolumeClaim).claimName, obj(pvc?.metadata).name, 'merge reads the same claim')
  t.equal(mmount.mountPath, mount.mountPath, 'mounted at the same path')
  const vol = mkdtempSync(path.join(tmpdir(), 'tcplab-k8s-'))
  t.teardown(() => rmSync(vol, { recursive: true, force: true }))
  for (const d of dirs) mkdirSync(path.join(vol, path.relative(String(mount.mountPath), d)))
  const margv = argvOf(arr(mc.command).map(String)[2] ?? '', {}, [[String(mmount.mountPath), vol]])
  t.equal(margv[0], 'merge')
  const outIdx = margv.indexOf('--out')
  t.same(margv.slice(1, outIdx).sort(), [...dirs].map((d) => path.join(vol, path.relative(String(mount.mountPath), d))).sort(), 'merge takes every shard directory')
  t.notOk([...dirs].map((d) => path.join(vol, path.relative(String(mount.mountPath), d))).includes(margv[outIdx + 1] ?? ''), 'and writes elsewhere')
})
