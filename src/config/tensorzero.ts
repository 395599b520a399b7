// From the merged tensorzero.toml tree to a TensorZeroConfig. Sections are read in dependency order:
// tools before functions (functions name tools), models before functions (variants may add shorthand models).
import { addEvaluatorMetrics } from './evaluations.ts'
import { readFunctions } from './functions.ts'
import { readGateway } from './gateway.ts'
import { readMetrics } from './metrics.ts'
import { readModels } from './models.ts'
import { readRateLimiting } from './rate-limiting.ts'
import { TableReader, type LoadContext } from './reader.ts'
import { readTools } from './tools.ts'
import type { TensorZeroConfig } from '../core/config.ts'

const SECTIONS = ['gateway', 'models', 'embedding_models', 'functions', 'metrics', 'tools', 'rate_limiting', 'evaluations']
/** TensorZero sections the sidecar has no use for: accepted silently so one file serves both. */
const IGNORED_SECTIONS = new Set([
  'object_storage', 'optimizers', 'provider_types', 'postgres', 'clickhouse',
  'autopilot', 'namespaces',
])

export function buildTensorZeroConfig (ctx: LoadContext): TensorZeroConfig {
  const root = new TableReader(ctx, ctx.toml.data, [])
  root.checkKeys(SECTIONS, (key) => IGNORED_SECTIONS.has(key) ? 'ok' : 'warn')

  const models = readModels(root.sub('models'), ctx)
  const embeddingModels = readModels(root.sub('embedding_models'), ctx, 'embedding_model')
  const toolsSection = root.sub('tools')
  const tools = readTools(toolsSection, ctx)
  const metrics = readMetrics(root.sub('metrics'), ctx)
  const functions = readFunctions(root.sub('functions'), ctx, {
    models,
    embeddingModels,
    metrics,
    toolNames: new Set(toolsSection ? Object.keys(toolsSection.table) : []),
  })
  addEvaluatorMetrics(root, functions, metrics)
  return {
    files: ctx.toml.files,
    gateway: readGateway(root.sub('gateway')),
    models,
    embeddingModels,
    functions,
    metrics,
    tools,
    rateLimiting: readRateLimiting(root.sub('rate_limiting'), ctx),
  }
}
