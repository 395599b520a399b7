// Reading one or several TOML files into one tree, remembering for every key which file (and where) defined it.
import { glob, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { parse, TomlError } from 'smol-toml'
import { buildPositionIndex, pathKey, type PositionIndex } from './toml-positions.ts'
import type { Diagnostics } from './diagnostics.ts'
import type { SourceRef } from '../core/config.ts'

export type Table = Record<string, unknown>

export function isTable (v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date)
}

/** Keys that would reach Object.prototype machinery if anyone ever copied the tree into a plain object. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

export interface ParsedFile { file: string; text: string; data: Table; positions: PositionIndex }

/** The merged tree plus a way to turn any key path into `file:line:col`. */
export interface MergedToml {
  files: string[]
  data: Table
  /** Position of `path`, in the file that defined it; falls back to the nearest enclosing key. */
  at (path: readonly string[]): SourceRef
  /** Absolute directory of the file that defined `path`: where relative paths in its value start. */
  dirOf (path: readonly string[]): string
}

/**
 * Expands a path or glob (`*`, `**`, `?`) to sorted absolute file paths. An existing file is taken literally
 * first, so a file name containing glob characters still works.
 */
export async function expandConfigPaths (pattern: string, cwd = process.cwd()): Promise<string[]> {
  const literal = path.resolve(cwd, pattern)
  try {
    if ((await stat(literal)).isFile()) return [literal]
  } catch {}
  const out: string[] = []
  for await (const entry of glob(pattern, { cwd })) {
    const abs = path.resolve(cwd, entry)
    try {
      if ((await stat(abs)).isFile()) out.push(abs)
    } catch {}
  }
  return out.sort()
}

/** Reads and parses one file; syntax errors and forbidden keys become diagnostics. */
export async function parseTomlFile (file: string, diags: Diagnostics): Promise<ParsedFile | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    diags.error({ file, line: 1, col: 1 }, `cannot read file: ${(err as Error).message}`)
    return undefined
  }
  return parseTomlText(file, text, diags)
}

function parseTomlText (file: string, text: string, diags: Diagnostics): ParsedFile | undefined {
  let data: Table
  try {
    data = parse(text) as Table
  } catch (err) {
    if (err instanceof TomlError) {
      // smol-toml's message carries a code excerpt after a blank line; the position says it better.
      const message = err.message.split('\n')[0].replace(/^Invalid TOML document: /, '')
      diags.error({ file, line: err.line, col: err.column }, `TOML syntax error: ${message}`)
    } else {
      diags.error({ file, line: 1, col: 1 }, `TOML syntax error: ${(err as Error).message}`)
    }
    return undefined
  }
  const positions = buildPositionIndex(text)
  dropForbiddenKeys(data, [], (p) => {
    const pos = positions.find(p)
    diags.error({ file, ...pos }, `key \`${p[p.length - 1]}\` is not allowed`)
  })
  return { file, text, data, positions }
}

function dropForbiddenKeys (value: unknown, at: string[], report: (path: string[]) => void): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => dropForbiddenKeys(v, [...at, String(i)], report))
  } else if (isTable(value)) {
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) {
        report([...at, key])
        delete value[key]
      } else {
        dropForbiddenKeys(value[key], [...at, key], report)
      }
    }
  }
}

/**
 * Merges files in order. Tables merge key by key; a value (or a table against a value) defined in two files is
 * an error naming both places, as TensorZero does for split configs.
 */
export function mergeTomlFiles (parsed: ParsedFile[], diags: Diagnostics): MergedToml {
  const data: Table = Object.create(null)
  // For every path in the merged tree: the file that introduced it.
  const owner = new Map<string, ParsedFile>()

  const posIn = (f: ParsedFile, p: readonly string[]): SourceRef => ({ file: f.file, ...f.positions.find(p) })

  const mergeInto = (target: Table, source: Table, at: string[], from: ParsedFile): void => {
    for (const key of Object.keys(source)) {
      const p = [...at, key]
      const incoming = source[key]
      if (!(key in target)) {
        target[key] = isTable(incoming) ? copyTable(incoming) : incoming
        markOwner(incoming, p, from)
        continue
      }
      const existing = target[key]
      if (isTable(existing) && isTable(incoming)) {
        mergeInto(existing, incoming, p, from)
        continue
      }
      const first = owner.get(pathKey(p))
      const firstPos = first ? posIn(first, p) : undefined
      diags.error(posIn(from, p),
        `\`${p.join('.')}\` is defined in several files` + (firstPos ? `; first at ${firstPos.file}:${firstPos.line}:${firstPos.col}` : ''))
    }
  }
  const markOwner = (value: unknown, p: string[], from: ParsedFile): void => {
    if (!owner.has(pathKey(p))) owner.set(pathKey(p), from)
    if (isTable(value)) for (const k of Object.keys(value)) markOwner(value[k], [...p, k], from)
    else if (Array.isArray(value)) value.forEach((v, i) => markOwner(v, [...p, String(i)], from))
  }

  for (const f of parsed) mergeInto(data, f.data, [], f)

  // The deepest path with a recorded owner names the file: new keys are owned by the file that added them.
  const ownerOf = (p: readonly string[]): ParsedFile | undefined => {
    for (let n = p.length; n > 0; n--) {
      const f = owner.get(pathKey(p.slice(0, n)))
      if (f) return f
    }
    return parsed[0]
  }

  return {
    files: parsed.map((f) => f.file),
    data,
    at (p) {
      const f = ownerOf(p)
      return f ? posIn(f, p) : { file: '<none>', line: 1, col: 1 }
    },
    dirOf (p) {
      const f = ownerOf(p)
      return f ? path.dirname(f.file) : process.cwd()
    },
  }
}

function copyTable (t: Table): Table {
  const out: Table = Object.create(null)
  for (const k of Object.keys(t)) out[k] = isTable(t[k]) ? copyTable(t[k] as Table) : t[k]
  return out
}
