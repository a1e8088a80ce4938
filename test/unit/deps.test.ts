// The dependency direction of STYLE.md, as docs/architecture.md refines it, checked
// on every import in src/. The rule is docs/architecture.md's arrow line, read here:
//
//   cli -> index.ts (the public API) -> runner -> actions -> {scenario, lab, ...} -> kernels -> util
//
// An arrow means "may import"; a layer may use any layer below it, never one
// above. The middle layers may use each other as long as their graph has no
// cycle. src/scenario/schema.ts may import src/actions/index.ts (the step union
// is built from the actions' schemas): the one sanctioned edge upwards besides
// util's types; to keep it acyclic, src/actions imports from scenario only its
// field types and templates, and the lab and util/proc.ts only as types or
// lazily. src/index.ts is the public library API: only cli imports it. Backends
// (src/lab/netns, src/lab/docker, src/lab/vm) are reached only from inside
// src/lab. Nothing imports cli. util imports no other layer, except types from
// src/lab/types.ts (the process module speaks the Host/Proc contract).
//
// Imports are read with the TypeScript parser: static imports, `export ... from`,
// `import type`, and dynamic `import()` (also through a const string), so a
// dependency cannot hide in a multi-line import or a lazy load.

import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const SRC = join(ROOT, 'src')

/**
 * The layers, read from docs/architecture.md's arrow line (STYLE.md's rule, refined
 * there with actions/, diff/ and kernels/), so the doc and the check cannot drift:
 *   cli -> index.ts (the public API) -> runner -> actions -> {scenario, ...} -> kernels -> util
 * Each segment ranks above the ones to its right; a {set} shares one rank.
 */
export function layerRanks(doc: string): Record<string, number> {
  const line = doc.split('\n').find((l) => l.startsWith('cli -> '))
  if (line === undefined) throw new Error('docs/architecture.md has no "cli -> ..." layer line')
  const segments = line.split('->').map((x) => x.trim())
  const ranks: Record<string, number> = {}
  segments.forEach((seg, i) => {
    const rank = segments.length - 1 - i
    const names = seg.startsWith('{') ? seg.slice(1, -1).split(',').map((x) => x.trim()) : [seg.startsWith('index.ts') ? 'api' : seg]
    for (const n of names) ranks[n] = rank
  })
  return ranks
}
const RANK = layerRanks(readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8'))

interface Edge {
  /** Importing file, relative to the repository root with "/" separators. */
  from: string
  /** Imported file (src/... .ts), or the raw specifier when it could not be resolved. */
  to: string
  typeOnly: boolean
  line: number
  /** A dynamic import whose specifier is not a string known at compile time. */
  unresolved?: boolean
  /** import(): loaded when the code runs, not with the importing module. */
  dynamic?: boolean
}

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name)
    return d.isDirectory() ? listTs(p) : d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [p] : []
  })
}

const rel = (abs: string): string => relative(ROOT, abs).split(sep).join('/')

/** Every import of one file. */
function importsOf(file: string, text: string): Edge[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS)
  const consts = new Map<string, string>()
  const edges: Edge[] = []
  const lineOf = (n: ts.Node): number => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1
  const add = (spec: string, typeOnly: boolean, node: ts.Node, unresolved = false, dynamic = false): void => {
    if (!spec.startsWith('.')) {
      if (!unresolved) return // a package (node:fs, zod, ...)
    }
    const to = unresolved ? spec : rel(resolve(dirname(file), spec)).replace(/\.js$/, '.ts')
    edges.push({ from: rel(file), to, typeOnly, line: lineOf(node), ...(unresolved ? { unresolved } : {}), ...(dynamic ? { dynamic } : {}) })
  }
  const visit = (n: ts.Node): void => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer && ts.isStringLiteralLike(n.initializer)) {
      consts.set(n.name.text, n.initializer.text)
    }
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined
      const typeOnly = c !== undefined && (c.isTypeOnly || (c.name === undefined && named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)))
      add(n.moduleSpecifier.text, typeOnly, n)
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      const named = n.exportClause && ts.isNamedExports(n.exportClause) ? n.exportClause.elements : undefined
      add(n.moduleSpecifier.text, n.isTypeOnly || (named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)), n)
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference) && ts.isStringLiteral(n.moduleReference.expression)) {
      add(n.moduleReference.expression.text, n.isTypeOnly, n)
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = n.arguments[0]
      if (arg && ts.isStringLiteralLike(arg)) add(arg.text, false, n, false, true)
      else if (arg && ts.isIdentifier(arg) && consts.has(arg.text)) add(consts.get(arg.text) as string, false, n, false, true)
      else add(arg ? arg.getText(sf) : '(no argument)', false, n, true, true)
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      add(n.argument.literal.text, true, n) // import('./x.js').Type
    }
    ts.forEachChild(n, visit)
  }
  visit(sf)
  return edges
}

/** The layer of a src file: its top folder, "api" for src/index.ts. */
function layerOf(path: string): string {
  const parts = path.split('/')
  if (parts[0] !== 'src') return '(outside src)'
  return parts.length === 2 ? (parts[1] === 'index.ts' ? 'api' : `(file ${parts[1]})`) : (parts[1] as string)
}

/** Every violation of the rules above, as "file:line -> target: why". */
/** The one sanctioned upward edge: util's process module uses the Host/Proc types. */
const isUtilTypesEdge = (e: Edge): boolean => layerOf(e.from) === 'util' && e.to === 'src/lab/types.ts' && e.typeOnly
/** The scenario schema builds its step union from the actions' registry. */
const isSchemaActionsEdge = (e: Edge): boolean => e.from === 'src/scenario/schema.ts' && e.to === 'src/actions/index.ts'
const isSanctioned = (e: Edge): boolean => isUtilTypesEdge(e) || isSchemaActionsEdge(e)

function violations(edges: readonly Edge[]): string[] {
  const out: string[] = []
  const say = (e: Edge, why: string): void => { out.push(`${e.from}:${e.line} -> ${e.to}: ${why}`) }
  for (const e of edges) {
    if (e.unresolved) { say(e, 'a dynamic import whose target is not a string known here'); continue }
    const a = layerOf(e.from)
    const b = layerOf(e.to)
    if (RANK[a] === undefined) { say(e, `${a} is not a known layer (add it to the rule in this test and to STYLE.md)`); continue }
    if (RANK[b] === undefined) { say(e, `${b} is not a known layer`); continue }
    if (b === 'cli' && a !== 'cli') say(e, 'nothing imports from cli')
    else if (b === 'api' && a !== 'cli') say(e, 'only the CLI uses the public API (src/index.ts); inside src import the module itself')
    else if ((RANK[b] as number) > (RANK[a] as number) && !isSanctioned(e)) say(e, `${a} must not depend on ${b} (it is above it)`)
    if (/^src\/lab\/(netns|docker)\//.test(e.to) && a !== 'lab') say(e, 'backends are reached only through src/lab/index.ts')
    if (a === 'actions' && b === 'scenario' && !/^src\/scenario\/(fields|template)\.ts$/.test(e.to)) {
      say(e, 'actions import from scenario only fields.ts and template.ts (schema.ts imports the actions)')
    }
    if (a === 'actions' && (b === 'lab' || e.to === 'src/util/proc.ts') && !e.typeOnly && !e.dynamic) {
      say(e, 'the scenario schema loads src/actions: import the lab and util/proc.ts there as types, or lazily in `run`')
    }
    if (a === 'util' && b !== 'util' && !isUtilTypesEdge(e)) {
      say(e, e.to === 'src/lab/types.ts' ? 'util may import types only from src/lab/types.ts (use `import type`)' : 'util imports no other layer')
    }
  }
  // No cycles between the middle layers (nor anywhere else between folders).
  const graph = new Map<string, Set<string>>()
  for (const e of edges) {
    if (e.unresolved || isSanctioned(e)) continue
    const a = layerOf(e.from)
    const b = layerOf(e.to)
    if (a !== b) graph.set(a, (graph.get(a) ?? new Set()).add(b))
  }
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const dfs = (n: string): void => {
    state.set(n, 'open')
    stack.push(n)
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 'open') out.push(`cycle between layers: ${[...stack.slice(stack.indexOf(m)), m].join(' -> ')}`)
      else if (!state.has(m)) dfs(m)
    }
    stack.pop()
    state.set(n, 'done')
  }
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) dfs(n)
  return out
}

const FILES = listTs(SRC)
const EDGES = FILES.flatMap((f) => importsOf(f, readFileSync(f, 'utf8')))

t.test('src/ follows the dependency direction of STYLE.md', async (t) => {
  t.ok(FILES.length > 30, `${FILES.length} files under src/`)
  t.ok(EDGES.length > 100, `${EDGES.length} imports between them`)
  t.same(violations(EDGES), [])
})

t.test('every layer is where the rule puts it', async (t) => {
  const layers = new Set(FILES.map((f) => layerOf(rel(f))))
  t.same(Object.keys(RANK).filter((l) => l !== 'api' && !layers.has(l)), [], 'every layer docs/architecture.md names exists')
  t.same([...layers].filter((l) => RANK[l] === undefined), [], 'every src folder has a place in docs/architecture.md\'s layer line')
  t.same(layerRanks('x\ncli -> index.ts (the public API) -> runner -> {a, b} -> util\n'), { cli: 4, api: 3, runner: 2, a: 1, b: 1, util: 0 }, 'the line is read as ranks')
})

t.test('the import reader sees every form of import', async (t) => {
  const f = join(SRC, 'x', 'y.ts')
  const src = [
    `import { a,`,
    `  b } from '../util/a.js'`,
    `import type { T } from '../lab/types.js'`,
    `import { type U, type V } from '../lab/types.js'`,
    `import { type W, w } from '../lab/types.js'`,
    `import './side.js'`,
    `import * as ns from 'node:fs'`,
    `export { z } from '../expect/index.js'`,
    `export type { Z } from '../expect/verdict.js'`,
    `const specifier = './docker/backend.js'`,
    `async function f(name: string) { await import(specifier); await import('../runner/env.js'); await import(name) }`,
    `type Lazy = import('../report/reporter.js').SuiteReporter`,
  ].join('\n')
  t.same(importsOf(f, src).map((e) => [e.to, e.typeOnly, e.line, e.unresolved ?? false]), [
    ['src/util/a.ts', false, 1, false],
    ['src/lab/types.ts', true, 3, false],
    ['src/lab/types.ts', true, 4, false],
    ['src/lab/types.ts', false, 5, false],
    ['src/x/side.ts', false, 6, false],
    ['src/expect/index.ts', false, 8, false],
    ['src/expect/verdict.ts', true, 9, false],
    ['src/x/docker/backend.ts', false, 11, false],
    ['src/runner/env.ts', false, 11, false],
    ['name', false, 11, true],
    ['src/report/reporter.ts', true, 12, false],
  ])
})

t.test('each rule catches its violation', async (t) => {
  const e = (from: string, to: string, typeOnly = false): Edge => ({ from, to, typeOnly, line: 1 })
  const ok = [
    e('src/cli/main.ts', 'src/index.ts'), e('src/cli/doctor.ts', 'src/lab/index.ts'), e('src/index.ts', 'src/runner/suite.ts'),
    e('src/runner/run-scenario.ts', 'src/expect/index.ts'), e('src/expect/ss.ts', 'src/recorder/records.ts'),
    e('src/lab/index.ts', 'src/lab/netns/backend.ts'), e('src/lab/docker/backend.ts', 'src/util/teardown.ts'),
    e('src/util/proc.ts', 'src/lab/types.ts', true), e('src/report/terminal.ts', 'src/expect/verdict.ts'),
    e('src/runner/plan.ts', 'src/actions/index.ts'), e('src/actions/run.ts', 'src/scenario/fields.ts'), e('src/actions/iptables.ts', 'src/faults/iptables.ts'),
    e('src/actions/define.ts', 'src/lab/types.ts', true), { ...e('src/actions/sysctl.ts', 'src/lab/index.ts'), dynamic: true },
    e('src/scenario/schema.ts', 'src/actions/index.ts'),
  ]
  t.same(violations(ok), [], 'the allowed directions')
  const bad: Array<[Edge, RegExp]> = [
    [e('src/runner/suite.ts', 'src/cli/commands.ts'), /nothing imports from cli/],
    [e('src/expect/ss.ts', 'src/runner/kernel.ts'), /expect must not depend on runner/],
    [e('src/util/sleep.ts', 'src/scenario/schema.ts'), /util imports no other layer/],
    [e('src/util/proc.ts', 'src/lab/types.ts', false), /util may import types only from src\/lab\/types\.ts/],
    [e('src/util/proc.ts', 'src/lab/index.ts', true), /util imports no other layer/],
    [e('src/runner/run-scenario.ts', 'src/lab/netns/backend.ts'), /backends are reached only through src\/lab\/index\.ts/],
    [e('src/cli/doctor.ts', 'src/lab/docker/client.ts'), /backends are reached only/],
    [e('src/runner/suite.ts', 'src/index.ts'), /only the CLI uses the public API/],
    [e('src/widgets/x.ts', 'src/util/a.ts'), /widgets is not a known layer/],
    [{ ...e('src/lab/index.ts', 'specifier'), unresolved: true }, /dynamic import/],
    [e('src/actions/run.ts', 'src/runner/plan.ts'), /actions must not depend on runner/],
    [e('src/scenario/loader.ts', 'src/actions/run.ts'), /scenario must not depend on actions/],
    [e('src/actions/run.ts', 'src/scenario/schema.ts'), /actions import from scenario only fields\.ts and template\.ts/],
    [e('src/actions/sysctl.ts', 'src/lab/index.ts'), /import the lab and util\/proc\.ts there as types, or lazily/],
    [e('src/actions/run.ts', 'src/util/proc.ts'), /import the lab and util\/proc\.ts there as types, or lazily/],
  ]
  for (const [edge, why] of bad) {
    const found = violations([...ok, edge])
    t.ok(found.length > 0 && found.every((v) => v.startsWith(`${edge.from}:1 -> ${edge.to}: `) || v.startsWith('cycle')), `${edge.from} -> ${edge.to} is reported`, { found })
    t.ok(found.some((v) => why.test(v)), `... because ${why.source}`, { found })
  }
  t.same(violations([e('src/expect/a.ts', 'src/report/b.ts'), e('src/report/b.ts', 'src/expect/a.ts')]), ['cycle between layers: expect -> report -> expect'])
})
