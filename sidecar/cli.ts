// `tz-sidecar [serve] | validate | migrate`: serve the config, check it without serving, or create the ClickHouse tables.
import { parseArgs } from 'node:util'
import { validateConfigFiles } from '../src/config/load.ts'
import { checkTemplates } from '../src/variant/templates/check.ts'
import { formatDiagnostic } from '../src/config/diagnostics.ts'
import { startSidecar } from './start.ts'

const USAGE = `Usage:
  tz-sidecar [serve] --config-file <path|glob> [--sidecar-config <path>] [--bind-address <host:port>]
  tz-sidecar validate --config-file <path|glob> [--sidecar-config <path>]
  tz-sidecar migrate

Environment: TENSORZERO_CLICKHOUSE_URL, SIDECAR_BIND_ADDRESS, SIDECAR_SERVICE, SIDECAR_SPOOL_DIR,
SIDECAR_API_KEY, OTEL_EXPORTER_OTLP_ENDPOINT, LOG_LEVEL
Limits (0 = none): SIDECAR_HEADERS_TIMEOUT_MS, SIDECAR_REQUEST_TIMEOUT_MS, SIDECAR_KEEP_ALIVE_TIMEOUT_MS,
SIDECAR_MAX_CONNECTIONS, SIDECAR_MAX_IN_FLIGHT, SIDECAR_BODY_LIMIT_BYTES, SIDECAR_DRAIN_TIMEOUT_MS

Exit codes: 0 ok (serve: stopped with every request drained); 1 a bad config, a start-up failure, or a drain
timeout that cut requests still in flight; 2 a usage error.`

interface Flags { configFile?: string; sidecarConfig?: string; bindAddress?: string; help: boolean }

function parse (argv: string[]): { command: string; flags: Flags } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'config-file': { type: 'string' },
      'sidecar-config': { type: 'string' },
      'bind-address': { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  const command = positionals[0] ?? 'serve'
  if (positionals.length > 1) throw new Error(`unexpected argument \`${positionals[1]}\``)
  return {
    command,
    flags: { configFile: values['config-file'], sidecarConfig: values['sidecar-config'], bindAddress: values['bind-address'], help: values.help === true }
  }
}

async function validate (flags: Flags): Promise<number> {
  if (flags.configFile === undefined) { process.stderr.write('validate needs --config-file\n' + USAGE + '\n'); return 2 }
  const result = await validateConfigFiles({ configFile: flags.configFile, sidecarConfig: flags.sidecarConfig, checkTemplates })
  for (const d of result.diagnostics) process.stderr.write(formatDiagnostic(d, process.cwd()) + '\n')
  if (result.config === undefined) return 1
  const tz = result.config.tensorzero
  process.stdout.write(`config is valid: ${tz.functions.size} functions, ${tz.models.size} models, ${tz.embeddingModels.size} embedding models, ` +
    `${tz.metrics.size} metrics, ${result.config.sidecar.exactRoutes.size + result.config.sidecar.globRoutes.length} routes\n`)
  return 0
}

async function migrate (): Promise<number> {
  const url = process.env.TENSORZERO_CLICKHOUSE_URL
  if (url === undefined || url === '') { process.stderr.write('migrate needs TENSORZERO_CLICKHOUSE_URL\n'); return 2 }
  const { runMigrate } = await import('../src/store/migrate.ts')
  const { redactUrl } = await import('../src/store/client.ts')
  try {
    const report = await runMigrate({ url })
    process.stdout.write(JSON.stringify(report) + '\n')
    return 0
  } catch (err) {
    process.stderr.write(`migrate failed against ${redactUrl(url)}: ${(err as Error).message}\n`)
    return 1
  }
}

async function main (): Promise<void> {
  let parsed
  try {
    parsed = parse(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`)
    process.exit(2)
  }
  const { command, flags } = parsed
  if (flags.help) { process.stdout.write(USAGE + '\n'); return }
  switch (command) {
    case 'serve':
      if (flags.configFile === undefined) { process.stderr.write('serve needs --config-file\n' + USAGE + '\n'); process.exit(2) }
      await startSidecar({ configFile: flags.configFile, sidecarConfig: flags.sidecarConfig, bindAddress: flags.bindAddress })
      return
    case 'validate':
      process.exitCode = await validate(flags)
      return
    case 'migrate':
      process.exitCode = await migrate()
      return
    default:
      process.stderr.write(`unknown command \`${command}\`\n${USAGE}\n`)
      process.exit(2)
  }
}

try {
  await main()
} catch (err) {
  // Start-up failures (a port in use, an unusable spool directory, a bad bind address) as one line, not a stack.
  const e = err as NodeJS.ErrnoException
  process.stderr.write(`tz-sidecar: ${e.code !== undefined && !e.message.includes(e.code) ? `${e.code} ` : ''}${e.message}\n`)
  process.exit(1)
}
