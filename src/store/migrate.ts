// `tz-sidecar migrate` and the writer's `migrate: true`: create what is missing of the schema in `tables.ts`, never
// DROP, never ALTER. A database a TensorZero gateway migrated (it has `TensorZeroMigration`) keeps its tables exactly as
// they are (the gateway owns that schema); only the sidecar's own read-only flat view is added there.
import { readFile } from 'node:fs/promises'
import { parseClickHouseUrl, storeClient } from './client.ts'
import type { StoreClient } from './client.ts'
import { tableNames } from './queries.ts'
import { TABLES } from './tables.ts'
import type { SchemaObject } from './tables.ts'

const FLAT_VIEW_NAME = 'ModelCallsFlat'
const FLAT_VIEW_FILE = new URL('./sql/model_calls_view.sql', import.meta.url)

/** The SQL of the flat human view, comments stripped (one statement). */
async function flatViewSql (): Promise<string> {
  const text = await readFile(FLAT_VIEW_FILE, 'utf8')
  return text.split('\n').filter(l => !l.trimStart().startsWith('--')).join('\n').trim().replace(/;\s*$/, '')
}

export interface MigrateResult {
  /** `tensorzero`: a TensorZero gateway manages this database; nothing was touched. */
  managedBy: 'tensorzero' | 'sidecar'
  created: string[]
  existing: string[]
  /** Objects not created, with the reason (e.g. the flat view over a gateway schema too old for it). */
  skipped?: Array<{ name: string; reason: string }>
}

/**
 * Creates the tables, lookup tables, materialized views and the flat view that are missing. Idempotent.
 * The client must point at the target database (which must exist; `runMigrate` creates it).
 */
async function migrate (client: StoreClient): Promise<MigrateResult> {
  const have = await tableNames(client)
  if (have.has('TensorZeroMigration')) return await addFlatViewToGatewaySchema(client, have)
  const created: string[] = []
  const existing: string[] = []
  const objects: SchemaObject[] = [...TABLES, { name: FLAT_VIEW_NAME, kind: 'view', sql: await flatViewSql() }]
  for (const obj of objects) {
    if (have.has(obj.name)) { existing.push(obj.name); continue }
    await client.command(obj.sql)
    // Run the backfill only when this call created the table; with no rows it inserts nothing.
    if (obj.after !== undefined) await obj.after(client)
    created.push(obj.name)
  }
  return { managedBy: 'sidecar', created, existing }
}

/** In a gateway-managed database only the flat view may be added: it reads the gateway's tables and changes none. */
async function addFlatViewToGatewaySchema (client: StoreClient, have: Set<string>): Promise<MigrateResult> {
  const existing = [...have].sort()
  if (have.has(FLAT_VIEW_NAME)) return { managedBy: 'tensorzero', created: [], existing }
  const needed = ['ModelInference', 'ChatInference', 'JsonInference'].filter(n => !have.has(n))
  if (needed.length > 0) {
    return { managedBy: 'tensorzero', created: [], existing, skipped: [{ name: FLAT_VIEW_NAME, reason: `missing ${needed.join(', ')}` }] }
  }
  try {
    await client.command(await flatViewSql())
    return { managedBy: 'tensorzero', created: [FLAT_VIEW_NAME], existing }
  } catch (err) {
    return { managedBy: 'tensorzero', created: [], existing, skipped: [{ name: FLAT_VIEW_NAME, reason: (err as Error).message.split('\n')[0] }] }
  }
}

export interface RunMigrateOptions {
  url: string
  requestTimeoutMs?: number
  /** Create the URL's database when it does not exist (`tz-sidecar migrate --create-database`; `serve` always does). */
  createDatabase?: boolean
  /** Hears a database about to be created while TensorZero's tables live in another one (a typo in the URL's path). */
  onWarning?: (line: { database: string; tensorzero_databases: string[] }, message: string) => void
}

/** The databases holding a TensorZero schema, and whether `database` exists. */
async function databasesBeside (admin: StoreClient, database: string): Promise<{ exists: boolean; tensorzero: string[] }> {
  const names = await admin.select<{ name: string }>('SELECT name FROM system.databases')
  const tz = await admin.select<{ database: string }>(
    "SELECT DISTINCT database FROM system.tables WHERE name IN ('TensorZeroMigration', 'ChatInference') ORDER BY database")
  return { exists: names.some(r => r.name === database), tensorzero: tz.map(r => r.database).filter(d => d !== database) }
}

/**
 * `tz-sidecar migrate` and the writer: create the database named in the URL if missing and allowed, then `migrate`.
 * A missing database is refused without `createDatabase`, in one line naming the TensorZero databases beside it.
 */
export async function runMigrate (opts: RunMigrateOptions): Promise<MigrateResult> {
  const { database } = parseClickHouseUrl(opts.url)
  if (database !== 'default') {
    const admin = storeClient(opts.url, { database: 'default', requestTimeoutMs: opts.requestTimeoutMs })
    try {
      const { exists, tensorzero } = await databasesBeside(admin, database)
      if (!exists) {
        const beside = tensorzero.length === 0 ? '' : ` (TensorZero's tables are in ${tensorzero.map(d => `\`${d}\``).join(', ')}: check the URL's path)`
        if (opts.createDatabase !== true) {
          throw new Error(`database \`${database}\` does not exist${beside}; pass --create-database to create it`)
        }
        if (tensorzero.length > 0) {
          opts.onWarning?.({ database, tensorzero_databases: tensorzero },
            `ClickHouse database \`${database}\` does not exist while TensorZero's tables are in ${tensorzero.map(d => `\`${d}\``).join(', ')}: ` +
            `creating \`${database}\`; if that is a typo in TENSORZERO_CLICKHOUSE_URL, TensorZero's UI will not see these rows`)
        }
        await admin.command(`CREATE DATABASE IF NOT EXISTS ${database}`)
      }
    } finally { await admin.close() }
  }
  const client = storeClient(opts.url, { requestTimeoutMs: opts.requestTimeoutMs })
  try {
    return await migrate(client)
  } finally { await client.close() }
}
