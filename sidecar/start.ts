// The `serve` process: load config, wire observers, listen, and drain on SIGTERM.
import { loadConfig } from '../src/config/load.ts'
import { ConfigError, formatDiagnostic } from '../src/config/diagnostics.ts'
import { Sidecar } from './server.ts'
import type { SidecarOptions } from './server.ts'
import { createLogger } from './logger.ts'
import { DEFAULT_BODY_LIMIT } from './http/body.ts'

export interface StartOptions {
  configFile: string
  sidecarConfig?: string
  bindAddress?: string
  env?: NodeJS.ProcessEnv
}

export const DEFAULT_BIND_ADDRESS = '127.0.0.1:3031'

export function parseBindAddress (value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value)
  const port = m === null ? NaN : Number(m[3])
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid bind address \`${value}\`: expected host:port`)
  const host = m[1] ?? m[2]
  return { host: host === '' || host === undefined ? '0.0.0.0' : host, port }
}

function numberFromEnv (env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got \`${raw}\``)
  return n
}

export async function startSidecar (opts: StartOptions): Promise<Sidecar> {
  const env = opts.env ?? process.env
  let config
  try {
    config = await loadConfig({ configFile: opts.configFile, sidecarConfig: opts.sidecarConfig, env })
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const d of err.diagnostics) process.stderr.write(formatDiagnostic(d, process.cwd()) + '\n')
      process.exit(1)
    }
    throw err
  }
  const logger = createLogger({ service: config.sidecar.service, level: env.LOG_LEVEL })
  for (const w of config.warnings) logger.warn({ config: formatDiagnostic(w, process.cwd()) }, 'config warning')

  const options: SidecarOptions = {
    config,
    env,
    apiKey: env.SIDECAR_API_KEY,
    bodyLimit: numberFromEnv(env, 'SIDECAR_BODY_LIMIT_BYTES', DEFAULT_BODY_LIMIT)
  }
  const sidecar = new Sidecar(options)
  const { host, port } = parseBindAddress(opts.bindAddress ?? env.SIDECAR_BIND_ADDRESS ?? DEFAULT_BIND_ADDRESS)
  const address = await sidecar.listen(port, host)
  logger.info({
    address: `${address.address}:${address.port}`,
    functions: config.tensorzero.functions.size,
    models: config.tensorzero.models.size,
    files: config.tensorzero.files
  }, 'tz-sidecar listening')

  const drainMs = numberFromEnv(env, 'SIDECAR_DRAIN_TIMEOUT_MS', 30_000)
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    logger.info({ signal, drain_timeout_ms: drainMs }, 'draining')
    sidecar.shutdown(drainMs).then(({ drained }) => {
      logger.info({ drained }, 'stopped')
      logger.flush()
      process.exit(0)
    }, (err: unknown) => {
      logger.error({ err }, 'shutdown failed')
      logger.flush()
      process.exit(1)
    })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  return sidecar
}
