#!/usr/bin/env node
// `make test`: type-check, then every unit and end-to-end test with node-tap;
// print the TAP stream and end with one line `N passed, N failed` (CI reads it).
// Counts are leaf test points (assertions), plus one for the type check.
import { spawn, spawnSync } from 'node:child_process'
import { Parser } from 'tap-parser'
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'

const args = process.argv.slice(2)
let passed = 0
let failed = 0

process.stdout.write('# type check (tsc --noEmit)\n')
const tsc = spawnSync('node_modules/.bin/tsc', ['--noEmit', '-p', 'tsconfig.json'], { stdio: 'inherit' })
if (tsc.status === 0) passed++
else failed++

// Test files are *.test.ts; helpers and fixtures next to them are not run on their own.
const roots = args.length > 0 ? args : ['test/unit', 'test/e2e']
const files = roots.flatMap((r) =>
  statSync(r).isDirectory()
    ? readdirSync(r, { recursive: true }).filter((f) => String(f).endsWith('.test.ts')).map((f) => path.join(r, String(f))).sort()
    : [r],
)
const parser = new Parser()
let asserts = { pass: 0, fail: 0 }
let children = { pass: 0, fail: 0 }
const attach = (p) => {
  // A failing `todo` test point is a known gap, not a failure (TAP 14).
  p.on('assert', (res) => { if (res.ok || res.todo) asserts.pass++; else asserts.fail++ })
  p.on('child', (c) => {
    c.on('complete', (r) => { if (r.ok || r.todo) children.pass++; else children.fail++ })
    attach(c)
  })
}
attach(parser)
const tap = spawn('node_modules/.bin/tap', ['--reporter=tap', ...files], { stdio: ['ignore', 'pipe', 'inherit'] })
tap.stdout.on('data', (b) => { process.stdout.write(b); parser.write(b) })
const code = await new Promise((resolve) => tap.on('close', resolve))
parser.end()
await new Promise((r) => setImmediate(r))
passed += Math.max(0, asserts.pass - children.pass)
failed += Math.max(0, asserts.fail - children.fail)
if (code !== 0 && failed === 0) failed++ // tap failed without a failing assertion (crash, timeout)
process.stdout.write(`\n${passed} passed, ${failed} failed\n`)
process.exitCode = failed > 0 ? 1 : 0
