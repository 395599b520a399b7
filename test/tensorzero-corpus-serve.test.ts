// Every config of the TensorZero corpus (test/fixtures/tensorzero-corpus/corpus.json) also serves: what `tz-sidecar
// serve` builds (credentials, templates, the spool store, rate limit store, logs, metrics, the HTTP server) comes up on
// it, answers GET /health, and shuts down. No provider key is set: a missing key is a warning, as in TensorZero.
// Configs with `[rate_limiting]` rules get a real Valkey (Debian's redis-server), as TensorZero's gateway needs one.
import t from 'tap'
import path from 'node:path'
import { mkdtemp, rm } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createSidecar } from '../sidecar/start.ts'
import { ConfigError, formatDiagnostic } from '../src/config/diagnostics.ts'
import { CORPUS_ROOT, corpus, unitFiles, type CorpusUnit } from './helpers/corpus.ts'
import { startValkey, valkeyMissing, type TestStore } from './helpers/rate-limit-stores.ts'

const hasRateLimits = (unit: CorpusUnit): boolean => unitFiles(unit).some(f => /^\s*\[\[?rate_limiting/m.test(readFileSync(f, 'utf8')))

const spoolRoot = await mkdtemp(path.join(tmpdir(), 'tz-corpus-serve-'))
const missing = valkeyMissing()
const valkey: TestStore | undefined = missing === undefined ? await startValkey() : undefined
t.teardown(async () => {
  await valkey?.close()
  await rm(spoolRoot, { recursive: true, force: true })
})

/** Starts `serve`'s sidecar on the unit, asks /health, shuts down; returns the failure, or undefined. */
async function serveOnce (unit: CorpusUnit, index: number): Promise<string | undefined> {
  const env: NodeJS.ProcessEnv = { LOG_LEVEL: 'silent', SIDECAR_SPOOL_DIR: path.join(spoolRoot, String(index)), ...valkey?.env }
  let sidecar
  try {
    sidecar = await createSidecar({ configFile: path.join(CORPUS_ROOT, unit.config_file), env })
  } catch (err) {
    if (err instanceof ConfigError) return err.diagnostics.map(d => formatDiagnostic(d, CORPUS_ROOT)).join('\n')
    return `start failed: ${(err as Error).message}`
  }
  try {
    const { port } = await sidecar.listen(0, '127.0.0.1')
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(30_000) })
    const body = await res.text()
    return res.status === 200 && JSON.parse(body).status === 'ok' ? undefined : `GET /health: ${res.status} ${body}`
  } finally {
    await sidecar.shutdown(5_000)
  }
}

// A few at a time: each start is mostly waiting (spool folder, listen, one request), and two cores are shared.
const CONCURRENCY = 4
const units = corpus.units.map((unit, index) => ({ unit, index }))
const runnable = units.filter(({ unit }) => valkey !== undefined || !hasRateLimits(unit))
const outcomes = new Map<number, Promise<string | undefined>>()
const queue = [...runnable]
const workers = Array.from({ length: CONCURRENCY }, async () => {
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const outcome = serveOnce(next.unit, next.index)
    outcomes.set(next.index, outcome)
    await outcome.catch(() => {})
  }
})
const started = Promise.all(workers)

for (const { unit, index } of units) {
  const skip = valkey === undefined && hasRateLimits(unit) ? `rate limiting rules need a Valkey: ${missing}` : false
  t.test(`serves and answers /health: ${unit.config_file}`, { skip }, async t => {
    await started
    t.equal(await outcomes.get(index), undefined, 'started, healthy, stopped')
  })
}
