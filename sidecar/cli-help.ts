// What `tz-sidecar --help` and `tz-sidecar <command> --help` print: every command, flag and environment variable the
// process reads, with defaults. A test compares the help with the variables the source reads, so none goes missing.
import { DEFAULT_LIMITS } from './http/limits.ts'
import { DEFAULT_BODY_LIMIT } from './http/body.ts'
import { DEFAULT_TRANSPORT_SETTINGS } from '../src/providers/http/transport.ts'
import { LOG_LEVELS } from './ops/logger.ts'

export type Command = 'serve' | 'validate' | 'migrate'

interface Variable { name: string; commands: Command[]; text: string }

const SERVE: Command[] = ['serve']
const VARIABLES: Variable[] = [
  { name: 'TENSORZERO_CLICKHOUSE_URL', commands: ['serve', 'migrate'], text: 'http(s)://user:password@host:port/database; unset: rows stay in the local spool' },
  { name: 'SIDECAR_BIND_ADDRESS', commands: SERVE, text: 'host:port to listen on, port 0–65535 (default 127.0.0.1:3031; --bind-address wins)' },
  { name: 'SIDECAR_SERVICE', commands: ['serve', 'validate'], text: 'service name for labels and the default spool, when the per-service file sets no `service` (default tz-sidecar)' },
  { name: 'SIDECAR_API_KEY', commands: SERVE, text: 'when set, clients must send `Authorization: Bearer <it>`' },
  { name: 'SIDECAR_SPOOL_DIR', commands: SERVE, text: 'the local spool folder, one sidecar each (default <tmpdir>/tz-sidecar-spool/<service>)' },
  { name: 'SIDECAR_SPOOL_MAX_BYTES', commands: SERVE, text: 'spool size before rows are dropped (default 536870912)' },
  { name: 'SIDECAR_MIGRATE', commands: SERVE, text: 'create missing ClickHouse tables at start: on|off (default on)' },
  { name: 'TENSORZERO_VALKEY_URL', commands: ['serve', 'validate'], text: 'redis://host:port of the Valkey holding `[rate_limiting]` buckets, shared with the gateway (used only when rules are enforced)' },
  { name: 'TENSORZERO_POSTGRES_URL', commands: ['serve', 'validate'], text: 'postgres://… holding `[rate_limiting]` buckets when no Valkey is set (or `backend = "postgres"`), and adaptive experiments\' episode → variant (`variant_by_episode`)' },
  { name: 'SIDECAR_RATE_LIMIT_TIMEOUT_MS', commands: SERVE, text: 'one round trip to the rate limiting store, past it the request is refused (default 1000)' },
  { name: 'SIDECAR_POSTGRES_TIMEOUT_MS', commands: SERVE, text: 'one round trip to Postgres (connect or query), past it the request fails (default SIDECAR_RATE_LIMIT_TIMEOUT_MS, else 1000)' },
  { name: 'SIDECAR_CACHE_LOOKUP_TIMEOUT_MS', commands: SERVE, text: 'one inference cache lookup (`tensorzero::cache_options`), past it a miss (default 20)' },
  { name: 'SIDECAR_CONFIG_WATCH', commands: SERVE, text: 'reload when a config file changes: on|off (default on; SIGHUP always reloads)' },
  { name: 'SIDECAR_TIER', commands: SERVE, text: '`tier` on every log line (default app)' },
  { name: 'SIDECAR_ENVIRONMENT', commands: SERVE, text: '`environment` on every log line (default NODE_ENV, else development)' },
  { name: 'NODE_ENV', commands: SERVE, text: '`environment` when SIDECAR_ENVIRONMENT is unset' },
  { name: 'LOG_LEVEL', commands: SERVE, text: `${LOG_LEVELS.join('|')} (default info)` },
  { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', commands: SERVE, text: 'OTLP/HTTP base URL; set: traces are exported' },
  { name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', commands: SERVE, text: 'OTLP/HTTP traces URL (wins over the base URL)' },
  { name: 'OTEL_SERVICE_NAME', commands: SERVE, text: '`service.name` of traces (default tz-sidecar)' },
  { name: 'OTEL_BSP_SCHEDULE_DELAY', commands: SERVE, text: 'ms between trace exports (default 5000)' },
  { name: 'SIDECAR_HEADERS_TIMEOUT_MS', commands: SERVE, text: `time to receive a request's headers (default ${DEFAULT_LIMITS.headersTimeoutMs})` },
  { name: 'SIDECAR_REQUEST_TIMEOUT_MS', commands: SERVE, text: `time to receive a whole request (default ${DEFAULT_LIMITS.requestTimeoutMs})` },
  { name: 'SIDECAR_KEEP_ALIVE_TIMEOUT_MS', commands: SERVE, text: `idle keep-alive connections close after (default ${DEFAULT_LIMITS.keepAliveTimeoutMs})` },
  { name: 'SIDECAR_MAX_CONNECTIONS', commands: SERVE, text: `open connections at most (default ${DEFAULT_LIMITS.maxConnections})` },
  { name: 'SIDECAR_MAX_IN_FLIGHT', commands: SERVE, text: `requests doing work at once, then 503 (default ${DEFAULT_LIMITS.maxInFlight})` },
  { name: 'SIDECAR_BODY_LIMIT_BYTES', commands: SERVE, text: `largest request body (default ${DEFAULT_BODY_LIMIT})` },
  { name: 'SIDECAR_DRAIN_TIMEOUT_MS', commands: SERVE, text: 'how long SIGTERM lets requests finish (default 30000)' },
  { name: 'SIDECAR_PROVIDER_CONNECTIONS', commands: SERVE, text: `connections per provider origin, at least 1 (default ${DEFAULT_TRANSPORT_SETTINGS.connectionsPerOrigin})` },
  { name: 'SIDECAR_PROVIDER_QUEUE_TIMEOUT_MS', commands: SERVE, text: `wait for a free provider connection (default ${DEFAULT_TRANSPORT_SETTINGS.queueTimeoutMs})` },
  { name: 'SIDECAR_PROVIDER_RESPONSE_LIMIT_BYTES', commands: SERVE, text: `largest provider answer (default ${DEFAULT_TRANSPORT_SETTINGS.responseLimitBytes})` }
]

const COMMANDS: Record<Command, { usage: string; what: string; flags: string[] }> = {
  serve: {
    usage: 'tz-sidecar [serve] --config-file <path|glob> [--sidecar-config <path>] [--bind-address <host:port>]',
    what: 'Serve the config: route OpenAI-shaped requests, log rows to ClickHouse through the spool. SIGHUP or a\n' +
      'changed config file reloads the config; SIGTERM/SIGINT drain and stop.',
    flags: [
      '--config-file <path|glob>   tensorzero.toml, or a glob of several files (required)',
      '--sidecar-config <path>     the per-service TOML (service, routes, unmatched policy)',
      '--bind-address <host:port>  where to listen (default SIDECAR_BIND_ADDRESS, else 127.0.0.1:3031)'
    ]
  },
  validate: {
    usage: 'tz-sidecar validate --config-file <path|glob> [--sidecar-config <path>]',
    what: 'Check the config without serving: exit 0, or exit 1 with one `file:line:col: message` line per problem.',
    flags: [
      '--config-file <path|glob>   tensorzero.toml, or a glob of several files (required)',
      '--sidecar-config <path>     the per-service TOML'
    ]
  },
  migrate: {
    usage: 'tz-sidecar migrate [--create-database]',
    what: 'Create the ClickHouse tables the sidecar writes, where missing (idempotent, never drops or alters).\n' +
      'A database TensorZero migrated keeps its schema; only the sidecar\'s read-only flat view is added.',
    flags: ['--create-database           create the database of TENSORZERO_CLICKHOUSE_URL if it does not exist (else refused)']
  }
}

const EXIT_CODES = 'Exit codes: 0 ok (serve: stopped with every request drained); 1 a bad config or setting, a start-up\n' +
  'failure, or a drain timeout that cut requests still in flight; 2 a usage error (unknown command or flag).'

function variablesOf (command: Command | undefined): string {
  const width = Math.max(...VARIABLES.map(v => v.name.length)) + 2
  return VARIABLES.filter(v => command === undefined || v.commands.includes(command))
    .map(v => `  ${v.name.padEnd(width)}${v.text}`).join('\n')
}

/** `tz-sidecar --help` (every command) or `tz-sidecar <command> --help`. */
export function helpText (command?: Command): string {
  if (command === undefined) {
    const commands = (Object.keys(COMMANDS) as Command[]).map(c => `  ${COMMANDS[c].usage}`).join('\n')
    return `Usage: tz-sidecar <command> [flags]   (\`tz-sidecar <command> --help\` for one command)\n${commands}\n` +
      '  tz-sidecar --version\n\n' +
      (Object.keys(COMMANDS) as Command[]).map(c => `${c}: ${COMMANDS[c].what}`).join('\n') +
      `\n\nEnvironment (numbers: 0 = no limit):\n${variablesOf(undefined)}\n\n${EXIT_CODES}\n`
  }
  const c = COMMANDS[command]
  return `Usage: ${c.usage}\n\n${c.what}\n\nFlags:\n${c.flags.map(f => `  ${f}`).join('\n')}\n  -h, --help                  this text\n\n` +
    `Environment (numbers: 0 = no limit):\n${variablesOf(command)}\n\n${EXIT_CODES}\n`
}
