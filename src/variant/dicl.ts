// An `experimental_dynamic_in_context_learning` variant, as TensorZero runs it: embed the input with the variant's
// embedding model, fetch the k stored examples nearest to it (cosine distance) for this function and variant, and
// prompt the variant's model with them. The model call itself (retries, timeouts, streaming) is the chat_completion
// path's; the embedding call is a model inference of its own, recorded before the chat call.
import type { EmbeddingModelConfig, FunctionConfig, VariantConfig } from '../core/config.ts'
import type { ModelRequest } from '../core/types.ts'
import type { ChatRequest } from '../core/request.ts'
import type { ModelInferenceRecord } from '../core/records.ts'
import type { DiclExample, DiclExampleReads } from '../core/stored-data.ts'
import { GatewayError, badRequest } from '../core/errors.ts'
import { newId } from '../core/ids.ts'
import { deadline, elapsedMs } from '../core/deadline.ts'
import { traced } from '../core/tracing.ts'
import { embedModel } from '../model/route.ts'
import type { CallContext } from '../model/route.ts'
import type { ModelEmbedding } from '../model/results.ts'
import { modelRequestFor } from './chat-completion.ts'
import type { FunctionDecisions } from './chat-completion.ts'
import { exampleMessages, plainMessages, serializedInput } from './dicl-prompt.ts'

/** How long the example lookup may take before the variant fails (ClickHouse slow or unreachable). */
const EXAMPLE_LOOKUP_TIMEOUT_MS = 5_000

export interface DiclDeps {
  embeddingModel (name: string): EmbeddingModelConfig
  /** Absent when there is no ClickHouse: no examples, as TensorZero with ClickHouse disabled. */
  examples?: DiclExampleReads
}

export interface PreparedDicl {
  modelRequest: ModelRequest
  /** The embedding call's row, recorded with the chat call's. */
  embeddingRecord: ModelInferenceRecord
}

export async function prepareDicl (deps: DiclDeps, fn: FunctionConfig, variant: VariantConfig, req: ChatRequest,
  decisions: FunctionDecisions, ctx: CallContext): Promise<PreparedDicl> {
  const settings = variant.dicl
  if (settings === undefined) throw new GatewayError(500, `variant \`${variant.name}\` is not a DICL variant`)
  if (req.extraBody !== undefined && req.extraBody.length > 0) {
    throw badRequest('Inference-level `extra_body` is not yet supported for dynamic_in_content_learning variant')
  }
  const text = serializedInput(req.input)
  const model = deps.embeddingModel(settings.embeddingModel)
  const started = performance.now()
  const embedding = await embedModel(model, { input: text, encodingFormat: 'float' }, { ...ctx, variantName: variant.name })
  const embeddingRecord = embeddingRecordFor(model, embedding, text, elapsedMs(started))
  if (embedding.embeddings.length !== 1) throw new GatewayError(502, `embedding model \`${model.name}\` returned ${embedding.embeddings.length} vectors for one input`)
  let examples = deps.examples === undefined
    ? []
    : await nearestExamples(deps.examples, fn.name, variant.name, embedding.embeddings[0], settings.k, ctx.signal)
  if (settings.maxDistance !== undefined) examples = examples.filter(e => e.cosineDistance <= (settings.maxDistance as number))
  const messages = examples.length > 0 ? exampleMessages(examples, fn.type, req.input) : plainMessages(req.input)
  return { modelRequest: modelRequestFor(fn, variant, req, decisions, settings.systemInstructions, messages), embeddingRecord }
}

/** The lookup, bounded by `EXAMPLE_LOOKUP_TIMEOUT_MS` and the request's own signal; failing it fails the variant. */
const nearestExamples = traced('dicl_example_lookup',
  (_reads: DiclExampleReads, functionName: string, variantName: string, _embedding: number[], k: number, _signal: AbortSignal) =>
    ({ function_name: functionName, variant_name: variantName, k }),
  async (reads: DiclExampleReads, functionName: string, variantName: string, embedding: number[], k: number,
    signal: AbortSignal): Promise<DiclExample[]> => {
    const limit = deadline(signal, EXAMPLE_LOOKUP_TIMEOUT_MS, 'DICL example lookup')
    try {
      return await new Promise<DiclExample[]>((resolve, reject) => {
        limit.signal.addEventListener('abort', () => { reject(limit.signal.reason) }, { once: true })
        reads.similarDiclExamples(functionName, variantName, embedding, k).then(resolve, (err: unknown) => {
          reject(new GatewayError(503, `DICL examples could not be read from ClickHouse: ${err instanceof Error ? err.message : String(err)}`))
        })
      })
    } finally {
      limit.clear()
    }
  })

/** The embedding call as TensorZero records it: the input text as one user message, no system, no output. */
function embeddingRecordFor (model: EmbeddingModelConfig, embedding: ModelEmbedding, text: string, responseTimeMs: number): ModelInferenceRecord {
  return {
    id: newId(),
    modelName: model.name,
    providerName: embedding.providerName,
    providerType: model.providers.get(embedding.providerName)?.type ?? '',
    rawRequest: embedding.rawRequest,
    rawResponse: embedding.rawResponse,
    inputTokens: embedding.usage.inputTokens,
    outputTokens: embedding.usage.outputTokens,
    responseTimeMs,
    request: { messages: [{ role: 'user', content: [{ type: 'text', text }] }], params: {}, stream: false },
    output: [],
    cached: false,
    apiType: 'embeddings',
    ...(embedding.failedRawResponses === undefined ? {} : { failedRawResponses: embedding.failedRawResponses })
  }
}
