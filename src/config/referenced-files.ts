// Files a config points at: templates and JSON Schemas. Paths are relative to the TOML file that declares them
// (TensorZero's rule), so a glob of configs in different folders still finds its files.
import { readFileSync, statSync } from 'node:fs'
import type { Stats } from 'node:fs'
import path from 'node:path'
import type { TableReader } from './reader.ts'
import type { SchemaRef, TemplateRef } from '../core/config.ts'
import { schemaProblem } from '../core/json-schema.ts'

/** Absolute path of a path-valued key, resolved against the directory of the file that wrote the key. */
function resolveDeclaredPath (r: TableReader, key: string, value: string): string {
  return path.resolve(r.ctx.toml.dirOf(r.keyPath(key)), value)
}

/** The absolute path a key names, when the file exists (else reported). */
function declaredFile (r: TableReader, key: string, required: boolean, what: 'template' | 'schema' | 'text'): string | undefined {
  const value = r.string(key, required)
  if (value === undefined) return undefined
  const abs = resolveDeclaredPath(r, key, value)
  if (isFile(abs)) return abs
  r.error(key, `${what} file not found: ${abs} (from \`${r.name(key)}\` = "${value}")`)
  return undefined
}

function isFile (p: string): boolean {
  try { return statSync(p).isFile() } catch { return false }
}

/** A plain text file's contents (e.g. DICL's `system_instructions`), read once at load. */
export function readTextFile (r: TableReader, key: string, required = false): string | undefined {
  const abs = declaredFile(r, key, required, 'text')
  if (abs === undefined) return undefined
  try {
    return readFileSync(abs, 'utf8')
  } catch (err) {
    r.error(key, `cannot read ${abs}: ${(err as Error).message}`)
    return undefined
  }
}

/** A folder a key names (resolved as a file path is), when it exists: TensorZero refuses a config naming a missing one. */
export function readFolderPath (r: TableReader, key: string): string | undefined {
  const value = r.string(key)
  if (value === undefined) return undefined
  const abs = resolveDeclaredPath(r, key, value)
  let found: Stats | undefined
  try { found = statSync(abs) } catch {}
  if (found?.isDirectory() === true) return abs
  r.error(key, `${found === undefined ? 'folder not found' : 'not a folder'}: ${abs} (from \`${r.name(key)}\` = "${value}")`)
  return undefined
}

/**
 * A template path: resolved and checked to exist. Compiling is the template engine's job. `what` names the file in the
 * not-found message (an input wrapper's is called a text file, the wording `validate` has always used for it).
 */
export function readTemplateRef (r: TableReader, key: string, required = false, what: 'template' | 'text' = 'template'): TemplateRef | undefined {
  const abs = declaredFile(r, key, required, what)
  return abs === undefined ? undefined : { path: abs, source: r.at(key) }
}

// One result per schema file: several functions commonly share a schema. A changed file (a reload) replaces its entry.
const schemaCache = new Map<string, { stamp: number; result: { schema: Record<string, unknown> } | { problem: string } }>()

/** A JSON Schema path: resolved, read, parsed and compiled (to catch invalid schemas at startup). */
export function readSchemaRef (r: TableReader, key: string, required = false): SchemaRef | undefined {
  const abs = declaredFile(r, key, required, 'schema')
  if (abs === undefined) return undefined
  const loaded = loadSchemaFile(abs)
  if ('problem' in loaded) {
    r.error(key, loaded.problem)
    return undefined
  }
  return { path: abs, schema: loaded.schema, source: r.at(key) }
}

function loadSchemaFile (abs: string): { schema: Record<string, unknown> } | { problem: string } {
  let mtime = 0
  try { mtime = statSync(abs).mtimeMs } catch {}
  const cached = schemaCache.get(abs)
  if (cached !== undefined && cached.stamp === mtime) return cached.result
  const result = compileSchemaFile(abs)
  schemaCache.set(abs, { stamp: mtime, result })
  return result
}

function compileSchemaFile (abs: string): { schema: Record<string, unknown> } | { problem: string } {
  let schema: unknown
  try {
    schema = JSON.parse(readFileSync(abs, 'utf8'))
  } catch (err) {
    return { problem: `invalid JSON in schema file ${abs}: ${(err as Error).message}` }
  }
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    return { problem: `schema file ${abs} must contain a JSON object` }
  }
  const problem = schemaProblem(schema as Record<string, unknown>)
  if (problem !== undefined) return { problem: `invalid JSON Schema in ${abs}: ${problem}` }
  return { schema: schema as Record<string, unknown> }
}

export const ROLES = ['system', 'user', 'assistant'] as const

/**
 * Role-named files (`system_schema`, `user_template`, …) and the newer named form (`schemas.NAME.path`,
 * `templates.NAME.path`) in one map keyed by name. Both forms for one name is an error.
 */
export function readNamed<T> (
  r: TableReader, suffix: 'schema' | 'template', tableKey: string,
  read: (t: TableReader, key: string) => T | undefined,
): Record<string, T | undefined> {
  const out: Record<string, T | undefined> = {}
  for (const role of ROLES) {
    const key = `${role}_${suffix}`
    if (r.has(key)) out[role] = read(r, key)
  }
  const named = r.sub(tableKey)
  for (const [n, entry] of named?.entries() ?? []) {
    entry.checkKeys(['path'])
    if ((ROLES as readonly string[]).includes(n) && r.has(`${n}_${suffix}`)) {
      entry.error(undefined, `\`${entry.name()}\` and \`${r.name(`${n}_${suffix}`)}\` both define the ${n} ${suffix}; keep one`)
      continue
    }
    out[n] = read(entry, 'path')
  }
  return out
}
