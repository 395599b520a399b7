// The `serve` process: environment → options, logs, metrics and traces, the gateway, listening, and draining on SIGTERM.
import { loadConfig } from '../src/config/load.ts'
import { checkTemplates } from '../src/variant/templates/check.ts'
import { ConfigError, formatDiagnostic } from '../src/config/diagnostics.ts'
import { Sidecar } from './server.ts'
import { ConfigReloader } from './reload.ts'
import type { LoadedConfig } from '../src/core/config.ts'
import { createLogger, createProcessLogger, logLevel, requestLogListener } from './ops/logger.ts'
import { secretValues, scrubber } from '../src/providers/secrets.ts'
import { SidecarMetrics, sinkSpoolStats } from './ops/metrics.ts'
import type { RequestLog } from './ops/request-log.ts'
import { DEFAULT_BODY_LIMIT } from './http/body.ts'
import { serverLimitsFromEnv } from './http/limits.ts'
import { openStore } from '../src/store/open.ts'
import { SharedStateStores } from '../src/store/shared-state.ts'
import { createGateway, gatewayMemory } from '../src/gateway.ts'
import { numberFromEnv, flagFromEnv } from '../src/core/env.ts'
import { transportSettingsFromEnv } from '../src/providers/http/transport.ts'
import { combineObservers } from '../src/core/observers.ts'
import type { InferenceObserver } from '../src/core/records.ts'
import type { Logger } from './ops/logger.ts'

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

const DEFAULT_BIND_ADDRESS = '127.0.0.1:3031'

/** `from`: where the value came from when not the command line (named in the error). */
function parseBindAddress (value: string, from?: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value)
  const port = m === null ? NaN : Number(m[3])
  const named = from === undefined ? '' : `${from}: `
  if (m === null || !Number.isInteger(port)) throw new Error(`${named}invalid bind address \`${value}\`: expected host:port`)
  if (port > 65535) throw new Error(`${named}invalid bind address \`${value}\`: port ${port} is out of range, expected 0 to 65535`)
  const host = m[1] ?? m[2]
  return { host: host === '' || host === undefined ? '0.0.0.0' : host, port }
}

/**
 * Everything `serve` runs, not yet listening: config, logs, metrics, traces, and the gateway with its store.
 * Throws ConfigError on a bad config. `shutdown()` releases all of it.
 */
export async function createSidecar (opts: CreateOptions): Promise<Sidecar> {
  return (await createServing(opts, false)).sidecar
}

/** `createSidecar`, and with `hotReload` the reloader that swaps in a changed config (SIGHUP, changed files). */
async function createServing (opts: CreateOptions, hotReload: boolean): Promise<{ sidecar: Sidecar; reloader?: ConfigReloader }> {
  const env = opts.env ?? process.env
  const load = async (): Promise<LoadedConfig> => await loadConfig({ configFile: opts.configFile, sidecarConfig: opts.sidecarConfig, env, checkTemplates })
  const config = await load()
  const secrets = secretValues(config, env)
  // Embedded in someone else's process, stdout is theirs: warnings and errors only, on stderr.
  const logger = opts.embedded === true
    ? createLogger({ service: config.sidecar.service, level: env.LOG_LEVEL === undefined || env.LOG_LEVEL === '' ? 'warn' : env.LOG_LEVEL, env, secrets, destination: process.stderr })
    : await createProcessLogger({ service: config.sidecar.service, level: env.LOG_LEVEL, env, secrets })
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
  const tracing = otlp && opts.embedded !== true ? await (await import('./ops/tracing.ts')).startTracing({ service: config.sidecar.service, env, scrub: scrubber(secrets) }) : undefined
  if (tracing !== undefined) logger.info({ otlp_traces_url: tracing.url.replace(/\/\/[^@/]*@/, '//') }, 'tracing enabled')

  const metrics = new SidecarMetrics(config, { service: config.sidecar.service })
  const logRequest = requestLogListener(logger)
  const store = await openStore(config, env, logger)
  if (store !== undefined) metrics.setSpoolSource(() => sinkSpoolStats(store.status()))
  // Circuit changes are rare and matter to an operator: one line each (a provider skipped is a warning).
  const logCircuit: InferenceObserver = {
    onCircuit: e => {
      const line = { model: e.modelName, provider: e.providerName, from: e.from, to: e.to, reason: e.reason, cooldown_ms: e.cooldownMs }
      if (e.to === 'open') logger.warn(line, 'circuit open: provider skipped'); else logger.info(line, `circuit ${e.to}`)
    },
    onWarning: w => { logger.warn({ source: w.source }, w.message) }
  }
  // Rules to enforce and no store to enforce them, or adaptive experiments with a Postgres that cannot be reached: the
  // start fails here, as the TensorZero gateway's does (and a reload that brings the first of them is refused).
  const shared = new SharedStateStores(env, logger)
  const { rateLimits, episodeVariants } = await shared.forConfig(config)
    .catch(async (err: unknown) => { await store?.close(); await shared.close(); throw err })
  // An outage of the rate limiting store refuses requests under a limit: one line when it starts, one when it ends.
  const logRateLimits: InferenceObserver = {
    onRateLimit: e => {
      if (e.kind === 'store_down') logger.error({ backend: e.backend, err: e.message }, 'rate limiting store unreachable: requests under a limit are refused')
      else if (e.kind === 'store_up') logger.info({ backend: e.backend }, 'rate limiting store reachable again')
    }
  }
  const observer = combineObservers(metrics.observer, logCircuit, logRateLimits)
  const memory = gatewayMemory()
  const gateway = createGateway(config, { env, observer, store, rateLimits, episodeVariants, memory })

  const sidecar = new Sidecar({
    gateway,
    apiKey: env.SIDECAR_API_KEY,
    secrets,
    bodyLimit: numberFromEnv(env, 'SIDECAR_BODY_LIMIT_BYTES', DEFAULT_BODY_LIMIT),
    limits: serverLimitsFromEnv(env),
    onRequest: (log: RequestLog) => { metrics.onRequest(log); logRequest(log) },
    metrics: async () => await metrics.render(),
    onShutdown: async () => {
      reloader?.close()
      await shared.close()
      await tracing?.shutdown().catch((err: unknown) => { logger.warn({ err }, 'trace export at shutdown failed') })
    },
    logger
  })
  metrics.setInFlightSource(() => sidecar.inFlightRequests)
  // The store and spool, metrics, logs and traces are the process's: a reloaded config gets a new gateway over them.
  const reloader = hotReload
    ? new ConfigReloader({
      sidecar,
      load,
      build: async next => {
        const state = await shared.forConfig(next)
        const gateway = createGateway(next, { env, observer, store, rateLimits: state.rateLimits, episodeVariants: state.episodeVariants, memory })
        return { gateway, secrets: secretValues(next, env), restartNeeded: state.restartNeeded }
      },
      logger,
      loggedSecrets: secrets,
      onOutcome: (result, next) => { metrics.onConfigReload(result, next) },
      watchFiles: flagFromEnv(env, 'SIDECAR_CONFIG_WATCH', true)
    })
    : undefined
  return { sidecar, reloader }
}

/**
 * Every SIDECAR_* setting and LOG_LEVEL, read once by the same readers that use them later, so that a bad value is the
 * only line printed (before any log line), naming the variable and what it accepts.
 */
function checkSettings (env: NodeJS.ProcessEnv): void {
  logLevel(env.LOG_LEVEL)
  serverLimitsFromEnv(env)
  transportSettingsFromEnv(env)
  for (const name of ['SIDECAR_BODY_LIMIT_BYTES', 'SIDECAR_DRAIN_TIMEOUT_MS', 'SIDECAR_SPOOL_MAX_BYTES', 'SIDECAR_RATE_LIMIT_TIMEOUT_MS', 'SIDECAR_POSTGRES_TIMEOUT_MS']) numberFromEnv(env, name, 0)
  for (const name of ['SIDECAR_MIGRATE', 'SIDECAR_CONFIG_WATCH']) flagFromEnv(env, name, true)
}

/**
 * `tz-sidecar serve`: create, listen, and drain on SIGTERM/SIGINT. A bad config prints its diagnostics and exits 1.
 * After a drain the exit code says how it went: 0 when every request finished by itself, 1 when the drain timeout cut some.
 */
export async function startSidecar (opts: StartOptions): Promise<Sidecar> {
  const env = opts.env ?? process.env
  checkSettings(env)
  const { host, port } = opts.bindAddress !== undefined
    ? parseBindAddress(opts.bindAddress)
    : parseBindAddress(env.SIDECAR_BIND_ADDRESS ?? DEFAULT_BIND_ADDRESS, 'SIDECAR_BIND_ADDRESS')
  let sidecar: Sidecar
  let reloader: ConfigReloader | undefined
  try {
    ({ sidecar, reloader } = await createServing(opts, true))
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
    sidecar.shutdown(drainMs).then(({ drained, cut }) => {
      if (drained) logger.info({ drained }, 'stopped')
      else logger.warn({ drained, cut_requests: cut, drain_timeout_ms: drainMs }, 'stopped: the drain timeout cut requests still in flight')
      const code = drained ? 0 : 1
      // Exit once the last lines are written (the stdout destination is asynchronous).
      setTimeout(() => process.exit(code), 2000).unref()
      logger.flush(() => process.exit(code))
    }, (err: unknown) => {
      logger.error({ err }, 'shutdown failed')
      logger.flush()
      process.exit(1)
    })
  }
  process.on('SIGHUP', () => { if (!stopping) void reloader?.reload('SIGHUP') })
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  return sidecar
}
