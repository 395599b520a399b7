// JSON logs on stdout (Loki-ready): static labels `service`, `tier`, `environment`; one line per request; warnings for
// fallbacks and retries. Secrets are kept out twice: by key (pino redaction of Authorization headers, API keys,
// credentials, passwords) and by value (every line is scrubbed of the credential values the config resolves to,
// the sidecar API key and the ClickHouse password, wherever they appear; `src/providers/secrets.ts`).
import pino from 'pino'
import type { Logger } from 'pino'
import { scrubber } from '../../src/providers/secrets.ts'
import { forEachStep, requestErrorClass, servedBy } from './request-log.ts'
import type { RequestLog, RequestListener } from './request-log.ts'

export type { Logger }
// The one scrubbing mechanism lives with the providers, whose answers it cleans too; the process wires it here.

export interface LoggerOptions {
  service: string
  level?: string
  destination?: NodeJS.WritableStream
  /** Values never to print (API keys, passwords): replaced by `[redacted]` in every line. */
  secrets?: string[]
  /** SIDECAR_TIER, SIDECAR_ENVIRONMENT (default: process.env). */
  env?: NodeJS.ProcessEnv
}

const HEADER_KEYS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key', 'x-goog-api-key']
const SECRET_KEYS = ['apiKey', 'api_key', 'password', 'secret', 'token', 'access_token', 'credentials', 'passthroughAuthorization']

const REDACTED_PATHS = [
  ...HEADER_KEYS.flatMap(h => [`["${h}"]`, `*["${h}"]`, `headers["${h}"]`, `*.headers["${h}"]`, `req.headers["${h}"]`]),
  ...SECRET_KEYS.flatMap(k => [k, `*.${k}`]),
  '["tensorzero::credentials"]', '*["tensorzero::credentials"]'
]

/** A destination that scrubs secret values from each line before writing. */
function scrubbing (dest: pino.DestinationStream, secrets: string[]): pino.DestinationStream {
  const scrub = scrubber(secrets)
  if (scrub === undefined) return dest
  const scrubbed = {
    write (line: string): void { dest.write(scrub(line)) },
    flush (cb?: (err?: Error) => void): void {
      const d = dest as { flush?: (cb?: (err?: Error) => void) => void }
      if (d.flush !== undefined) d.flush(cb); else cb?.()
    },
    flushSync (): void { (dest as { flushSync?: () => void }).flushSync?.() }
  }
  return scrubbed as pino.DestinationStream
}

/**
 * stdout, written in batches of at least 4 KiB (one write(2) per several request lines instead of one per line: the
 * request line's cost in a CPU profile at 64 connections went from ~68 to ~32 µs, bench/), and at the latest every 100 ms. A line waits at most that long; at exit
 * pino flushes what is buffered (and `serve` flushes on SIGTERM); a SIGKILL can lose the last 100 ms of lines.
 */
function bufferedStdout (): pino.DestinationStream {
  const dest = pino.destination({ sync: false, minLength: 4096 })
  let dirty = false
  const timer = setInterval(() => {
    if (!dirty) return
    dirty = false
    try { dest.flush() } catch { clearInterval(timer) /* destroyed */ }
  }, 100)
  timer.unref()
  const write = dest.write.bind(dest)
  dest.write = (line: string): boolean => { dirty = true; return write(line) }
  return dest
}

const nonEmpty = (v: string | undefined): string | undefined => v === '' ? undefined : v

/** What LOG_LEVEL accepts (any case). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** LOG_LEVEL as pino's level; a value pino does not know is an error naming the accepted ones. */
export function logLevel (raw: string | undefined): string {
  if (raw === undefined || raw === '') return 'info'
  const level = raw.toLowerCase()
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; got \`${raw}\``)
  return level
}

/**
 * A terminal gets pino-pretty's coloured lines (loaded only then); anything else (a pipe, a file, Loki's collector)
 * gets JSON lines. The TTY is decided once, at start.
 */
async function terminalOrStdout (): Promise<pino.DestinationStream> {
  if (process.stdout.isTTY !== true) return bufferedStdout()
  const { default: pretty } = await import('pino-pretty')
  return pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service,tier,environment', singleLine: true })
}

/** The process logger on stdout: pretty on a terminal, JSON otherwise. */
export async function createProcessLogger (opts: Omit<LoggerOptions, 'destination'>): Promise<Logger> {
  return createLogger({ ...opts, destination: await terminalOrStdout() as unknown as NodeJS.WritableStream })
}

export function createLogger (opts: LoggerOptions): Logger {
  const env = opts.env ?? process.env
  const level = logLevel(opts.level)
  const dest = opts.destination as pino.DestinationStream | undefined ?? bufferedStdout()
  return pino({
    level,
    base: {
      service: opts.service,
      tier: nonEmpty(env.SIDECAR_TIER) ?? 'app',
      // Production deployments say so (compose sets SIDECAR_ENVIRONMENT); a laptop's quickstart is not production.
      environment: nonEmpty(env.SIDECAR_ENVIRONMENT) ?? nonEmpty(env.NODE_ENV) ?? 'development'
    },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: label => ({ level: label }) },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' }
  }, scrubbing(dest, opts.secrets ?? []))
}

/** Routes polled by infrastructure (probes, scrapes): logged at debug, not info. */
const QUIET_ROUTES = new Set(['/health', '/status', '/metrics'])

/**
 * One JSON line per finished request: info (error for 5xx and failed streams; debug for probes and scrapes), preceded by
 * a warning for every retry and fallback it took. `inference_id` and `trace_id` link the line to its ClickHouse row and trace.
 */
export function requestLogListener (parent: Logger): RequestListener {
  // These lines have a closed set of keys, none of them secret, so key-based redaction is switched off for them: with the
  // wildcard paths above, pino ran every top-level value through the redactor (~150–250 µs a line, a fifth of the
  // sidecar's CPU under load; bench/). Values are still scrubbed of secrets by the destination.
  const logger = parent.child({}, { redact: [] })
  return (log: RequestLog) => {
    const served = servedBy(log)
    const errorClass = requestErrorClass(log)
    const inference = log.inference
    forEachStep(log, (kind, from, to) => {
      logger.warn({
        route: log.route,
        inference_id: inference?.inferenceId,
        episode_id: inference?.episodeId,
        function: from.functionName,
        kind,
        from: { variant: from.variantName, model: from.modelName, provider: from.providerName },
        to: { variant: to.variantName, model: to.modelName, provider: to.providerName },
        error_class: from.outcome,
        error: from.message,
        trace_id: log.traceId
      }, kind === 'retry' ? 'retry' : `${kind} fallback`)
    })
    const line: Record<string, unknown> = {
      route: log.route,
      method: log.method,
      status: log.status,
      latency_ms: Math.round((performance.now() - log.started) * 10) / 10,
      ttft_ms: log.ttftMs === undefined ? undefined : Math.round(log.ttftMs * 10) / 10,
      inference_id: inference?.inferenceId,
      episode_id: inference?.episodeId,
      function: served.functionName,
      variant: served.variantName,
      model: served.modelName,
      provider: served.providerName,
      attempts: log.attempts?.length ?? 0,
      tokens: log.usage === undefined ? undefined : { input: log.usage.inputTokens, output: log.usage.outputTokens },
      error_class: errorClass,
      error: log.error?.message,
      passthrough: log.passthrough,
      trace_id: log.traceId,
      span_id: log.spanId
    }
    if (QUIET_ROUTES.has(log.route) && errorClass === undefined) logger.debug(line, 'request')
    else if (errorClass !== undefined && errorClass !== 'client_closed' && ((log.error?.status ?? 500) >= 500 || log.streamError === true)) logger.error(line, 'request')
    else logger.info(line, 'request')
  }
}
