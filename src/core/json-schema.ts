// JSON Schema validation at request time (template arguments, JSON outputs, tool arguments), with ajv.
// Each schema object is compiled once, with the draft it declares.
import AjvModule from 'ajv'
import Ajv2019Module from 'ajv/dist/2019.js'
import Ajv2020Module from 'ajv/dist/2020.js'
import type { ErrorObject, ValidateFunction } from 'ajv'
import { GatewayError } from './errors.ts'

type AnyAjv = { compile: (schema: object) => ValidateFunction }
const options = { strict: false, logger: false as const, allErrors: true, validateFormats: false }
let draft07: AnyAjv | undefined
let draft2019: AnyAjv | undefined
let draft2020: AnyAjv | undefined

function ajvFor (schema: Record<string, unknown>): AnyAjv {
  const declared = typeof schema.$schema === 'string' ? schema.$schema : ''
  if (declared.includes('2020-12')) return (draft2020 ??= new Ajv2020Module.default(options))
  if (declared.includes('2019-09')) return (draft2019 ??= new Ajv2019Module.default(options))
  return (draft07 ??= new AjvModule.default(options))
}

const compiled = new WeakMap<object, ValidateFunction | Error>()

function validatorFor (schema: Record<string, unknown>): ValidateFunction | Error {
  let v = compiled.get(schema)
  if (v === undefined) {
    try {
      const known = typeof schema.$schema !== 'string' || /draft-07|2019-09|2020-12/.test(schema.$schema)
      // `$id`s repeat across files; schemas are compiled by object, so drop `$id` to keep one Ajv instance per draft.
      const { $id: _id, ...rest } = schema
      v = ajvFor(schema).compile(known ? rest : { ...rest, $schema: undefined })
    } catch (err) {
      v = err instanceof Error ? err : new Error(String(err))
    }
    compiled.set(schema, v)
  }
  return v
}

export interface SchemaResult { ok: boolean; errors: string[] }

/** ajv's errors as `path: message` lines (`(root)` for the value itself). */
export function validateWithSchema (schema: Record<string, unknown>, value: unknown): SchemaResult {
  const v = validatorFor(schema)
  if (v instanceof Error) return { ok: false, errors: [`schema does not compile: ${v.message}`] }
  if (v(value)) return { ok: true, errors: [] }
  return { ok: false, errors: (v.errors ?? []).map(describe) }
}

function describe (e: ErrorObject): string {
  const at = e.instancePath === '' ? '(root)' : e.instancePath
  const extra = e.keyword === 'additionalProperties' ? ` (\`${String((e.params as { additionalProperty?: string }).additionalProperty)}\`)` : ''
  return `${at}: ${e.message ?? e.keyword}${extra}`
}

/** Throws the 400 TensorZero answers when input does not match a function's schema. */
export function assertMatchesSchema (schema: Record<string, unknown>, value: unknown, what: string): void {
  const result = validateWithSchema(schema, value)
  if (!result.ok) throw new GatewayError(400, `JSON Schema validation failed for ${what}: ${result.errors.join('; ')}`)
}

/** True when `value` satisfies the schema (for outputs: parsed stays null otherwise). */
export function matchesSchema (schema: Record<string, unknown>, value: unknown): boolean {
  return validateWithSchema(schema, value).ok
}
