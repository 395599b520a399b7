// Entry point: tensorzero.toml (one file or a glob of several) plus the optional per-service file, validated
// together, every problem collected with its `file:line:col`.
import path from 'node:path'
import { ConfigError, Diagnostics } from './diagnostics.ts'
import type { LoadContext } from './reader.ts'
import { buildSidecarConfig, defaultSidecarConfig } from './sidecar-config.ts'
import { buildTensorZeroConfig } from './tensorzero.ts'
import { expandConfigPaths, mergeTomlFiles, parseTomlFile, type ParsedFile } from './toml-files.ts'
import type { ConfigDiagnostic, LoadedConfig, TensorZeroConfig } from '../core/config.ts'

export interface LoadConfigOptions {
  /** Path or glob (`*`, `**`, `?`) of tensorzero.toml file(s); relative to `cwd`. */
  configFile: string
  /** Path of the per-service sidecar TOML; defaults apply without it. */
  sidecarConfig?: string
  /** For default credentials, SIDECAR_SERVICE and `path_from_env::`; defaults to process.env. */
  env?: NodeJS.ProcessEnv
  /** Base for relative `configFile`/`sidecarConfig`; defaults to process.cwd(). */
  cwd?: string
  /**
   * Reports templates that do not compile, at their file and line (the template engine lives above the loader, so
   * it is handed in). Without it, a broken template fails only its variant, at request time.
   */
  checkTemplates?: (config: TensorZeroConfig, diags: Diagnostics) => void
}

export interface ValidationResult {
  /** Present when there were no errors. */
  config?: LoadedConfig
  /** Errors and warnings, sorted by file and position. */
  diagnostics: ConfigDiagnostic[]
}

/** Loads and validates; never throws for config problems. What `tz-sidecar validate` prints. */
export async function validateConfigFiles (opts: LoadConfigOptions): Promise<ValidationResult> {
  const diags = new Diagnostics()
  const env = opts.env ?? process.env
  const cwd = opts.cwd ?? process.cwd()

  const files = await expandConfigPaths(opts.configFile, cwd)
  if (files.length === 0) {
    diags.error({ file: path.resolve(cwd, opts.configFile), line: 1, col: 1 }, `no config file matches "${opts.configFile}"`)
  }
  const parsed: ParsedFile[] = []
  for (const file of files) {
    const p = await parseTomlFile(file, diags)
    if (p) parsed.push(p)
  }

  let sidecarFile: ParsedFile | undefined
  let sidecarPath: string | undefined
  if (opts.sidecarConfig !== undefined) {
    sidecarPath = path.resolve(cwd, opts.sidecarConfig)
    sidecarFile = await parseTomlFile(sidecarPath, diags)
  }

  // Semantic checks on a partial tree (a file that failed to parse) would only add misleading errors.
  if (diags.errorCount > 0) return { diagnostics: diags.sorted() }

  const ctx: LoadContext = { toml: mergeTomlFiles(parsed, diags), diags, env }
  const tensorzero = buildTensorZeroConfig(ctx)
  // Compiled once here when checked; the gateway reuses the compiled result.
  opts.checkTemplates?.(tensorzero, diags)
  const sidecar = sidecarFile && sidecarPath
    ? buildSidecarConfig({ toml: mergeTomlFiles([sidecarFile], diags), diags, env }, sidecarPath, tensorzero)
    : defaultSidecarConfig(env)

  const diagnostics = diags.sorted()
  if (diags.errorCount > 0) return { diagnostics }
  return { config: { tensorzero, sidecar, warnings: diagnostics }, diagnostics }
}

/** Loads and validates; throws ConfigError listing every error. Warnings come back in `warnings`. */
export async function loadConfig (opts: LoadConfigOptions): Promise<LoadedConfig> {
  const result = await validateConfigFiles(opts)
  if (!result.config) throw new ConfigError(result.diagnostics)
  return result.config
}
