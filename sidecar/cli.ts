// `tz-sidecar [serve] | validate | migrate`: serve the config, check it without serving, or create the ClickHouse tables.
import { parseArgs } from 'node:util'
import { createRequire } from 'node:module'
import { validateConfigFiles } from '../src/config/load.ts'
import { checkTemplates } from '../src/variant/templates/check.ts'
import { formatDiagnostic } from '../src/config/diagnostics.ts'
import { startSidecar } from './start.ts'
import { helpText } from './cli-help.ts'
import type { Command } from './cli-help.ts'

interface Flags { configFile?: string; sidecarConfig?: string; bindAddress?: string; createDatabase: boolean; help: boolean; version: boolean }

const COMMANDS = new Set<string>(['serve', 'validate', 'migrate'])

class UsageError extends Error {}

function parse (argv: string[]): { command: Command; flags: Flags } {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'config-file': { type: 'string' },
        'sidecar-config': { type: 'string' },
        'bind-address': { type: 'string' },
        'create-database': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' }
      }
    })
  } catch (err) {
    // parseArgs explains `--` at length: its first sentence is the point.
    throw new UsageError((err as Error).message.split(/\. (?=[A-Z])/)[0])
  }
  const { values, positionals } = parsed
  const command = positionals[0] ?? 'serve'
  if (!COMMANDS.has(command)) throw new UsageError(`unknown command \`${command}\``)
  if (positionals.length > 1) throw new UsageError(`unexpected argument \`${positionals[1]}\``)
  return {
    command: command as Command,
    flags: {
      configFile: values['config-file'],
      sidecarConfig: values['sidecar-config'],
      bindAddress: values['bind-address'],
      createDatabase: values['create-database'] === true,
      help: values.help === true,
      version: values.version === true
    }
  }
}

function usageError (message: string, command?: Command): never {
  process.stderr.write(`tz-sidecar: ${message}\n\n${helpText(command)}`)
  process.exit(2)
}

async function validate (flags: Flags): Promise<number> {
  if (flags.configFile === undefined) usageError('validate needs --config-file', 'validate')
  const result = await validateConfigFiles({ configFile: flags.configFile, sidecarConfig: flags.sidecarConfig, checkTemplates })
  for (const d of result.diagnostics) process.stderr.write(formatDiagnostic(d, process.cwd()) + '\n')
  if (result.config === undefined) return 1
  const tz = result.config.tensorzero
  process.stdout.write(`config is valid: ${tz.functions.size} functions, ${tz.models.size} models, ${tz.embeddingModels.size} embedding models, ` +
    `${tz.metrics.size} metrics, ${result.config.sidecar.exactRoutes.size + result.config.sidecar.globRoutes.length} routes\n`)
  return 0
}

async function migrate (flags: Flags): Promise<number> {
  const url = process.env.TENSORZERO_CLICKHOUSE_URL
  if (url === undefined || url === '') { process.stderr.write('migrate needs TENSORZERO_CLICKHOUSE_URL\n'); return 2 }
  const { runMigrate } = await import('../src/store/migrate.ts')
  const { redactUrl } = await import('../src/store/client.ts')
  try {
    const report = await runMigrate({ url, createDatabase: flags.createDatabase })
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
    if (err instanceof UsageError) usageError(err.message)
    throw err
  }
  const { command, flags } = parsed
  if (flags.version) { process.stdout.write(`${packageVersion()}\n`); return }
  if (flags.help) { process.stdout.write(helpText(process.argv.slice(2).some(a => COMMANDS.has(a)) ? command : undefined)); return }
  switch (command) {
    case 'serve':
      if (flags.configFile === undefined) usageError('serve needs --config-file', 'serve')
      await startSidecar({ configFile: flags.configFile, sidecarConfig: flags.sidecarConfig, bindAddress: flags.bindAddress })
      return
    case 'validate':
      process.exitCode = await validate(flags)
      return
    case 'migrate':
      process.exitCode = await migrate(flags)
  }
}

function packageVersion (): string {
  return (createRequire(import.meta.url)('tz-sidecar/package.json') as { version: string }).version
}

try {
  await main()
} catch (err) {
  // Start-up failures (a port in use, an unusable spool directory, a bad bind address) as one line, not a stack.
  const e = err as NodeJS.ErrnoException
  process.stderr.write(`tz-sidecar: ${e.code !== undefined && !e.message.includes(e.code) ? `${e.code} ` : ''}${e.message}\n`)
  process.exit(1)
}
