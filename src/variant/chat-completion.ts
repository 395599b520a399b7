// A `chat_completion` variant: render the input through the variant's templates into a model request, then call
// its model with retries inside the variant's timeouts.
import type { FunctionConfig, VariantConfig, ModelConfig } from '../core/config.ts'
import type { ModelRequest, InferenceParams, ToolParams, JsonMode, Message } from '../core/types.ts'
import type { ChatRequest } from '../core/request.ts'
import { inferModel, streamModel } from '../model/route.ts'
import type { CallContext } from '../model/route.ts'
import type { ModelCallResult, ModelStream } from '../model/results.ts'
import { retryDelayMs, sleep } from '../core/backoff.ts'
import { deadline } from '../core/deadline.ts'
import { ModelProvidersFailed, ProviderError, failedRawResponsesOf, type FailedRawResponse } from '../core/errors.ts'
import { RateLimitExceeded } from '../core/rate-limiting.ts'
import { traced, endOnDispose } from '../core/tracing.ts'
import type { TemplateRenderer } from './templates/prepare.ts'
import type { Span } from '@opentelemetry/api'

/** What the function decided for one request: the same whichever of its variants runs it. */
export interface FunctionDecisions {
  /** The tools offered (JSON functions offer none of their own). */
  toolParams?: ToolParams
  /** JSON functions: the implicit tool carrying the output schema, offered instead when the variant's json_mode is `tool`. */
  jsonModeTool?: ToolParams
  /** json_mode when neither the variant nor the request sets one. */
  defaultJsonMode?: JsonMode
  /** The schema the output must satisfy (JSON functions, and chat functions asked for `json_schema`). */
  outputSchema?: Record<string, unknown>
}

const IMPLICIT_TOOL_NAME = 'respond'
const IMPLICIT_TOOL_DESCRIPTION = 'Respond to the user using the output schema provided.'
// Keyed by schema object: a function's own output schema gets one implicit tool for the life of its config.
const implicitTools = new WeakMap<Record<string, unknown>, ToolParams>()

/** json_mode `tool`: one tool carrying the output schema, and the model forced to call it. */
export function implicitToolParams (outputSchema: Record<string, unknown>): ToolParams {
  let params = implicitTools.get(outputSchema)
  if (params === undefined) {
    params = {
      tools: [{ name: IMPLICIT_TOOL_NAME, description: IMPLICIT_TOOL_DESCRIPTION, parameters: outputSchema, strict: false }],
      toolChoice: { specific: IMPLICIT_TOOL_NAME },
      implicit: true
    }
    implicitTools.set(outputSchema, params)
  }
  return params
}

export function buildModelRequest (fn: FunctionConfig, variant: VariantConfig, req: ChatRequest, decisions: FunctionDecisions,
  templates: TemplateRenderer): ModelRequest {
  const { system, messages } = templates.render(fn, variant, req.input)
  return modelRequestFor(fn, variant, req, decisions, system, messages)
}

/** The model request for already rendered `system` and `messages`: the variant's and the request's parameters merged. */
export function modelRequestFor (fn: FunctionConfig, variant: VariantConfig, req: ChatRequest, decisions: FunctionDecisions,
  system: string | undefined, messages: Message[]): ModelRequest {
  // Variant defaults, then the request's (request wins), as TensorZero merges them.
  const params: InferenceParams = { ...variant.params, ...req.params }
  if (params.json_mode === undefined && decisions.defaultJsonMode !== undefined) params.json_mode = decisions.defaultJsonMode
  return {
    system,
    messages,
    toolParams: params.json_mode === 'tool' && decisions.jsonModeTool !== undefined ? decisions.jsonModeTool : decisions.toolParams,
    params,
    functionType: fn.type,
    outputSchema: decisions.outputSchema,
    stream: req.stream,
    variantExtraBody: variant.extraBody,
    variantExtraHeaders: variant.extraHeaders,
    extraBody: req.extraBody,
    extraHeaders: req.extraHeaders
  }
}

type VariantCall<R> = (model: ModelConfig, variant: VariantConfig, modelRequest: ModelRequest, ctx: CallContext) => Promise<R>

/** A `variant_inference` span around all attempts of one variant (a stream's span ends when the stream is disposed). */
function tracedVariant<R> (stream: boolean, call: VariantCall<R>, handOff?: (result: R, span: Span) => boolean): VariantCall<R> {
  return traced('variant_inference', (_model, variant, _request, ctx) =>
    ({ function_name: ctx.functionName ?? '', variant_name: variant.name, stream }), call, handOff)
}

/**
 * Tries `call` once, then up to `num_retries` more times with backoff, until it succeeds or `signal` aborts. A walk
 * whose every provider was skipped by an open circuit is not retried: the circuits stay open for their cool-down; nor
 * one whose every provider was refused by `[rate_limiting]` (TensorZero does not retry a rate limit it enforces).
 */
async function withRetries<R> (variant: VariantConfig, signal: AbortSignal, call: (retryIndex: number) => Promise<R>,
  afterFailures: (result: R, failed: FailedRawResponse[]) => void): Promise<R> {
  // The failed tries' raw answers (kept only with `include_raw_response`), reported before the answering try's own;
  // created by the first failed try that has some.
  let failed: FailedRawResponse[] | undefined
  for (let attempt = 0; ; attempt++) {
    let result: R
    try {
      result = await call(attempt)
    } catch (err) {
      if (signal.aborted) throw signal.reason
      const last = attempt >= variant.retries.numRetries || (err instanceof ModelProvidersFailed && (err.allCircuitsOpen || allRefused(err)))
      if (last && err instanceof ModelProvidersFailed && failed !== undefined) err.failedRawResponses.unshift(...failed)
      if (last) throw err
      const raw = failedRawResponsesOf(err)
      if (raw.length > 0) (failed ??= []).push(...raw)
      await sleep(Math.min((err as { retryAfterMs?: number }).retryAfterMs ?? retryDelayMs(attempt, variant.retries), variant.retries.maxDelayS * 1000), signal)
      continue
    }
    if (failed !== undefined) afterFailures(result, failed)
    return result
  }
}

function allRefused (err: ModelProvidersFailed): boolean {
  return err.errors.some(e => e.error instanceof RateLimitExceeded) &&
    err.errors.every(e => e.error instanceof RateLimitExceeded || (e.error instanceof ProviderError && e.error.errorClass === 'circuit_open'))
}

// The earlier tries' raw answers go before those of the walk that answered.
const answerAfterFailures = (result: ModelCallResult, failed: FailedRawResponse[]): void => {
  result.record.failedRawResponses = [...failed, ...result.record.failedRawResponses ?? []]
}
const streamAfterFailures = (stream: ModelStream, failed: FailedRawResponse[]): void => {
  stream.failedRawResponses = [...failed, ...stream.failedRawResponses ?? []]
}

/** Non-streaming: the whole model routing walk is retried, inside the variant's total timeout. */
export const inferVariant = tracedVariant(false, async (model, variant, modelRequest, ctx): Promise<ModelCallResult> => {
  const limit = deadline(ctx.signal, variant.timeouts.nonStreamingTotalMs, `variant \`${variant.name}\``)
  const inner: CallContext = { ...ctx, signal: limit.signal, variantName: variant.name }
  try {
    return await withRetries(variant, limit.signal, retryIndex =>
      inferModel(model, modelRequest, retryIndex === 0 ? inner : { ...inner, retryIndex }),
    answerAfterFailures)
  } catch (err) {
    throw limit.signal.aborted ? limit.signal.reason : err
  } finally {
    limit.clear()
  }
})

/** Streaming: retries and fallback only until the first chunk; the variant's ttft/total limits wrap the stream. */
export const streamVariant = tracedVariant(true, async (model, variant, modelRequest, ctx): Promise<ModelStream> => {
  const total = deadline(ctx.signal, variant.timeouts.streamingTotalMs, `variant \`${variant.name}\` stream`)
  const ttft = deadline(total.signal, variant.timeouts.streamingTtftMs, `variant \`${variant.name}\` time to first token`)
  const inner: CallContext = { ...ctx, signal: ttft.signal, variantName: variant.name }
  try {
    const stream = await withRetries(variant, ttft.signal, retryIndex =>
      streamModel(model, modelRequest, retryIndex === 0 ? inner : { ...inner, retryIndex }),
    streamAfterFailures)
    ttft.stopTimer()
    const innerDispose = stream.dispose
    stream.dispose = () => { innerDispose(); ttft.clear(); total.clear() }
    return stream
  } catch (err) {
    ttft.clear(); total.clear()
    throw ttft.signal.aborted ? ttft.signal.reason : err
  }
}, endOnDispose)
