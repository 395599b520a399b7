// Function inference: choose variants (pinned, or sampled without replacement per episode), run each until one
// succeeds, and describe the result. Observers hear of each success once it is complete (streams: at their end).
import { v7 as uuidv7 } from 'uuid'
import type { FunctionConfig, VariantConfig, TensorZeroConfig } from '../config/types.ts'
import type { OutputBlock, StreamDelta, Usage, FinishReason, ToolParams, ToolDefinition, ModelRequest } from './types.ts'
import type { ChatRequest } from './request.ts'
import type { InferenceObserver, InferenceRecord, ModelInferenceRecord } from '../observability/types.ts'
import type { Transport } from '../providers/transport.ts'
import type { TargetResolver } from '../resolve/target.ts'
import { episodeDraw, samplingPlan, variantOrder } from '../routing/sampling.ts'
import { buildModelRequest, inferVariant, streamVariant, plainMessages } from './variant.ts'
import type { MessagePreparer } from './variant.ts'
import type { CallContext } from './model.ts'
import { VariantsFailed } from './errors.ts'
import { StreamCollector } from './stream-collector.ts'
import { GatewayError } from '../errors.ts'
import { defaultFunctionFor } from './default-function.ts'

export interface GatewayContext {
  config: TensorZeroConfig
  resolver: TargetResolver
  transport: Transport
  env: NodeJS.ProcessEnv
  observer?: InferenceObserver
  prepareMessages?: MessagePreparer
}

export interface InferenceMeta {
  inferenceId: string
  episodeId: string
  functionName: string
  variantName: string
  modelName: string
  providerName: string
  /** The `model` string TensorZero answers with. */
  responseModel: string
}

export interface CompletedInference extends InferenceMeta {
  kind: 'complete'
  output: OutputBlock[]
  usage: Usage
  finishReason?: FinishReason
}

export interface StreamingInference extends InferenceMeta {
  kind: 'stream'
  /** Deltas in order, starting with the first. Ends normally, or throws mid-stream (report it in-stream). */
  deltas: AsyncGenerator<StreamDelta>
  /** Filled while `deltas` is consumed: usage and finish reason for the final chunk. */
  collector: StreamCollector
}

export async function runChat (gw: GatewayContext, req: ChatRequest, signal: AbortSignal): Promise<CompletedInference | StreamingInference> {
  const started = performance.now()
  const { fn, pinned } = functionFor(gw, req)
  const episodeId = req.episodeId ?? uuidv7()
  const inferenceId = uuidv7()
  const toolParams = toolParamsFor(gw.config, fn, req)
  const ctx: CallContext = { transport: gw.transport, env: gw.env, credentials: req.credentials, signal, observer: gw.observer, functionName: fn.name }
  const order = pinned !== undefined ? [pinned] : variantOrder(samplingPlan(fn), episodeDraw(fn.name, episodeId))
  const errors: Array<{ variant: string; error: Error }> = []

  for (const variantName of order) {
    const variant = fn.variants.get(variantName) as VariantConfig
    try {
      if (!variant.served) {
        throw new GatewayError(501, `variant type \`${variant.type}\` is not served by tz-sidecar; configure a \`chat_completion\` variant to fall back to`)
      }
      const model = variant.model === undefined ? undefined : gw.resolver.model(variant.model)
      if (model === undefined) throw new GatewayError(500, `variant \`${variantName}\` names unknown model \`${variant.model ?? ''}\``)
      const modelRequest = buildModelRequest(fn, variant, req, toolParams, gw.prepareMessages ?? plainMessages)
      const meta = { inferenceId, episodeId, functionName: fn.name, variantName, responseModel: responseModelFor(req, fn, variantName) }
      if (req.stream) {
        const stream = await streamVariant(model, variant, modelRequest, ctx)
        const collector = new StreamCollector()
        const finish = (modelRecord: ModelInferenceRecord): void => {
          if (!req.dryrun) emit(gw, recordFor(req, fn, meta, modelRequest, modelRecord, collector.output(), collector.finishReason, started, modelRecord.ttftMs))
        }
        return {
          kind: 'stream',
          ...meta,
          modelName: variant.model as string,
          providerName: stream.providerName,
          collector,
          deltas: streamDeltas(stream, collector, finish)
        }
      }
      const { response, record } = await inferVariant(model, variant, modelRequest, ctx)
      if (!req.dryrun) emit(gw, recordFor(req, fn, meta, modelRequest, record, response.output, response.finishReason, started))
      return {
        kind: 'complete',
        ...meta,
        modelName: variant.model as string,
        providerName: record.providerName,
        output: response.output,
        usage: response.usage,
        finishReason: response.finishReason
      }
    } catch (err) {
      if (signal.aborted) throw signal.reason
      if (pinned !== undefined) throw err
      errors.push({ variant: variantName, error: err instanceof Error ? err : new Error(String(err)) })
    }
  }
  throw new VariantsFailed(fn.name, errors)
}

async function * streamDeltas (stream: import('./model.ts').ModelStream, collector: StreamCollector,
  finish: (record: ModelInferenceRecord) => void): AsyncGenerator<StreamDelta> {
  try {
    collector.add(stream.first)
    yield stream.first
    for (;;) {
      const next = await stream.rest.next()
      if (next.done === true) break
      collector.add(next.value)
      yield next.value
    }
    finish(stream.finish(collector))
  } finally {
    stream.dispose()
    await stream.rest.return?.()
  }
}

function functionFor (gw: GatewayContext, req: ChatRequest): { fn: FunctionConfig; pinned?: string } {
  if (req.target.kind === 'model') {
    if (req.variantName !== undefined) throw new GatewayError(400, 'Inference requests with a `model_name` target cannot pin a variant (`tensorzero::variant_name`)')
    const model = gw.resolver.model(req.target.modelName)
    if (model === undefined) throw new GatewayError(404, `Unknown model: ${req.target.modelName}`)
    const fn = defaultFunctionFor(model)
    return { fn, pinned: req.target.modelName }
  }
  const fn = gw.config.functions.get(req.target.functionName)
  if (fn === undefined) throw new GatewayError(404, `Unknown function: ${req.target.functionName}`)
  const pinned = req.variantName ?? req.target.variantName
  if (pinned !== undefined && !fn.variants.has(pinned)) throw new GatewayError(404, `Unknown variant: ${pinned}`)
  return { fn, pinned }
}

function responseModelFor (req: ChatRequest, fn: FunctionConfig, variantName: string): string {
  if (req.target.kind === 'model') return `tensorzero::model_name::${req.target.modelName}`
  return `tensorzero::function_name::${fn.name}::variant_name::${variantName}`
}

function toolParamsFor (config: TensorZeroConfig, fn: FunctionConfig, req: ChatRequest): ToolParams | undefined {
  const tools: ToolDefinition[] = []
  for (const name of fn.tools) {
    const tool = config.tools.get(name)
    if (tool !== undefined) tools.push({ name: tool.wireName, description: tool.description, parameters: tool.parameters.schema, strict: tool.strict })
  }
  tools.push(...req.dynamicTools)
  if (tools.length === 0) return undefined
  return {
    tools,
    toolChoice: req.toolChoice ?? fn.toolChoice,
    parallelToolCalls: req.parallelToolCalls ?? fn.parallelToolCalls
  }
}

function emit (gw: GatewayContext, record: InferenceRecord): void {
  try {
    gw.observer?.onInference?.(record)
  } catch {
    // An observer failure must never fail an inference that succeeded; observers report their own trouble.
  }
}

function recordFor (req: ChatRequest, fn: FunctionConfig, meta: { inferenceId: string; episodeId: string; variantName: string },
  modelRequest: ModelRequest, modelRecord: ModelInferenceRecord, output: OutputBlock[], finishReason: FinishReason | undefined,
  started: number, ttftMs?: number): InferenceRecord {
  const record: InferenceRecord = {
    inferenceId: meta.inferenceId,
    episodeId: meta.episodeId,
    functionName: fn.name,
    functionType: fn.type,
    variantName: meta.variantName,
    input: req.input,
    output,
    toolParams: modelRequest.toolParams,
    inferenceParams: modelRequest.params,
    processingTimeMs: Math.round(performance.now() - started),
    ttftMs,
    tags: req.tags,
    extraBody: req.extraBody,
    finishReason,
    modelInferences: [modelRecord],
    stream: req.stream
  }
  if (fn.type === 'json') {
    const raw = output.filter(b => b.type === 'text').map(b => (b as { text: string }).text).join('')
    record.jsonOutput = { raw, parsed: parseJsonOrNull(raw) }
    record.outputSchema = modelRequest.outputSchema
  }
  return record
}

function parseJsonOrNull (raw: string): unknown {
  try { return JSON.parse(raw) } catch { return null }
}
