// Typed access to one TOML table with positioned diagnostics. Each getter reports a wrong type at the key and
// returns undefined, so a section parser can read every field and report every problem in one pass.
import type { Diagnostics } from './diagnostics.ts'
import { isTable, type MergedToml, type Table } from './toml-files.ts'
import type { SourceRef } from '../core/config.ts'

export interface LoadContext {
  toml: MergedToml
  diags: Diagnostics
  env: NodeJS.ProcessEnv
}

/** `models."gpt-4o".providers.a`: segments quoted when they are not bare TOML keys. */
function displayPath (path: readonly string[]): string {
  return path.map((s) => /^[A-Za-z0-9_-]+$/.test(s) ? s : JSON.stringify(s)).join('.')
}

export function describeType (v: unknown): string {
  if (Array.isArray(v)) return 'an array'
  if (isTable(v)) return 'a table'
  if (v instanceof Date) return 'a date'
  return `a ${typeof v}`
}

export interface NumberRules { integer?: boolean; min?: number; positive?: boolean }

export class TableReader {
  readonly ctx: LoadContext
  readonly table: Table
  readonly path: readonly string[]

  constructor (ctx: LoadContext, table: Table, path: readonly string[]) {
    this.ctx = ctx
    this.table = table
    this.path = path
  }

  /** Position of a key of this table, or of the table itself. */
  at (key?: string): SourceRef {
    return this.ctx.toml.at(key === undefined ? this.path : [...this.path, key])
  }

  keyPath (key: string): string[] { return [...this.path, key] }
  name (key?: string): string { return displayPath(key === undefined ? this.path : [...this.path, key]) }
  has (key: string): boolean { return this.table[key] !== undefined }
  get (key: string): unknown { return this.table[key] }

  error (key: string | undefined, message: string): void { this.ctx.diags.error(this.at(key), message) }
  warning (key: string | undefined, message: string): void { this.ctx.diags.warning(this.at(key), message) }

  missing (key: string): void { this.error(undefined, `\`${this.name()}\` is missing the required key \`${key}\``) }

  wrongType (key: string, expected: string): void {
    this.error(key, `\`${this.name(key)}\` must be ${expected}, got ${describeType(this.table[key])}`)
  }

  string (key: string, required = false): string | undefined {
    const v = this.table[key]
    if (v === undefined) { if (required) this.missing(key); return undefined }
    if (typeof v !== 'string') { this.wrongType(key, 'a string'); return undefined }
    return v
  }

  boolean (key: string): boolean | undefined {
    const v = this.table[key]
    if (v === undefined) return undefined
    if (typeof v !== 'boolean') { this.wrongType(key, 'a boolean'); return undefined }
    return v
  }

  number (key: string, rules: NumberRules = {}, required = false): number | undefined {
    const v = this.table[key]
    if (v === undefined) { if (required) this.missing(key); return undefined }
    const what = rules.integer ? 'an integer' : 'a number'
    if (typeof v !== 'number' || Number.isNaN(v) || (rules.integer && !Number.isInteger(v))) {
      const got = typeof v === 'number' ? String(v) : describeType(v)
      this.error(key, `\`${this.name(key)}\` must be ${what}, got ${got}`)
      return undefined
    }
    if (rules.positive && !(v > 0)) {
      this.error(key, `\`${this.name(key)}\` must be greater than 0, got ${v}`)
      return undefined
    }
    if (rules.min !== undefined && v < rules.min) {
      this.error(key, `\`${this.name(key)}\` must be ≥ ${rules.min}, got ${v}`)
      return undefined
    }
    return v
  }

  oneOf<T extends string> (key: string, allowed: readonly T[], required = false): T | undefined {
    const v = this.string(key, required)
    if (v === undefined) return undefined
    if (!(allowed as readonly string[]).includes(v)) {
      this.error(key, `\`${this.name(key)}\` must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got "${v}"`)
      return undefined
    }
    return v as T
  }

  stringArray (key: string, required = false): string[] | undefined {
    const v = this.table[key]
    if (v === undefined) { if (required) this.missing(key); return undefined }
    if (!Array.isArray(v)) { this.wrongType(key, 'an array of strings'); return undefined }
    const out: string[] = []
    v.forEach((item, i) => {
      if (typeof item === 'string') out.push(item)
      else this.ctx.diags.error(this.ctx.toml.at([...this.path, key, String(i)]),
        `\`${this.name(key)}[${i}]\` must be a string, got ${describeType(item)}`)
    })
    return out
  }

  /** A sub-table as a reader; wrong type → error. */
  sub (key: string): TableReader | undefined {
    const v = this.table[key]
    if (v === undefined) return undefined
    if (!isTable(v)) { this.wrongType(key, 'a table'); return undefined }
    return new TableReader(this.ctx, v, [...this.path, key])
  }

  /** Each entry of a table of tables (e.g. every `[models.*]`), skipping (with an error) entries that are not tables. */
  entries (): Array<[string, TableReader]> {
    const out: Array<[string, TableReader]> = []
    for (const [k, v] of Object.entries(this.table)) {
      if (isTable(v)) out.push([k, new TableReader(this.ctx, v, [...this.path, k])])
      else this.wrongType(k, 'a table')
    }
    return out
  }

  /**
   * TensorZero denies unknown fields: report every key not in `allowed`. `classify` may soften a key to a
   * warning (a key we are unsure about) or accept it.
   */
  checkKeys (
    allowed: Iterable<string>,
    classify?: (key: string) => 'ok' | 'warn' | undefined,
    warnReason = 'is not used by tz-sidecar',
  ): void {
    const known = new Set(allowed)
    for (const key of Object.keys(this.table)) {
      if (known.has(key)) continue
      const verdict = classify?.(key)
      if (verdict === 'ok') continue
      const where = this.path.length ? `in \`${this.name()}\`` : 'at top level'
      if (verdict === 'warn') this.warning(key, `key \`${key}\` ${where} ${warnReason}; ignored`)
      else this.error(key, `unknown key \`${key}\` ${where}`)
    }
  }
}
