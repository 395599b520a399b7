// How each variant type answers: one row per type, non-streaming and streaming. Every type answers with a
// VariantAnswer (or, streaming, a model stream to forward), which run.ts turns into the response and the rows.
// Inference-time types run under their own variant timeouts and run their candidates through this same table.
import type { FunctionConfig, VariantConfig } from '../core/config.ts'
import type { ModelRequest, ProviderResponse } from '../core/types.ts'
import type { ChatRequest } from '../core/request.ts'
import type { ModelInferenceRecord } from '../core/records.ts'
import { deadline } from '../core/deadline.ts'
import { traced } from '../core/tracing.ts'
import type { CallContext } from '../model/route.ts'
import { buildModelRequest, inferVariant, streamVariant, type FunctionDecisions } from '../variant/chat-completion.ts'
import type { InferenceTimeRun, StreamedAnswer, VariantAnswer } from '../variant/candidates.ts'
import { bestOfN } from '../variant/best-of-n.ts'
import { mixtureOfN, mixtureOfNStream } from '../variant/mixture-of-n.ts'
import { chainOfThought, chainOfThoughtStream } from '../variant/chain-of-thought.ts'
import { prepareDicl, type DiclDeps } from '../variant/dicl.ts'
import type { DiclExampleReads } from '../core/stored-data.ts'
import type { TemplateRenderer } from '../variant/templates/prepare.ts'
import type { TargetResolver } from './resolve.ts'
import { isToolMode, jsonFinishReason, jsonOutputBlocks, jsonOutputRecord, rawJsonText } from './json-output.ts'
import { checkedToolCall, toolsAvailable } from './tools.ts'

/** One request of a function, whichever of its variants runs it. */
export interface FunctionRun {
  fn: FunctionConfig
  req: ChatRequest
  decisions: FunctionDecisions
  templates: TemplateRenderer
  resolver: TargetResolver
  /** Stored DICL examples (absent: no ClickHouse, so DICL variants find none). */
  diclExamples?: DiclExampleReads
}

export interface VariantRunner {
  answer (run: FunctionRun, variant: VariantConfig, ctx: CallContext): Promise<VariantAnswer>
  stream (run: FunctionRun, variant: VariantConfig, ctx: CallContext): Promise<StreamedAnswer>
}

type InferenceTimeCall<R> = (variant: VariantConfig, run: InferenceTimeRun) => Promise<R>

const VARIANT_RUNNERS: Readonly<Record<string, VariantRunner>> = {
  chat_completion: {
    answer: async (run, variant, ctx) => await answerRequest(run, variant, buildModelRequest(run.fn, variant, run.req, run.decisions, run.templates), ctx),
    stream: async (run, variant, ctx) => {
      const request = buildModelRequest(run.fn, variant, run.req, run.decisions, run.templates)
      const stream = await streamVariant(run.resolver.variantModel(variant), variant, request, ctx)
      return { kind: 'stream', stream, request, modelName: variant.model as string, inferenceParams: request.params, earlier: [] }
    }
  },
  experimental_best_of_n_sampling: inferenceTime(bestOfN, async (variant, run) => ({ kind: 'answer', answer: await bestOfN(variant, run) })),
  experimental_mixture_of_n: inferenceTime(mixtureOfN, mixtureOfNStream),
  // The embedding call and the example lookup come first; then a chat_completion call with the examples as turns.
  // The variant's timeouts cover all three (the model call's own copy of them starts later, so this one fires first).
  experimental_dynamic_in_context_learning: withinVariantTimeouts({
    answer: async (run, variant, ctx) => {
      const { modelRequest, embeddingRecord } = await prepareDicl(diclDeps(run), run.fn, variant, run.req, run.decisions, ctx)
      const { response, record } = await inferVariant(run.resolver.variantModel(variant), variant, modelRequest, ctx)
      return modelAnswer(run.fn, modelRequest, response, [record, embeddingRecord], variant.model as string)
    },
    stream: async (run, variant, ctx) => {
      const { modelRequest, embeddingRecord } = await prepareDicl(diclDeps(run), run.fn, variant, run.req, run.decisions, ctx)
      const stream = await streamVariant(run.resolver.variantModel(variant), variant, modelRequest, ctx)
      return { kind: 'stream', stream, request: modelRequest, modelName: variant.model as string, inferenceParams: modelRequest.params, earlier: [embeddingRecord] }
    }
  }),
  // A chat_completion variant underneath: its model call brings its own span, timeouts and retries.
  experimental_chain_of_thought: {
    answer: async (run, variant, ctx) => await chainOfThought(variant, inferenceTimeRun(run, ctx)),
    stream: async () => chainOfThoughtStream()
  }
}

function diclDeps (run: FunctionRun): DiclDeps {
  return { embeddingModel: name => run.resolver.embeddingModel(name), examples: run.diclExamples }
}

/** The runner of a variant type; undefined for a type the sidecar loads but does not serve. */
export function variantRunner (type: string): VariantRunner | undefined {
  return VARIANT_RUNNERS[type]
}

/** A model's answer as the function's type makes it: JSON functions get their answer text and `{raw, parsed}`. */
export function modelAnswer (fn: FunctionConfig, request: ModelRequest, response: Omit<ProviderResponse, 'rawResponse'>,
  records: ModelInferenceRecord[], modelName: string): VariantAnswer {
  const answer: VariantAnswer = {
    output: response.output,
    usage: response.usage,
    finishReason: response.finishReason,
    modelInferences: records,
    inferenceParams: request.params,
    toolParams: request.toolParams,
    modelName,
    originalResponse: records[0]?.rawResponse
  }
  if (fn.type === 'json') {
    const toolMode = isToolMode(request)
    answer.output = jsonOutputBlocks(response.output, toolMode)
    answer.finishReason = jsonFinishReason(response.finishReason, toolMode)
    answer.json = jsonOutputRecord(rawJsonText(answer.output), request.outputSchema)
    answer.outputSchema = request.outputSchema
  }
  return answer
}

async function answerRequest (run: FunctionRun, variant: VariantConfig, request: ModelRequest, ctx: CallContext): Promise<VariantAnswer> {
  const { response, record } = await inferVariant(run.resolver.variantModel(variant), variant, request, ctx)
  return modelAnswer(run.fn, request, response, [record], variant.model as string)
}

/** An inference-time type's row: within its own timeouts, inside a `variant_inference` span. */
function inferenceTime (answer: InferenceTimeCall<VariantAnswer>, stream: InferenceTimeCall<StreamedAnswer>): VariantRunner {
  const timed = withinVariantTimeouts({
    answer: async (run, variant, ctx) => await answer(variant, inferenceTimeRun(run, ctx)),
    stream: async (run, variant, ctx) => await stream(variant, inferenceTimeRun(run, ctx))
  })
  return { answer: tracedVariant(false, timed.answer), stream: tracedVariant(true, timed.stream) }
}

/**
 * A variant's timeouts around everything it does, as TensorZero applies them around the whole variant (streaming:
 * the time to first token around what happens before the first chunk, the total around the stream too).
 */
function withinVariantTimeouts (runner: VariantRunner): VariantRunner {
  return {
    answer: async (run, variant, ctx) => {
      const limit = deadline(ctx.signal, variant.timeouts.nonStreamingTotalMs, `variant \`${variant.name}\``)
      try {
        return await runner.answer(run, variant, { ...ctx, signal: limit.signal })
      } catch (err) {
        throw limit.signal.aborted ? limit.signal.reason : err
      } finally {
        limit.clear()
      }
    },
    stream: async (run, variant, ctx) => {
      const total = deadline(ctx.signal, variant.timeouts.streamingTotalMs, `variant \`${variant.name}\` stream`)
      const ttft = deadline(total.signal, variant.timeouts.streamingTtftMs, `variant \`${variant.name}\` time to first token`)
      try {
        const streamed = await runner.stream(run, variant, { ...ctx, signal: ttft.signal })
        ttft.stopTimer()
        if (streamed.kind === 'answer') { ttft.clear(); total.clear(); return streamed }
        const innerDispose = streamed.stream.dispose
        streamed.stream.dispose = () => { innerDispose(); ttft.clear(); total.clear() }
        return streamed
      } catch (err) {
        ttft.clear(); total.clear()
        throw ttft.signal.aborted ? ttft.signal.reason : err
      }
    }
  }
}

function tracedVariant<R> (stream: boolean, call: (run: FunctionRun, variant: VariantConfig, ctx: CallContext) => Promise<R>) {
  return traced('variant_inference', (run: FunctionRun, variant: VariantConfig, _ctx: CallContext) =>
    ({ function_name: run.fn.name, variant_name: variant.name, 'tensorzero.variant_type': variant.type, stream }), call)
}

/** Candidates run as the function runs their type, non-streaming and with default inference parameters (TensorZero's). */
function inferenceTimeRun (run: FunctionRun, ctx: CallContext): InferenceTimeRun {
  const candidateRun: FunctionRun = { ...run, req: { ...run.req, params: {}, stream: false } }
  const candidateCtx: CallContext = { ...ctx, variantIndex: undefined }
  return {
    fn: run.fn,
    req: run.req,
    decisions: run.decisions,
    templates: run.templates,
    ctx,
    modelOf: variant => run.resolver.variantModel(variant),
    answerVariant: async variant => await runnerOf(variant).answer(candidateRun, variant, candidateCtx),
    answerRequest: async (variant, request) => await answerRequest(run, variant, request, ctx),
    chatContentJson: answer => JSON.stringify(answer.output.map(b => b.type === 'tool_call' ? checkedToolCall(b, toolsAvailable(answer.toolParams)) : b))
  }
}

function runnerOf (variant: VariantConfig): VariantRunner {
  const runner = VARIANT_RUNNERS[variant.type]
  if (runner === undefined) throw new Error(`variant type \`${variant.type}\` is not served by tz-sidecar`)
  return runner
}
