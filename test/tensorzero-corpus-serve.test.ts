// Every config of the TensorZero corpus (test/fixtures/tensorzero-corpus/corpus.json) also serves: what `tz-sidecar
// serve` builds (credentials, templates, the spool store, rate limit store, logs, metrics, the HTTP server) comes up on
// it, answers GET /health, and shuts down. No provider key is set: a missing key is a warning, as in TensorZero.
// TensorZero's gateway needs a store for `[rate_limiting]` rules: configs deployed with Postgres (`backend = "postgres"`,
// a `postgres` folder) get a real Postgres, the others a real Valkey (Debian's redis-server), both on loopback.
import t from 'tap'
import path from 'node:path'
import { mkdtemp, rm } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createSidecar } from '../sidecar/start.ts'
import { ConfigError, formatDiagnostic } from '../src/config/diagnostics.ts'
import { CORPUS_ROOT, corpus, unitFiles, type CorpusUnit } from './helpers/corpus.ts'
import { postgresMissing, startPostgres, startValkey, valkeyMissing, type TestStore } from './helpers/rate-limit-stores.ts'

const unitText = (unit: CorpusUnit): string => unitFiles(unit).map(f => readFileSync(f, 'utf8')).join('\n')
const hasRateLimits = (unit: CorpusUnit): boolean => /^\s*\[\[?rate_limiting/m.test(unitText(unit))
const onPostgres = (unit: CorpusUnit): boolean => /postgres/.test(unit.config_file) || /^\s*backend\s*=\s*"postgres"/m.test(unitText(unit))

const spoolRoot = await mkdtemp(path.join(tmpdir(), 'tz-corpus-serve-'))
const stores: Record<'valkey' | 'postgres', { missing?: string; store?: TestStore }> = {
  valkey: { missing: valkeyMissing() },
  postgres: { missing: postgresMissing() }
}
if (stores.valkey.missing === undefined) stores.valkey.store = await startValkey()
if (stores.postgres.missing === undefined) stores.postgres.store = await startPostgres()
t.teardown(async () => {
  await stores.valkey.store?.close()
  await stores.postgres.store?.close()
  await rm(spoolRoot, { recursive: true, force: true })
})
const storeFor = (unit: CorpusUnit): typeof stores.valkey => stores[onPostgres(unit) ? 'postgres' : 'valkey']
/** Why a unit cannot be served here: rules to enforce and no store of its kind installed. */
const skipReason = (unit: CorpusUnit): string | false => {
  const { store, missing } = storeFor(unit)
  return store === undefined && hasRateLimits(unit) ? `rate limiting rules need a store: ${missing}` : false
}

/** Starts `serve`'s sidecar on the unit, asks /health, shuts down; returns the failure, or undefined. */
async function serveOnce (unit: CorpusUnit, index: number): Promise<string | undefined> {
  const env: NodeJS.ProcessEnv = { LOG_LEVEL: 'silent', SIDECAR_SPOOL_DIR: path.join(spoolRoot, String(index)), ...storeFor(unit).store?.env }
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
const runnable = units.filter(({ unit }) => skipReason(unit) === false)
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
  t.test(`serves and answers /health: ${unit.config_file}`, { skip: skipReason(unit) }, async t => {
    await started
    t.equal(await outcomes.get(index), undefined, 'started, healthy, stopped')
  })
}
