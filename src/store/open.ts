// The store `tz-sidecar serve` runs, from the config and the environment: TENSORZERO_CLICKHOUSE_URL, SIDECAR_SPOOL_DIR,
// SIDECAR_SPOOL_MAX_BYTES, SIDECAR_MIGRATE and `[gateway] observability`.
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { LoadedConfig } from '../core/config.ts'
import { numberFromEnv, flagFromEnv } from '../core/env.ts'
import { createClickHouseSink } from './writer.ts'
import { configSnapshot } from './config-snapshot.ts'
import type { ClickHouseSink, SinkLogger } from './writer.ts'

export interface StoreLogger extends SinkLogger {
  child (bindings: object): SinkLogger
}

/** Where rows wait for ClickHouse when SIDECAR_SPOOL_DIR is unset: per service, surviving process restarts. */
function defaultSpoolDir (service: string): string {
  return path.join(tmpdir(), 'tz-sidecar-spool', service.replace(/[^\w.-]/g, '_'))
}

/** ClickHouse rows (spool + batched inserts), once leftovers are found; none when `[gateway] observability.enabled = false`. */
export async function openStore (config: LoadedConfig, env: NodeJS.ProcessEnv, logger: StoreLogger): Promise<ClickHouseSink | undefined> {
  if (config.tensorzero.gateway.observabilityEnabled === false) {
    logger.info({}, 'observability disabled in [gateway]: no ClickHouse rows')
    return undefined
  }
  const { batchWrites } = config.tensorzero.gateway
  const url = env.TENSORZERO_CLICKHOUSE_URL === '' ? undefined : env.TENSORZERO_CLICKHOUSE_URL
  const store = createClickHouseSink({
    url,
    spoolDir: env.SIDECAR_SPOOL_DIR ?? defaultSpoolDir(config.sidecar.service),
    service: config.sidecar.service,
    flushIntervalMs: batchWrites.flushIntervalMs,
    maxRows: batchWrites.maxRows,
    spoolMaxBytes: numberFromEnv(env, 'SIDECAR_SPOOL_MAX_BYTES', 512 * 1024 * 1024),
    config: config.tensorzero,
    migrate: url !== undefined && flagFromEnv(env, 'SIDECAR_MIGRATE', true),
    configSnapshot: await configSnapshot(config.tensorzero),
    logger: logger.child({ component: 'clickhouse' })
  })
  // A spool folder that cannot be written or is held by another sidecar fails the start, in one line: the operator's
  // volume is wrong, and a sidecar that starts anyway would drop every row. (A spool that breaks later is reported by
  // /status as not ready, and recovers by itself.)
  try {
    await store.ready
  } catch (err) {
    await store.close()
    throw err
  }
  if (url === undefined) logger.warn({}, 'TENSORZERO_CLICKHOUSE_URL is unset: rows stay in the local spool')
  return store
}
