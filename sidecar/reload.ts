// Hot reload of `serve`: on SIGHUP, or when a loaded file changes (the TOML files, the per-service file, templates and
// JSON Schemas), the config is loaded and validated again and swapped in for new requests. A config that fails keeps
// the one in use: every problem is logged, /status shows them, a metric counts the failure.
import { watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import path from 'node:path'
import type { LoadedConfig } from '../src/core/config.ts'
import { ConfigError, formatDiagnostic } from '../src/config/diagnostics.ts'
import type { Gateway } from '../src/gateway.ts'
import { compiledTemplate } from '../src/variant/templates/engine.ts'
import type { Sidecar } from './server.ts'
import type { ReloadOutcome } from './routes/context.ts'
import type { Logger } from './ops/logger.ts'

/** Editors write a file in several steps (truncate, write, rename): one reload once they are done. */
const DEBOUNCE_MS = 300

export interface ReloaderOptions {
  sidecar: Sidecar
  /** Loads and validates the config files again (throws ConfigError). */
  load: () => Promise<LoadedConfig>
  /**
   * A gateway for the new config over the process's stores and observers, the secrets it resolves to, and what of it
   * the stores opened earlier give only after a restart. Throws ConfigError to refuse the config.
   */
  build: (config: LoadedConfig) => Promise<Built>
  logger: Logger
  /** The secret values the process's log lines are scrubbed of (fixed at start). */
  loggedSecrets: readonly string[]
  onOutcome: (result: 'success' | 'failure', config?: LoadedConfig) => void
  /** Watch the loaded files (SIDECAR_CONFIG_WATCH); SIGHUP reloads either way. */
  watchFiles: boolean
}

interface Built { gateway: Gateway; secrets: string[]; restartNeeded: string[] }

export class ConfigReloader {
  private readonly opts: ReloaderOptions
  private watchers: FSWatcher[] = []
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private again: string | undefined
  private closed = false

  constructor (opts: ReloaderOptions) {
    this.opts = opts
    if (opts.watchFiles) this.watch(opts.sidecar.gateway.config)
  }

  /** Reloads now, or once more after the reload under way (reloads never overlap). */
  async reload (trigger: string): Promise<void> {
    if (this.running !== undefined) { this.again = trigger; await this.running; return }
    this.running = this.reloadOnce(trigger).finally(() => { this.running = undefined })
    await this.running
    const next = this.again
    this.again = undefined
    if (next !== undefined && !this.closed) await this.reload(next)
  }

  close (): void {
    this.closed = true
    clearTimeout(this.timer)
    for (const w of this.watchers) w.close()
    this.watchers = []
  }

  private async reloadOnce (trigger: string): Promise<void> {
    const { sidecar, logger } = this.opts
    const at = new Date().toISOString()
    const old = sidecar.gateway.config
    let config: LoadedConfig
    let built: Built
    try {
      config = await this.opts.load()
      built = await this.opts.build(config)
    } catch (err) {
      const errors = err instanceof ConfigError
        ? err.diagnostics.filter(d => d.severity !== 'warning').map(d => formatDiagnostic(d, process.cwd()))
        : [(err as Error).message]
      for (const line of errors) logger.error({ config: line, trigger }, 'config reload failed: the config in use is kept')
      this.record({ at, trigger, ok: false, errors, restartNeeded: [] }, 'failure')
      return
    }
    if (this.closed) { await built.gateway.retire(); return }
    const restartNeeded = [...changesNeedingRestart(old, config, this.opts.loggedSecrets, built.secrets), ...built.restartNeeded]
    sidecar.replaceGateway(built.gateway, built.secrets)
    for (const w of config.warnings) logger.warn({ config: formatDiagnostic(w, process.cwd()) }, 'config warning')
    const tz = config.tensorzero
    logger.info({ trigger, files: tz.files, functions: [...tz.functions.keys()], models: [...tz.models.keys()], routes: config.sidecar.exactRoutes.size + config.sidecar.globRoutes.length }, 'config reloaded')
    for (const change of restartNeeded) logger.warn({ change }, 'config reloaded, but this change takes effect only after a restart')
    this.record({ at, trigger, ok: true, errors: [], restartNeeded }, 'success', config)
    if (this.opts.watchFiles) this.watch(config)
  }

  private record (outcome: ReloadOutcome, result: 'success' | 'failure', config?: LoadedConfig): void {
    this.opts.sidecar.configState.lastReload = outcome
    this.opts.onOutcome(result, config)
  }

  /**
   * Watches the folders of the loaded files (a file replaced by rename keeps being seen): an event for a loaded
   * file, a new `.toml` beside a config file (a glob may now match it), or any file beside a template (its includes).
   */
  private watch (config: LoadedConfig): void {
    for (const w of this.watchers) w.close()
    this.watchers = []
    const files = new Set<string>([...config.tensorzero.files, ...(config.sidecar.file === undefined ? [] : [config.sidecar.file])])
    const tomlDirs = new Set([...files].map(f => path.dirname(f)))
    const referenced = referencedFiles(config.tensorzero)
    const includes = referenced.templates.flatMap(f => compiledTemplate(f, config.tensorzero.gateway.templateBasePath).compiled?.includes ?? [])
    for (const f of [...referenced.templates, ...includes, ...referenced.schemas]) files.add(f)
    const templateDirs = new Set([...referenced.templates, ...includes].map(f => path.dirname(f)))
    for (const dir of new Set([...files].map(f => path.dirname(f)))) {
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          const file = name === null ? undefined : path.join(dir, name.toString())
          if (file === undefined || files.has(file) || templateDirs.has(dir) || (tomlDirs.has(dir) && file.endsWith('.toml'))) this.changed()
        })
        w.on('error', (err: Error) => { this.opts.logger.warn({ dir, err: err.message }, 'config folder can no longer be watched: send SIGHUP to reload') })
        this.watchers.push(w)
      } catch (err) {
        this.opts.logger.warn({ dir, err: (err as Error).message }, 'config folder cannot be watched: send SIGHUP to reload')
      }
    }
  }

  private changed (): void {
    if (this.closed) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { void this.reload('file') }, DEBOUNCE_MS)
    this.timer.unref()
  }
}

/** Template and JSON Schema paths anywhere in the config (`{ path, source }` objects, as the loader resolved them). */
function referencedFiles (tz: LoadedConfig['tensorzero']): { templates: string[]; schemas: string[] } {
  const templates = new Set<string>()
  const schemas = new Set<string>()
  const seen = new Set<unknown>()
  const visit = (v: unknown, depth: number): void => {
    if (v === null || typeof v !== 'object' || seen.has(v) || depth > 12) return
    seen.add(v)
    if (v instanceof Map) { for (const x of v.values()) visit(x, depth + 1); return }
    if (Array.isArray(v)) { for (const x of v) visit(x, depth + 1); return }
    const o = v as Record<string, unknown>
    if (typeof o.path === 'string' && typeof o.source === 'object' && o.source !== null) {
      ('schema' in o ? schemas : templates).add(o.path)
      return
    }
    for (const x of Object.values(o)) visit(x, depth + 1)
  }
  visit({ functions: tz.functions, tools: tz.tools }, 0)
  return { templates: [...templates], schemas: [...schemas] }
}

/**
 * What a reload swapped in but the process keeps from its start: the service name (every metric's label, the default
 * spool folder), the store's settings, and the secret values logs are scrubbed of (the rate limiting and Postgres
 * stores, opened when a config first needs them, say what they cannot switch to through `build`). Environment variables and flags
 * (bind address, spool folder, ClickHouse URL, limits) are read once at start: a reload never sees them change.
 */
function changesNeedingRestart (old: LoadedConfig, next: LoadedConfig, scrubbed: readonly string[], secrets: readonly string[]): string[] {
  const out: string[] = []
  if (old.sidecar.service !== next.sidecar.service) out.push(`service \`${old.sidecar.service}\` → \`${next.sidecar.service}\` (metric labels, spool folder)`)
  const [a, b] = [old.tensorzero.gateway, next.tensorzero.gateway]
  if (a.observabilityEnabled !== b.observabilityEnabled) out.push('[gateway.observability] enabled')
  if (a.batchWrites.flushIntervalMs !== b.batchWrites.flushIntervalMs || a.batchWrites.maxRows !== b.batchWrites.maxRows) out.push('[gateway.observability.batch_writes]')
  const known = new Set(scrubbed)
  if (secrets.some(s => !known.has(s))) out.push('new credentials: log lines are scrubbed of them only after a restart')
  return out
}
