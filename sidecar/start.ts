// The `serve` process: load config, wire observers, listen, and drain on SIGTERM.
import { loadConfig } from '../src/config/load.ts'
import { ConfigError, formatDiagnostic } from '../src/config/diagnostics.ts'
import { Sidecar } from './server.ts'
import type { SidecarOptions } from './server.ts'
import { createLogger, requestLogListener, secretValues, scrubber } from './ops/logger.ts'
import { SidecarMetrics, sinkSpoolStats } from './ops/metrics.ts'
import { combineObservers } from '../src/core/observers.ts'
import type { RequestLog } from './ops/request-log.ts'
import { DEFAULT_BODY_LIMIT } from './http/body.ts'
import { createClickHouseSink } from '../src/store/writer.ts'
import type { ClickHouseSink } from '../src/store/writer.ts'
import { handleFeedback } from '../src/feedback/handle.ts'
import { RecentTargets } from '../src/feedback/known-targets.ts'
import type { InferenceObserver } from '../src/core/records.ts'
import type { LoadedConfig } from '../src/core/config.ts'
import type { Logger } from './ops/logger.ts'
import { tmpdir } from 'node:os'
import path from 'node:path'

export interface CreateOptions {
  configFile: string
  sidecarConfig?: string
  env?: NodeJS.ProcessEnv
  /** Inside someone else's process (sdk-patch embedded mode): no global OpenTelemetry SDK, quieter logs. */
  embedded?: boolean
}

export interface StartOptions extends CreateOptions {
  bindAddress?: string
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

/** Where rows wait for ClickHouse when SIDECAR_SPOOL_DIR is unset: per service, surviving process restarts. */
export function defaultSpoolDir (service: string): string {
  return path.join(tmpdir(), 'tz-sidecar-spool', service.replace(/[^\w.-]/g, '_'))
}

function flagFromEnv (env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  return !['0', 'false', 'no', 'off'].includes(raw.toLowerCase())
}

/** ClickHouse rows (spool + batched inserts), unless `[gateway] observability.enabled = false`. */
async function createSink (config: LoadedConfig, env: NodeJS.ProcessEnv, logger: Logger): Promise<ClickHouseSink | undefined> {
  if (config.tensorzero.gateway.observabilityEnabled === false) {
    logger.info({}, 'observability disabled in [gateway]: no ClickHouse rows')
    return undefined
  }
  const { batchWrites } = config.tensorzero.gateway
  const url = env.TENSORZERO_CLICKHOUSE_URL === '' ? undefined : env.TENSORZERO_CLICKHOUSE_URL
  const sink = createClickHouseSink({
    url,
    spoolDir: env.SIDECAR_SPOOL_DIR ?? defaultSpoolDir(config.sidecar.service),
    service: config.sidecar.service,
    flushIntervalMs: batchWrites.flushIntervalMs,
    maxRows: batchWrites.maxRows,
    spoolMaxBytes: numberFromEnv(env, 'SIDECAR_SPOOL_MAX_BYTES', 512 * 1024 * 1024),
    config: config.tensorzero,
    migrate: url !== undefined && flagFromEnv(env, 'SIDECAR_MIGRATE', true),
    logger: logger.child({ component: 'clickhouse' })
  })
  await sink.ready
  if (url === undefined) logger.warn({}, 'TENSORZERO_CLICKHOUSE_URL is unset: rows stay in the local spool')
  return sink
}

/**
 * Everything `serve` runs, not yet listening: config, logs, metrics, traces, the ClickHouse sink and feedback.
 * Throws ConfigError on a bad config. `shutdown()` releases all of it.
 */
export async function createSidecar (opts: CreateOptions): Promise<Sidecar> {
  const env = opts.env ?? process.env
  const config = await loadConfig({ configFile: opts.configFile, sidecarConfig: opts.sidecarConfig, env })
  const secrets = secretValues(config, env)
  // Embedded in someone else's process, stdout is theirs: warnings and errors only, on stderr.
  const logger = opts.embedded === true
    ? createLogger({ service: config.sidecar.service, level: env.LOG_LEVEL ?? 'warn', env, secrets, destination: process.stderr })
    : createLogger({ service: config.sidecar.service, level: env.LOG_LEVEL, env, secrets })
  for (const w of config.warnings) logger.warn({ config: formatDiagnostic(w, process.cwd()) }, 'config warning')
  logger.info({
    files: config.tensorzero.files,
    sidecar_config: config.sidecar.file,
    functions: [...config.tensorzero.functions.keys()],
    models: [...config.tensorzero.models.keys()],
    embedding_models: [...config.tensorzero.embeddingModels.keys()],
    metrics: [...config.tensorzero.metrics.keys()],
    routes: config.sidecar.exactRoutes.size + config.sidecar.globRoutes.length,
    unmatched: config.sidecar.unmatched
  }, 'config loaded')

  // Traces only when an OTLP endpoint is configured: the SDK is not even loaded otherwise.
  const otlp = (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '') !== '' || (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '') !== ''
  const tracing = otlp && opts.embedded !== true ? (await import('./ops/tracing.ts')).startTracing({ service: config.sidecar.service, env, scrub: scrubber(secrets) }) : undefined
  if (tracing !== undefined) logger.info({ otlp_traces_url: tracing.url.replace(/\/\/[^@/]*@/, '//') }, 'tracing enabled')

  const metrics = new SidecarMetrics(config, { service: config.sidecar.service })
  const logRequest = requestLogListener(logger, config)
  const sink = await createSink(config, env, logger)
  if (sink !== undefined) metrics.setSpoolSource(() => sinkSpoolStats(sink.status()))

  // Feedback needs the ids this sidecar issued; without a sink they are remembered here.
  const recent = sink === undefined ? new RecentTargets() : undefined
  const observers: InferenceObserver[] = [metrics.observer]
  if (sink !== undefined) observers.push(sink.observer)
  if (recent !== undefined) observers.push({ onInference: rec => recent.remember(rec) })

  const options: SidecarOptions = {
    config,
    env,
    apiKey: env.SIDECAR_API_KEY,
    bodyLimit: numberFromEnv(env, 'SIDECAR_BODY_LIMIT_BYTES', DEFAULT_BODY_LIMIT),
    observer: combineObservers(...observers),
    onRequest: (log: RequestLog) => { metrics.onRequest(log); logRequest(log) },
    metrics: async () => await metrics.render(),
    beforeComplete: sink === undefined ? undefined : () => sink.whenPersisted(),
    feedback: async body => await handleFeedback(body, {
      config: config.tensorzero,
      knownTargets: sink?.knownTargets ?? recent as RecentTargets,
      lookupInClickHouse: sink?.lookupInClickHouse,
      enqueue: rec => { sink?.enqueueFeedback(rec); metrics.observer.onFeedback?.(rec) }
    }),
    status: () => {
      if (sink === undefined) return { clickhouse: 'disabled' }
      const st = sink.status()
      return { ...st, spooling: st.clickhouse !== 'connected' }
    },
    onShutdown: async () => {
      await sink?.close().catch((err: unknown) => { logger.warn({ err }, 'closing the ClickHouse sink failed') })
      await tracing?.shutdown().catch((err: unknown) => { logger.warn({ err }, 'trace export at shutdown failed') })
    },
    logger
  }
  const sidecar = new Sidecar(options)
  metrics.setInFlightSource(() => sidecar.inFlightRequests)
  return sidecar
}

/** `tz-sidecar serve`: create, listen, and drain on SIGTERM/SIGINT. A bad config prints its diagnostics and exits 1. */
export async function startSidecar (opts: StartOptions): Promise<Sidecar> {
  const env = opts.env ?? process.env
  const { host, port } = parseBindAddress(opts.bindAddress ?? env.SIDECAR_BIND_ADDRESS ?? DEFAULT_BIND_ADDRESS)
  let sidecar: Sidecar
  try {
    sidecar = await createSidecar(opts)
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const d of err.diagnostics) process.stderr.write(formatDiagnostic(d, process.cwd()) + '\n')
      process.exit(1)
    }
    throw err
  }
  const logger = sidecar.logger as Logger
  const config = sidecar.gateway.config
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
      // Exit once the last lines are written (the stdout destination is asynchronous).
      setTimeout(() => process.exit(0), 2000).unref()
      logger.flush(() => process.exit(0))
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
