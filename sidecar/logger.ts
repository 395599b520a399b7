// JSON logs on stdout (Loki-ready): static labels, and redaction so keys and Authorization headers never appear.
import pino from 'pino'
import type { Logger } from 'pino'

export type { Logger }

export interface LoggerOptions {
  service: string
  level?: string
  destination?: NodeJS.WritableStream
}

export const REDACTED_PATHS = [
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
  'apiKey', '*.apiKey', 'api_key', '*.api_key', 'credentials', '*.credentials', '*["tensorzero::credentials"]'
]

export function createLogger (opts: LoggerOptions): Logger {
  return pino({
    level: opts.level ?? 'info',
    base: {
      service: opts.service,
      tier: process.env.SIDECAR_TIER ?? 'llm-sidecar',
      environment: process.env.SIDECAR_ENVIRONMENT ?? process.env.NODE_ENV ?? 'development'
    },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: label => ({ level: label }) },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' }
  }, opts.destination as pino.DestinationStream | undefined ?? pino.destination({ sync: false }))
}
