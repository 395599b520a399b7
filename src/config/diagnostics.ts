// Collecting config problems. The loader keeps going after the first problem so one `validate` run shows all of them.
import path from 'node:path'
import type { ConfigDiagnostic, SourceRef } from '../core/config.ts'

/** `file:line:col: message`, or `file:line:col: warning: message`. `cwd` shortens paths below it for humans. */
export function formatDiagnostic (d: ConfigDiagnostic, cwd?: string): string {
  let file = d.file
  if (cwd !== undefined && path.isAbsolute(file)) {
    const rel = path.relative(cwd, file)
    if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)) file = rel
  }
  const prefix = d.severity === 'warning' ? 'warning: ' : ''
  return `${file}:${d.line}:${d.col}: ${prefix}${d.message}`
}

/** Thrown by `loadConfig` when there is at least one error; carries every diagnostic (warnings too). */
export class ConfigError extends Error {
  readonly diagnostics: ConfigDiagnostic[]
  constructor (diagnostics: ConfigDiagnostic[]) {
    super(diagnostics.filter((d) => d.severity === 'error').map((d) => formatDiagnostic(d)).join('\n'))
    this.name = 'ConfigError'
    this.diagnostics = diagnostics
  }
}

export class Diagnostics {
  readonly items: ConfigDiagnostic[] = []

  error (at: SourceRef, message: string): void {
    this.items.push({ file: at.file, line: at.line, col: at.col, severity: 'error', message })
  }

  warning (at: SourceRef, message: string): void {
    this.items.push({ file: at.file, line: at.line, col: at.col, severity: 'warning', message })
  }

  get errorCount (): number {
    return this.items.filter((d) => d.severity === 'error').length
  }

  /** Stable order for output: by file, then position, errors before warnings at the same spot. */
  sorted (): ConfigDiagnostic[] {
    return [...this.items].sort((a, b) =>
      a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col ||
      (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1))
  }
}
