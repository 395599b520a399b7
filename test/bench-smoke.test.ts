// The bench in its smoke mode: it must run end to end and produce every figure. Speed is not checked here
// (ENGINEERING.md: keep speed out of pass/fail tests; `npm run bench` prints the figures).
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

t.test('npm run bench -- --smoke runs every phase and reports every figure', async t => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-bench-smoke-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const json = path.join(dir, 'bench.json')
  const child = spawn(process.execPath, [path.join(ROOT, 'bench/run.ts'), '--smoke', '--json', json], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', d => { out += d })
  child.stderr.on('data', d => { out += d })
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  t.equal(code, 0, `bench exits 0\n${out}`)
  const report = JSON.parse(await readFile(json, 'utf8')) as {
    figures: Record<string, number | boolean>
    rows: Array<{ figure: string; value: string; verdict: string }>
    rss: { rssWarm: number; samples: Array<{ served: number; rss: number }> }
  }
  for (const key of ['addedP50', 'addedP99', 'tpRatio', 'sidecarCpuUs', 'ttfbAddedP50', 'coldSidecar', 'writerRowsPerSec']) {
    t.ok(Number.isFinite(report.figures[key]), `${key} is a number (${String(report.figures[key])})`)
  }
  t.equal(report.figures.writerComplete, true, 'every row the writer was given reached the fake ClickHouse')
  t.ok(report.rss.rssWarm > 0, 'RSS was read')
  t.ok(report.rss.samples.length >= 2, 'RSS sampled during the load')
  t.ok(report.rows.every(r => ['PASS', 'MISS', 'INFO', 'PENDING'].includes(r.verdict)), 'every row has a verdict')
  t.match(out, /\| figure +\| sidecar/, 'the table is printed')
})
