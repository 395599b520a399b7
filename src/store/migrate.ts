// `tz-sidecar migrate` and the writer's `migrate: true`: create what is missing of TensorZero's schema (`tables.ts`,
// then `sql/tensorzero-schema.sql`), never DROP, never ALTER a column. A database a TensorZero gateway migrated keeps
// its tables exactly as they are (the gateway owns that schema); only the sidecar's own read-only flat view is added
// there. In a database of its own the sidecar records TensorZero's migrations as applied, so a TensorZero gateway
// started on it later finds them all and has nothing to do.
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { v7 as uuidv7 } from 'uuid'
import { parseClickHouseUrl, storeClient } from './client.ts'
import type { StoreClient } from './client.ts'
import { tableNames } from './queries.ts'
import { TABLES } from './tables.ts'
import type { SchemaObject } from './tables.ts'
import { TENSORZERO_VERSION, writeConfigSnapshot } from './config-snapshot.ts'
import type { ConfigSnapshot } from './config-snapshot.ts'

const FLAT_VIEW_NAME = 'ModelCallsFlat'
const FLAT_VIEW_FILE = new URL('./sql/model_calls_view.sql', import.meta.url)
const TENSORZERO_SCHEMA_FILE = new URL('./sql/tensorzero-schema.sql', import.meta.url)

/**
 * TensorZero's migration ids as its migration manager lists them (`make_all_migrations`, 2026.4.1): the gateway compares
 * the recorded set with this one and, when they are equal, runs no migration at all.
 */
const TENSORZERO_MIGRATIONS = [0, 2, 3, 4, 5, 6, 8, 9, 11, 15, 16, 17, 18, 19, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31,
  32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53]
/** `extra_data` of the migration records the sidecar writes: how it tells its own database from a gateway's. */
const SIDECAR_RECORD = '{"written_by":"tz-sidecar"}'
/** TensorZero migration 0046's index, added where an older sidecar created these tables without it. */
const ID_INDEX_TABLES = ['BooleanMetricFeedback', 'FloatMetricFeedback', 'CommentFeedback', 'DemonstrationFeedback', 'ModelInference']

/** The statements of a `.sql` file (each ends with a line holding only `;`), comment lines dropped. */
async function statements (file: URL): Promise<string[]> {
  const text = await readFile(file, 'utf8')
  return text.split(/^;$/m)
    .map(s => s.split('\n').filter(l => !l.trimStart().startsWith('--')).join('\n').trim().replace(/;\s*$/, ''))
    .filter(s => s !== '')
}

/** `tensorzero-schema.sql` as schema objects; a `DETACH` statement belongs to the view created just before it. */
async function tensorZeroObjects (): Promise<SchemaObject[]> {
  const objects: Array<SchemaObject & { detach?: string }> = []
  for (const sql of await statements(TENSORZERO_SCHEMA_FILE)) {
    if (sql.startsWith('DETACH ')) { objects[objects.length - 1].detach = sql; continue }
    const m = /^CREATE (TABLE|MATERIALIZED VIEW|FUNCTION) IF NOT EXISTS (\w+)/.exec(sql)
    if (m === null) throw new Error(`tensorzero-schema.sql: cannot name the object of: ${sql.slice(0, 80)}`)
    objects.push({ name: m[2], kind: m[1] === 'TABLE' ? 'table' : 'view', sql })
  }
  return objects.map(o => o.detach === undefined ? o : { ...o, after: async (c: StoreClient) => { await c.command(o.detach as string) } })
}

export interface MigrateResult {
  /** `tensorzero`: a TensorZero gateway manages this database; nothing was touched. */
  managedBy: 'tensorzero' | 'sidecar'
  created: string[]
  existing: string[]
  /** Objects not created, with the reason (e.g. the flat view over a gateway schema too old for it). */
  skipped?: Array<{ name: string; reason: string }>
  /** TensorZero migration ids this call recorded as applied. */
  recorded?: number[]
}

/** The objects this database has: tables, views, the detached views and the SQL functions (which are server-wide). */
async function existingObjects (client: StoreClient): Promise<Set<string>> {
  const have = await tableNames(client)
  const detached = await client.select<{ name: string }>('SELECT table AS name FROM system.detached_tables WHERE database = currentDatabase()')
  const functions = await client.select<{ name: string }>("SELECT name FROM system.functions WHERE origin = 'SQLUserDefined'")
  for (const r of [...detached, ...functions]) have.add(r.name)
  return have
}

/** A database is the sidecar's while every migration record in it is one the sidecar wrote (or it has none at all). */
async function ownedBySidecar (client: StoreClient, have: Set<string>): Promise<boolean> {
  if (!have.has('TensorZeroMigration')) return true
  try {
    const [r] = await client.select<{ ours: string; theirs: string }>(
      `SELECT countIf(extra_data = '${SIDECAR_RECORD}') AS ours, countIf(ifNull(extra_data, '') != '${SIDECAR_RECORD}') AS theirs FROM TensorZeroMigration`)
    return Number(r.ours) > 0 && Number(r.theirs) === 0
  } catch {
    return false
  }
}

/**
 * Creates the tables, lookup tables, materialized views and the flat view that are missing. Idempotent.
 * The client must point at the target database (which must exist; `runMigrate` creates it).
 */
async function migrate (client: StoreClient): Promise<MigrateResult> {
  const have = await existingObjects(client)
  if (!await ownedBySidecar(client, have)) return await addFlatViewToGatewaySchema(client, have)
  const created: string[] = []
  const existing: string[] = []
  const objects: SchemaObject[] = [...TABLES, ...await tensorZeroObjects(), { name: FLAT_VIEW_NAME, kind: 'view', sql: await flatViewSql() }]
  for (const obj of objects) {
    if (have.has(obj.name)) { existing.push(obj.name); continue }
    await client.command(obj.sql)
    // Run the backfill only when this call created the table; with no rows it inserts nothing.
    if (obj.after !== undefined) await obj.after(client)
    created.push(obj.name)
  }
  for (const table of ID_INDEX_TABLES.filter(t => existing.includes(t))) {
    await client.command(`ALTER TABLE ${table} ADD INDEX IF NOT EXISTS id_index id TYPE bloom_filter GRANULARITY 1`)
  }
  await addDeploymentId(client)
  return { managedBy: 'sidecar', created, existing, recorded: await recordMigrations(client) }
}

/** TensorZero migration 0033 counts as applied once `DeploymentID` holds a row: a 64-hex id, as the gateway makes one. */
async function addDeploymentId (client: StoreClient): Promise<void> {
  const rows = await client.select('SELECT 1 FROM DeploymentID LIMIT 1')
  if (rows.length > 0) return
  const deploymentId = createHash('sha256').update(Buffer.from(uuidv7().replace(/-/g, ''), 'hex')).digest('hex')
  await client.insert('DeploymentID', Buffer.from(JSON.stringify({ deployment_id: deploymentId }) + '\n'), {})
}

/** Records each TensorZero migration not yet recorded, in the columns the gateway's own records fill. */
async function recordMigrations (client: StoreClient): Promise<number[]> {
  const done = new Set((await client.select<{ id: number }>('SELECT DISTINCT migration_id AS id FROM TensorZeroMigration')).map(r => Number(r.id)))
  const missing = TENSORZERO_MIGRATIONS.filter(id => !done.has(id))
  if (missing.length === 0) return []
  const body = missing.map(id => JSON.stringify({
    migration_id: id,
    migration_name: `Migration${String(id).padStart(4, '0')}`,
    gateway_version: TENSORZERO_VERSION,
    gateway_git_sha: '',
    execution_time_ms: 0,
    extra_data: SIDECAR_RECORD
  }) + '\n').join('')
  await client.insert('TensorZeroMigration', Buffer.from(body), {})
  return missing
}

/** The SQL of the flat human view, comments stripped (one statement). */
async function flatViewSql (): Promise<string> {
  const [sql] = await statements(FLAT_VIEW_FILE)
  return sql
}

/** In a database a gateway manages only the flat view may be added: it reads the gateway's tables and changes none. */
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
  /** Create the missing schema (default true); false: only write the config snapshot. */
  createSchema?: boolean
  /** The loaded config's `ConfigSnapshot` row, written once the schema is checked (where the table exists). */
  configSnapshot?: ConfigSnapshot
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
  const createSchema = opts.createSchema ?? true
  if (database !== 'default' && createSchema) {
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
    const result = createSchema ? await migrate(client) : await schemaOwner(client)
    if (opts.configSnapshot !== undefined) await writeConfigSnapshot(client, opts.configSnapshot)
    return result
  } finally { await client.close() }
}

/** What `migrate` would report without creating anything. */
async function schemaOwner (client: StoreClient): Promise<MigrateResult> {
  const have = await existingObjects(client)
  return { managedBy: await ownedBySidecar(client, have) ? 'sidecar' : 'tensorzero', created: [], existing: [...have].sort() }
}
