// A `chat_completion` variant: turn the input into a model request (templates come in via `prepareModelRequest`),
// then call its model with retries and the variant's timeouts.
import type { FunctionConfig, VariantConfig, ModelConfig } from '../core/config.ts'
import type { ModelRequest, InferenceParams, ToolParams, Message } from '../core/types.ts'
import type { ChatRequest } from '../core/request.ts'
import { inferModel, streamModel } from '../model/route.ts'
import type { CallContext, ModelCallResult, ModelStream } from '../model/route.ts'
import { retryDelayMs, sleep } from '../core/backoff.ts'
import { deadline } from '../core/deadline.ts'
import { GatewayError } from '../core/errors.ts'
import { inSpan, endOnDispose } from '../core/tracing.ts'
import type { Attributes } from '@opentelemetry/api'
import { implicitToolParams } from '../function/json-output.ts'

/** Variant defaults, then the request's params (request wins), as TensorZero merges them. */
export function mergeParams (variant: VariantConfig, request: InferenceParams): InferenceParams {
  const merged: InferenceParams = {}
  if (variant.temperature !== undefined) merged.temperature = variant.temperature
  if (variant.maxTokens !== undefined) merged.max_tokens = variant.maxTokens
  if (variant.topP !== undefined) merged.top_p = variant.topP
  if (variant.seed !== undefined) merged.seed = variant.seed
  if (variant.presencePenalty !== undefined) merged.presence_penalty = variant.presencePenalty
  if (variant.frequencyPenalty !== undefined) merged.frequency_penalty = variant.frequencyPenalty
  if (variant.stopSequences !== undefined) merged.stop_sequences = variant.stopSequences
  if (variant.jsonMode !== undefined) merged.json_mode = variant.jsonMode
  for (const key of Object.keys(request) as Array<keyof InferenceParams>) {
    if (request[key] !== undefined) (merged as Record<string, unknown>)[key] = request[key]
  }
  return merged
}

/** Hook for template rendering (TensorZero functions with templates and schemas plug in here). */
export type MessagePreparer = (fn: FunctionConfig, variant: VariantConfig, req: ChatRequest) => { system?: string; messages: Message[] }

/** Without templates: system text as given, messages as given; template arguments need a template. */
export const plainMessages: MessagePreparer = (fn, variant, req) => {
  const system = req.input.system
  if (system !== undefined && typeof system !== 'string') {
    throw new GatewayError(400, `function \`${fn.name}\` variant \`${variant.name}\` has no system template, so the system message must be text`)
  }
  for (const message of req.input.messages) {
    for (const block of message.content) {
      if (block.type === 'template') {
        throw new GatewayError(400, `function \`${fn.name}\` variant \`${variant.name}\` has no ${message.role} template for template arguments`)
      }
    }
  }
  const messages = req.input.messages.map(m => m.content.some(b => b.type === 'raw_text')
    ? { role: m.role, content: m.content.map(b => b.type === 'raw_text' ? { type: 'text' as const, text: b.value } : b) }
    : m)
  return { system, messages }
}

export function buildModelRequest (fn: FunctionConfig, variant: VariantConfig, req: ChatRequest, toolParams: ToolParams | undefined,
  prepare: MessagePreparer): ModelRequest {
  const { system, messages } = prepare(fn, variant, req)
  const params = mergeParams(variant, req.params)
  if (fn.type === 'json' && params.json_mode === undefined) params.json_mode = 'on'
  if (fn.type === 'chat' && params.json_mode === undefined && req.responseFormat !== undefined && req.responseFormat !== 'text') {
    params.json_mode = req.responseFormat === 'json_schema' ? 'strict' : 'on'
  }
  const outputSchema = req.dynamicOutputSchema ?? fn.outputSchema?.schema
  // JSON functions offer no user tools; json_mode `tool` forces the implicit `respond` tool carrying the output schema.
  if (fn.type === 'json') toolParams = params.json_mode === 'tool' ? implicitToolParams(outputSchema) : undefined
  const extraBody = [
    ...(variant.extraBody ?? []),
    ...(req.extraBody ?? []).filter(p => p.variantName === undefined || p.variantName === variant.name)
  ]
  const extraHeaders = [
    ...(variant.extraHeaders ?? []),
    ...(req.extraHeaders ?? []).filter(h => h.variantName === undefined || h.variantName === variant.name)
  ]
  return {
    system,
    messages,
    toolParams,
    params,
    functionType: fn.type,
    outputSchema: fn.type === 'json' ? outputSchema : (req.responseFormat === 'json_schema' ? req.dynamicOutputSchema : undefined),
    stream: req.stream,
    extraBody: extraBody.length > 0 ? extraBody : undefined,
    extraHeaders: extraHeaders.length > 0 ? extraHeaders : undefined
  }
}

const variantAttributes = (variant: VariantConfig, ctx: CallContext, stream: boolean) => (): Attributes =>
  ({ function_name: ctx.functionName ?? '', variant_name: variant.name, stream })

/** A `variant_inference` span around all attempts of one variant. */
export async function inferVariant (model: ModelConfig, variant: VariantConfig, modelRequest: ModelRequest,
  ctx: CallContext): Promise<ModelCallResult> {
  return await inSpan('variant_inference', variantAttributes(variant, ctx, false), async () => await inferVariantUntraced(model, variant, modelRequest, ctx))
}

export async function streamVariant (model: ModelConfig, variant: VariantConfig, modelRequest: ModelRequest,
  ctx: CallContext): Promise<ModelStream> {
  return await inSpan('variant_inference', variantAttributes(variant, ctx, true), async () => await streamVariantUntraced(model, variant, modelRequest, ctx), endOnDispose)
}

/** Non-streaming: retry the whole model routing walk `num_retries` times with backoff, inside the variant timeout. */
async function inferVariantUntraced (model: ModelConfig, variant: VariantConfig, modelRequest: ModelRequest,
  ctx: CallContext): Promise<ModelCallResult> {
  const limit = deadline(ctx.signal, variant.timeouts.nonStreamingTotalMs, `variant \`${variant.name}\``)
  const inner: CallContext = { ...ctx, signal: limit.signal, variantName: variant.name }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        return await inferModel(model, modelRequest, attempt === 0 ? inner : { ...inner, retryIndex: attempt })
      } catch (err) {
        if (limit.signal.aborted) throw limit.signal.reason
        if (attempt >= variant.retries.numRetries) throw err
        await sleep(retryDelayMs(attempt, variant.retries), limit.signal)
      }
    }
  } catch (err) {
    throw limit.signal.aborted ? limit.signal.reason : err
  } finally {
    limit.clear()
  }
}

/** Streaming: retries and fallback only until the first chunk; the variant's ttft/total limits wrap the stream. */
async function streamVariantUntraced (model: ModelConfig, variant: VariantConfig, modelRequest: ModelRequest,
  ctx: CallContext): Promise<ModelStream> {
  const total = deadline(ctx.signal, variant.timeouts.streamingTotalMs, `variant \`${variant.name}\` stream`)
  const ttft = deadline(total.signal, variant.timeouts.streamingTtftMs, `variant \`${variant.name}\` time to first token`)
  const inner: CallContext = { ...ctx, signal: ttft.signal, variantName: variant.name }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const stream = await streamModel(model, modelRequest, attempt === 0 ? inner : { ...inner, retryIndex: attempt })
        ttft.stopTimer()
        const innerDispose = stream.dispose
        stream.dispose = () => { innerDispose(); ttft.clear(); total.clear() }
        return stream
      } catch (err) {
        if (ttft.signal.aborted) throw ttft.signal.reason
        if (attempt >= variant.retries.numRetries) throw err
        await sleep(retryDelayMs(attempt, variant.retries), ttft.signal)
      }
    }
  } catch (err) {
    ttft.clear(); total.clear()
    throw ttft.signal.aborted ? ttft.signal.reason : err
  }
}
