// JSON Schema with ajv, set up once: every schema is compiled with the draft it declares (draft-07 by default,
// 2019-09, 2020-12; older drafts without their meta-schema). Request-time validators (template arguments, JSON outputs,
// tool arguments) are compiled once per schema object; the config loader checks schema files compile.
import { createRequire } from 'node:module'
import type { ErrorObject, Options, ValidateFunction } from 'ajv'
import { GatewayError } from './errors.ts'

// ajv loads with the first schema (a config with schema files or tools checks them at start), not with this module:
// a config without schemas never pays its ~90 ms of module loading at start-up (bench/ cold start).
const requireCjs = createRequire(import.meta.url)
type AjvClass = new (options: Options) => AnyAjv
let ajvClasses: Record<ReturnType<typeof draftOf>, AjvClass> | undefined

type AnyAjv = { compile: (schema: object) => ValidateFunction }
const VALIDATING: Options = { strict: false, logger: false, allErrors: true, validateFormats: false }
// The loader reports the first problem only.
const CHECKING: Options = { strict: false, logger: false, allErrors: false }
const shared = new Map<string, AnyAjv>()

function draftOf (schema: Record<string, unknown>): '2020-12' | '2019-09' | 'draft-07' {
  const declared = typeof schema.$schema === 'string' ? schema.$schema : ''
  if (declared.includes('2020-12')) return '2020-12'
  if (declared.includes('2019-09')) return '2019-09'
  return 'draft-07'
}

function newAjv (draft: ReturnType<typeof draftOf>, options: Options): AnyAjv {
  ajvClasses ??= {
    'draft-07': (requireCjs('ajv') as { default: AjvClass }).default,
    '2019-09': (requireCjs('ajv/dist/2019.js') as { default: AjvClass }).default,
    '2020-12': (requireCjs('ajv/dist/2020.js') as { default: AjvClass }).default
  }
  return new ajvClasses[draft](options)
}

/** The schema as ajv can compile it: a draft ajv has no meta-schema for (04, 06) is checked by its body alone. */
function compilable (schema: Record<string, unknown>): Record<string, unknown> {
  const known = typeof schema.$schema !== 'string' || /draft-07|2019-09|2020-12/.test(schema.$schema)
  return known ? schema : { ...schema, $schema: undefined }
}

const compiled = new WeakMap<object, ValidateFunction | Error>()

/** The request-time validator of a schema object (compiled on first use), or why it does not compile. */
function compiledValidator (schema: Record<string, unknown>): ValidateFunction | Error {
  let v = compiled.get(schema)
  if (v === undefined) {
    try {
      const draft = draftOf(schema)
      let ajv = shared.get(draft)
      if (ajv === undefined) { ajv = newAjv(draft, VALIDATING); shared.set(draft, ajv) }
      // `$id`s repeat across files; schemas are compiled by object, so drop `$id` to keep one Ajv instance per draft.
      const { $id: _id, ...rest } = compilable(schema)
      v = ajv.compile(rest)
    } catch (err) {
      v = err instanceof Error ? err : new Error(String(err))
    }
    compiled.set(schema, v)
  }
  return v
}

/** Config time: why a schema does not compile, or undefined. A fresh Ajv each time, so equal `$id`s in two files do not clash. */
export function schemaProblem (schema: Record<string, unknown>): string | undefined {
  try {
    newAjv(draftOf(schema), CHECKING).compile(compilable(schema))
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}

interface SchemaResult { ok: boolean; errors: string[] }

/** ajv's errors as `path: message` lines (`(root)` for the value itself). */
function validateWithSchema (schema: Record<string, unknown>, value: unknown): SchemaResult {
  const v = compiledValidator(schema)
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

/** The first error worded as ajv's `errorsText` words it (`data/path message`); undefined when the value fits. */
export function firstSchemaError (schema: Record<string, unknown>, value: unknown): string | undefined {
  const v = compiledValidator(schema)
  if (v instanceof Error) return 'schema does not compile'
  if (v(value)) return undefined
  const first = v.errors?.[0]
  return first === undefined ? 'invalid' : `data${first.instancePath} ${first.message ?? first.keyword}`
}
