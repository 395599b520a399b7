// The layout keeps its shape: every folder imports only folders on a lower floor (the table below is ARCHITECTURE.md's
// "house to live in"), folders on one floor do not import each other, no two files import each other in a circle,
// and no source file grows past 400 lines. The imports are read from the source text, as a reader would follow them.
import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** Floors from the ground up; one floor may hold several rooms that must not import each other. */
const FLOORS: string[][] = [
  ['src/core'],
  ['src/providers'],
  ['src/config'],
  ['src/model'],
  ['src/variant'],
  ['src/function'],
  ['src/store'],
  ['src/endpoints', 'src/feedback'],
  ['src/gateway.ts'],
  ['sidecar'],
  ['sdk-patch']
]
const MAX_LINES = 400

function sourceFiles (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(path.join(ROOT, dir))) {
    const rel = `${dir}/${name}`
    if (statSync(path.join(ROOT, rel)).isDirectory()) out.push(...sourceFiles(rel))
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel)
  }
  return out
}

function roomOf (file: string): { floor: number; room: string } | undefined {
  for (let floor = 0; floor < FLOORS.length; floor++) {
    for (const room of FLOORS[floor]) {
      if (file === room || file.startsWith(`${room}/`)) return { floor, room }
    }
  }
  return undefined
}

// Static imports, re-exports and `import('…')` (lazy loads and inline type imports) with a relative specifier.
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm

function importsOf (file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(IMPORT)) out.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1])))
  return out
}

const files = ['src', 'sidecar', 'sdk-patch'].flatMap(sourceFiles)
const graph = new Map(files.map(f => [f, importsOf(f)]))

t.test('every source file has a room in the table', async t => {
  t.same(files.filter(f => roomOf(f) === undefined), [], 'files outside every room')
})

t.test('every import runs down the floors, never up and never sideways', async t => {
  const wrong: string[] = []
  for (const [from, targets] of graph) {
    const a = roomOf(from)
    for (const to of targets) {
      const b = roomOf(to)
      if (a === undefined || b === undefined) continue
      if (b.floor > a.floor) wrong.push(`${from} → ${to} (up: ${a.room} imports ${b.room})`)
      else if (b.floor === a.floor && b.room !== a.room) wrong.push(`${from} → ${to} (sideways: ${a.room} and ${b.room} share a floor)`)
    }
  }
  t.same(wrong, [], 'imports that break the floors')
})

t.test('every import names a file that exists', async t => {
  const missing: string[] = []
  for (const [from, targets] of graph) for (const to of targets) if (!graph.has(to) && !to.endsWith('.sql')) missing.push(`${from} → ${to}`)
  t.same(missing, [], 'imports of missing files')
})

t.test('no two files import each other, directly or round a circle', async t => {
  // Tarjan's strongly connected components: any component of more than one file is a circle.
  let index = 0
  const idx = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const circles: string[][] = []
  const visit = (v: string): void => {
    idx.set(v, index); low.set(v, index); index++
    stack.push(v); onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v) as number, low.get(w) as number)) } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number))
    }
    if (low.get(v) === idx.get(v)) {
      const component: string[] = []
      let w: string
      do { w = stack.pop() as string; onStack.delete(w); component.push(w) } while (w !== v)
      if (component.length > 1) circles.push(component.sort())
    }
  }
  for (const f of graph.keys()) if (!idx.has(f)) visit(f)
  t.same(circles, [], 'import circles')
})

t.test(`no source file over ${MAX_LINES} lines`, async t => {
  const big = files.map(f => ({ f, n: readFileSync(path.join(ROOT, f), 'utf8').split('\n').length - 1 })).filter(x => x.n > MAX_LINES)
  t.same(big.map(x => `${x.f}: ${x.n} lines`), [], 'files over the limit')
})

t.test('the checker itself sees an upward import and a circle', async t => {
  // Pins that the rules above can fail: a known-bad pair must be classed as bad.
  const core = roomOf('src/core/types.ts')
  const side = roomOf('sidecar/server.ts')
  t.ok(core !== undefined && side !== undefined && side.floor > core.floor, 'sidecar sits above core')
  t.equal(roomOf('src/endpoints/openai/chat-request.ts')?.floor, roomOf('src/feedback/handle.ts')?.floor, 'endpoints and feedback share a floor')
  t.not(roomOf('src/endpoints/openai/chat-request.ts')?.room, roomOf('src/feedback/handle.ts')?.room, 'as different rooms')
  t.same([...'from \'../core/x.ts\'\nimport(\'./y.ts\')'.matchAll(IMPORT)].map(m => m[1]), ['../core/x.ts', './y.ts'], 'both import forms are read')
})
