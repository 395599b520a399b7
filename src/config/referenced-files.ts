// Files a config points at: templates and JSON Schemas. Paths are relative to the TOML file that declares them
// (TensorZero's rule), so a glob of configs in different folders still finds its files.
import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import AjvModule from 'ajv'
import Ajv2019Module from 'ajv/dist/2019.js'
import Ajv2020Module from 'ajv/dist/2020.js'
import type { TableReader } from './reader.ts'
import type { SchemaRef, TemplateRef } from '../core/config.ts'

/** Absolute path of a path-valued key, resolved against the directory of the file that wrote the key. */
export function resolveDeclaredPath (r: TableReader, key: string, value: string): string {
  return path.resolve(r.ctx.toml.dirOf(r.keyPath(key)), value)
}

function isFile (p: string): boolean {
  try { return statSync(p).isFile() } catch { return false }
}

/** A template path: resolved and checked to exist. Compiling is the template engine's job. */
export function readTemplateRef (r: TableReader, key: string, required = false): TemplateRef | undefined {
  const value = r.string(key, required)
  if (value === undefined) return undefined
  const abs = resolveDeclaredPath(r, key, value)
  if (!isFile(abs)) {
    r.error(key, `template file not found: ${abs} (from \`${r.name(key)}\` = "${value}")`)
    return undefined
  }
  return { path: abs, source: r.at(key) }
}

// One result per schema file: several functions commonly share a schema.
const schemaCache = new Map<string, { schema: Record<string, unknown> } | { problem: string }>()

/** A JSON Schema path: resolved, read, parsed and compiled (to catch invalid schemas at startup). */
export function readSchemaRef (r: TableReader, key: string, required = false): SchemaRef | undefined {
  const value = r.string(key, required)
  if (value === undefined) return undefined
  const abs = resolveDeclaredPath(r, key, value)
  if (!isFile(abs)) {
    r.error(key, `schema file not found: ${abs} (from \`${r.name(key)}\` = "${value}")`)
    return undefined
  }
  const loaded = loadSchemaFile(abs)
  if ('problem' in loaded) {
    r.error(key, loaded.problem)
    return undefined
  }
  return { path: abs, schema: loaded.schema, source: r.at(key) }
}

export function loadSchemaFile (abs: string): { schema: Record<string, unknown> } | { problem: string } {
  let mtime = 0
  try { mtime = statSync(abs).mtimeMs } catch {}
  const cacheKey = `${abs}\u0000${mtime}`
  const cached = schemaCache.get(cacheKey)
  if (cached) return cached
  const result = compileSchemaFile(abs)
  schemaCache.set(cacheKey, result)
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

/** Compiles with the draft the schema declares; a fresh Ajv each time so equal `$id`s in two files do not clash. */
export function schemaProblem (schema: Record<string, unknown>): string | undefined {
  const declared = typeof schema.$schema === 'string' ? schema.$schema : ''
  const options = { strict: false, logger: false as const, allErrors: false }
  const ajv = declared.includes('2020-12')
    ? new Ajv2020Module.default(options)
    : declared.includes('2019-09')
      ? new Ajv2019Module.default(options)
      : new AjvModule.default(options)
  // Ajv's default class knows draft-07 only; for older drafts (04, 06) check the body without the meta-schema.
  const known = declared === '' || /draft-07|2019-09|2020-12/.test(declared)
  const body = known ? schema : { ...schema, $schema: undefined }
  try {
    ajv.compile(body)
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}
