// Process calls are dependencies too (STYLE.md "Shape"): processes are started
// only in src/util/proc.ts (child_process, execa), and `ip netns` (or `ip -n`)
// is spoken only in src/lab/netns/, the one backend that knows what a lab
// namespace is. Read from the code (imports, dynamic imports, require, and the
// argv literals), not from comments. A test that cannot fail is a defect: the
// last case feeds the checker code that breaks each rule.

import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const SRC = join(ROOT, 'src')
const SPAWNERS = new Set(['child_process', 'node:child_process', 'execa'])

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name)
    return d.isDirectory() ? listTs(p) : d.name.endsWith('.ts') ? [p] : []
  })
}

/** Violations of the two rules in one file (path relative to the repository, "/" separators). */
export function processCallViolations(file: string, text: string): string[] {
  const out: string[] = []
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS)
  const line = (n: ts.Node): number => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1
  const mayspawn = file === 'src/util/proc.ts'
  const mayNetns = file.startsWith('src/lab/netns/')
  const visit = (n: ts.Node): void => {
    let spec: string | undefined
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) spec = n.moduleSpecifier.text
    if (ts.isCallExpression(n) && (n.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(n.expression) && n.expression.text === 'require'))) {
      const a = n.arguments[0]
      if (a && ts.isStringLiteralLike(a)) spec = a.text
    }
    if (spec !== undefined && SPAWNERS.has(spec) && !mayspawn) out.push(`${file}:${line(n)} imports ${spec} (processes start in src/util/proc.ts only)`)
    // argv arrays: ['ip', 'netns', ...] or ['ip', '-n', ...]; strings: "ip netns ..." used as a command.
    if (!mayNetns && ts.isArrayLiteralExpression(n)) {
      const [a, b] = n.elements
      if (a && b && ts.isStringLiteralLike(a) && ts.isStringLiteralLike(b) && a.text === 'ip' && ['netns', '-n', '-netns'].includes(b.text)) {
        out.push(`${file}:${line(n)} runs ip ${b.text} (only src/lab/netns/ knows lab namespaces)`)
      }
    }
    if (!mayNetns && (ts.isStringLiteralLike(n) || ts.isTemplateExpression(n))) {
      const s = ts.isTemplateExpression(n) ? n.head.text : n.text
      if (/^\s*ip (netns|-n) /.test(s)) out.push(`${file}:${line(n)} runs "${s.slice(0, 30)}" (only src/lab/netns/ knows lab namespaces)`)
    }
    ts.forEachChild(n, visit)
  }
  visit(sf)
  return out
}

t.test('processes start only in src/util/proc.ts; ip netns only in src/lab/netns/', async (t) => {
  const violations = listTs(SRC).flatMap((abs) => processCallViolations(relative(ROOT, abs).split(sep).join('/'), readFileSync(abs, 'utf8')))
  t.same(violations, [])
})

t.test('the checker sees each kind of violation', async (t) => {
  t.match(processCallViolations('src/lab/emergency.ts', "import { spawnSync } from 'node:child_process'"), [/imports node:child_process/])
  t.match(processCallViolations('src/runner/x.ts', "const m = await import('execa')"), [/imports execa/])
  t.match(processCallViolations('src/cli/doctor.ts', "await runCommand(['ip', 'netns', 'add', ns])"), [/runs ip netns/])
  t.match(processCallViolations('src/cli/doctor.ts', "run(['ip', '-n', ns, 'link'])"), [/runs ip -n/])
  t.match(processCallViolations('src/runner/x.ts', 'const c = `ip netns exec ${ns} ss`'), [/runs "ip netns exec/])
  t.same(processCallViolations('src/util/proc.ts', "import { spawn } from 'node:child_process'"), [])
  t.same(processCallViolations('src/lab/netns/backend.ts', "runCommand(['ip', 'netns', 'add', ns])"), [])
  t.same(processCallViolations('src/recorder/x.ts', '// one `ip netns exec ss` per sample'), [], 'comments are not code')
})
