// MiniJinja templates, rendered by the real MiniJinja engine (minijinja-js, the WASM build of the crate TensorZero uses),
// with TensorZero's settings: strict undefined variables, no trailing newline kept.
//
// Includes: minijinja-js has no loader callback, so each template gets its own Environment holding the template and
// every file it reaches through a literal `{% include/import/from/extends "name" %}`. As in TensorZero, names resolve
// against `[gateway.template_filesystem_access] base_path` only (never the including file's folder), and without a
// base path no file can be included. A missing include is a warning, as in TensorZero, which starts and then fails
// the render. Names computed at render time (`{% include some_variable %}`) cannot be loaded and fail at render.
//
// Everything is compiled once (per file and modification time) and then only rendered.
import { readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { Environment } from 'minijinja-js'

// The engine (a WASM module) loads with the first template compiled, not with this module: a config without
// templates never instantiates it.
const requireCjs = createRequire(import.meta.url)
let EnvironmentClass: typeof Environment | undefined

/** `warning`: TensorZero starts with it (the template then fails when rendered), so the sidecar does too. */
export interface TemplateProblem { file: string; line: number; col: number; message: string; warning?: true }

export class TemplateRenderError extends Error {
  readonly file: string
  constructor (file: string, message: string) {
    super(message)
    this.name = 'TemplateRenderError'
    this.file = file
  }
}

/** One compiled template file (plus its includes), ready to render. */
export class CompiledTemplate {
  readonly file: string
  /** Absolute paths of the included files, in discovery order. */
  readonly includes: string[]
  private readonly env: Environment

  constructor (file: string, env: Environment, includes: string[]) {
    this.file = file
    this.env = env
    this.includes = includes
  }

  /** Renders with `context` (an object, a string, or null), as TensorZero passes it. */
  render (context: unknown): string {
    try {
      return this.env.renderTemplate(this.file, context ?? null)
    } catch (err) {
      throw new TemplateRenderError(this.file, `Could not render template ${this.file}: ${firstLine(err)}`)
    }
  }
}

const STATEMENT = /\{%[-+]?\s*(include|import|from|extends)\b([\s\S]*?)[-+]?%\}/g
const STRING_LITERAL = /"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'/g

/** The literal template names a source refers to through include/import/from/extends. */
function referencedNames (source: string): string[] {
  const names: string[] = []
  for (const m of source.matchAll(STATEMENT)) {
    let body = m[2]
    // `from "x" import a, b` / `import "x" as y`: only the first literal is a template name.
    if (m[1] === 'from' || m[1] === 'import') {
      const first = /^\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')/.exec(body)
      body = first === null ? '' : first[1]
    }
    // For include/extends, literals after `with`/`ignore` are not names (there are none in MiniJinja syntax).
    for (const lit of body.matchAll(STRING_LITERAL)) {
      const name = (lit[1] ?? lit[2]).replace(/\\(.)/g, '$1')
      if (!names.includes(name)) names.push(name)
    }
  }
  return names
}

function firstLine (err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return message.split('\n')[0]
}

/** `... (in NAME:LINE)` at the end of a MiniJinja error's first line. */
function errorLocation (message: string): { name: string; line: number } | undefined {
  const m = /\(in (.*):(\d+)\)\s*$/.exec(message)
  return m === null ? undefined : { name: m[1], line: Number(m[2]) }
}

interface CacheEntry { stamp: string; compiled?: CompiledTemplate; problems: TemplateProblem[] }
const cache = new Map<string, CacheEntry>()

function stampOf (file: string): string {
  try {
    const s = statSync(file)
    return `${s.mtimeMs}:${s.size}`
  } catch {
    return 'missing'
  }
}

/**
 * Compiles a template file and its includes. Problems (file missing, syntax errors with their file and line,
 * includes that do not exist) come back instead of a template; results are cached per file and modification time (of the file and its includes).
 */
export function compileTemplateFile (file: string, includeRoot?: string): { compiled?: CompiledTemplate; problems: TemplateProblem[] } {
  const abs = path.resolve(file)
  const key = cacheKey(abs, includeRoot)
  // The file and its includes: a reloaded config sees an include that changed.
  const stampWith = (includes: readonly string[]): string => [abs, ...includes].map(stampOf).join('|')
  const hit = cache.get(key)
  if (hit !== undefined && hit.stamp === stampWith(hit.compiled?.includes ?? [])) return hit
  const compiled = compile(abs, includeRoot)
  const entry: CacheEntry = { stamp: stampWith(compiled.compiled?.includes ?? []), ...compiled }
  cache.set(key, entry)
  return entry
}

function cacheKey (abs: string, includeRoot: string | undefined): string {
  return includeRoot === undefined ? abs : `${includeRoot}\u0000${abs}`
}

/**
 * The compiled template at `file` (an absolute path), from the cache without touching the disk once it compiled:
 * what requests use. A file that did not compile is looked at again, so fixing it needs no restart.
 */
export function compiledTemplate (file: string, includeRoot?: string): { compiled?: CompiledTemplate; problems: TemplateProblem[] } {
  const hit = cache.get(cacheKey(file, includeRoot))
  return hit?.compiled !== undefined ? hit : compileTemplateFile(file, includeRoot)
}

function compile (abs: string, root: string | undefined): { compiled?: CompiledTemplate; problems: TemplateProblem[] } {
  const problems: TemplateProblem[] = []
  EnvironmentClass ??= (requireCjs('minijinja-js') as typeof import('minijinja-js')).Environment
  const env = new EnvironmentClass()
  env.debug = false
  env.undefinedBehavior = 'strict'
  const includes: string[] = []
  // name registered in the environment → absolute file
  const files = new Map<string, string>()

  const add = (name: string, file: string, from?: { file: string; name: string }): void => {
    let source: string
    try {
      source = readFileSync(file, 'utf8')
    } catch (err) {
      const where = from === undefined
        ? { file, line: 1, col: 1 }
        : { file: from.file, line: lineOfName(readSafe(from.file), name), col: 1 }
      problems.push({
        ...where,
        message: from === undefined
          ? `template file cannot be read: ${(err as Error).message}`
          : `template includes "${name}", which was not found at ${file} (includes resolve against \`[gateway.template_filesystem_access] base_path\` ${root ?? ''}), so rendering it fails`,
        ...(from === undefined ? {} : { warning: true as const })
      })
      return
    }
    files.set(name, file)
    try {
      env.addTemplate(name, source)
    } catch (err) {
      const message = firstLine(err)
      const loc = errorLocation(message)
      problems.push({
        file,
        line: loc?.line ?? 1,
        col: 1,
        message: `template ${/^syntax error/.test(message) ? '' : 'error: '}${message.replace(/\s*\(in .*:\d+\)\s*$/, '')}`
      })
      return
    }
    for (const ref of referencedNames(source)) {
      if (files.has(ref)) continue
      if (root === undefined) {
        if (ignoreMissing(source, ref)) continue
        problems.push({
          file,
          line: lineOfName(source, ref),
          col: 1,
          message: `template includes "${ref}", but \`[gateway.template_filesystem_access] base_path\` is not set: included templates are loaded only from there, so rendering it fails`,
          warning: true
        })
        continue
      }
      const target = safeJoin(root, ref)
      if (target === undefined) {
        problems.push({ file, line: lineOfName(source, ref), col: 1, message: `template includes "${ref}": a name with a segment starting with \`.\` or containing \`\\\` is never loaded, so rendering it fails`, warning: true })
        continue
      }
      if (target !== abs) includes.push(target)
      if (ignoreMissing(source, ref) && !isFile(target)) continue
      add(ref, target, { file, name: ref })
    }
  }

  add(abs, abs)
  if (problems.some(p => p.warning !== true)) return { problems }
  return { compiled: new CompiledTemplate(abs, env, includes), problems }
}

/** TensorZero's safe join: a name with a segment starting with `.` or containing `\\` is never loaded. */
function safeJoin (root: string, name: string): string | undefined {
  return name.split('/').some(segment => segment.startsWith('.') || segment.includes('\\')) ? undefined : path.join(root, ...name.split('/'))
}

function ignoreMissing (source: string, name: string): boolean {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return new RegExp(`["']${escaped}["'][^%]*ignore\\s+missing`).test(source)
}

function isFile (p: string): boolean {
  try { return statSync(p).isFile() } catch { return false }
}

function readSafe (file: string): string {
  try { return readFileSync(file, 'utf8') } catch { return '' }
}

function lineOfName (source: string, name: string): number {
  const i = source.indexOf(name)
  return i < 0 ? 1 : source.slice(0, i).split('\n').length
}
