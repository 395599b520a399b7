// What best-of-N and mixture-of-N share (tensorzero-core variant/best_of_n_sampling.rs, mixture_of_n.rs): the
// candidate variants run concurrently, each as the function would run it (its own timeouts and retries) and all under
// the request's signal; those that fail are left out; the answers that remain are written into the evaluator's or
// fuser's last message, chat answers as their content blocks in JSON, JSON answers as their raw text (a JSON answer
// that did not parse is left out of that message).
import type { FunctionConfig, ModelConfig, VariantConfig } from '../core/config.ts'
import type { FinishReason, InferenceParams, Message, ModelRequest, OutputBlock, ToolParams, Usage } from '../core/types.ts'
import type { ChatRequest } from '../core/request.ts'
import type { ModelInferenceRecord } from '../core/records.ts'
import { CandidatesFailed, failedRawResponsesOf, type FailedRawResponse } from '../core/errors.ts'
import type { CallContext } from '../model/route.ts'
import type { ModelStream } from '../model/results.ts'
import type { FunctionDecisions } from './chat-completion.ts'
import type { TemplateRenderer } from './templates/prepare.ts'

/** One variant's finished answer, whatever its type: what the client gets and what the rows store. */
export interface VariantAnswer {
  /** What the client gets (a JSON function's answer text, thoughts kept as thought blocks). */
  output: OutputBlock[]
  /** JSON functions: the answer as stored, `parsed` null unless it satisfies the output schema. */
  json?: { raw: string; parsed: unknown }
  usage: Usage
  finishReason?: FinishReason
  /** Every model call made, the answering one first (its model and provider name the response). */
  modelInferences: ModelInferenceRecord[]
  /** The row's `inference_params`. */
  inferenceParams: InferenceParams
  toolParams?: ToolParams
  /** The row's `output_schema` (JSON functions). */
  outputSchema?: Record<string, unknown>
  modelName: string
  /** TensorZero's `original_response`: the answering call's raw answer (best-of-N: its evaluator's; none when it failed). */
  originalResponse?: string
}

/** A streamed answer: a model stream to forward, or an answer finished before the first chunk (sent as one piece). */
export type StreamedAnswer =
  | { kind: 'answer'; answer: VariantAnswer }
  | { kind: 'stream'; stream: ModelStream; request: ModelRequest; modelName: string; inferenceParams: InferenceParams;
      /** Model calls made before the stream (candidates), stored with it. */
      earlier: ModelInferenceRecord[] }

/** What an inference-time variant needs from the function running it. */
export interface InferenceTimeRun {
  fn: FunctionConfig
  req: ChatRequest
  decisions: FunctionDecisions
  templates: TemplateRenderer
  ctx: CallContext
  modelOf (variant: VariantConfig): ModelConfig
  /** A candidate's answer, non-streaming, as the function runs a variant of that type. */
  answerVariant (variant: VariantConfig): Promise<VariantAnswer>
  /** One model request of a chat_completion-like config, answered as the function's type answers. */
  answerRequest (variant: VariantConfig, request: ModelRequest): Promise<VariantAnswer>
  /** A chat answer's content blocks as TensorZero serialises them (tool calls checked against the tools offered). */
  chatContentJson (answer: VariantAnswer): string
}

/** The candidates that answered, and (`include_raw_response`) the failed ones' attempts' raw answers. */
export interface Candidates { answers: VariantAnswer[]; failed: FailedRawResponse[] }

/** The candidates' answers in candidate order (those that failed left out); none answering is TensorZero's AllCandidatesFailed. */
export async function runCandidates (variant: VariantConfig, run: InferenceTimeRun): Promise<Candidates> {
  const names = variant.candidates ?? []
  const settled = await Promise.allSettled(names.map(async name => await run.answerVariant(run.fn.variants.get(name) as VariantConfig)))
  if (run.ctx.signal.aborted) throw run.ctx.signal.reason
  const answers: VariantAnswer[] = []
  const errors: Array<{ variant: string; error: Error }> = []
  settled.forEach((s, i) => {
    if (s.status === 'fulfilled') answers.push(s.value)
    else errors.push({ variant: `candidates[${i}] (${names[i]})`, error: s.reason instanceof Error ? s.reason : new Error(String(s.reason)) })
  })
  if (answers.length === 0) throw new CandidatesFailed(run.fn.name, errors)
  return { answers, failed: errors.flatMap(e => failedRawResponsesOf(e.error)) }
}

/** The candidates as the evaluator or fuser reads them, with the indices of the answers written in. */
export function candidateTexts (answers: VariantAnswer[], run: InferenceTimeRun): { texts: string[]; included: number[] } {
  const texts: string[] = []
  const included: number[] = []
  answers.forEach((a, i) => {
    if (a.json !== undefined) {
      if (a.json.parsed === null || a.json.parsed === undefined) return
      texts.push(a.json.raw)
    } else {
      texts.push(run.chatContentJson(a))
    }
    included.push(i)
  })
  return { texts, included }
}

/** The judge's prompt: its own rendering of the conversation, then one user message listing the candidates. */
export function judgeMessages (rendered: Message[], candidatesText: string): Message[] {
  return [...rendered, { role: 'user', content: [{ type: 'text', text: candidatesText }] }]
}

/**
 * `chosen` answers; every model call of the run is stored with it, chosen first, then the others, then the judge. The
 * failed candidates' raw answers (`before`) and a failed judge's (`after`) go on the first call, as TensorZero reports them.
 */
export function settle (chosen: VariantAnswer, all: VariantAnswer[], judge?: ModelInferenceRecord,
  before: FailedRawResponse[] = [], after: FailedRawResponse[] = []): VariantAnswer {
  const modelInferences = [...chosen.modelInferences, ...all.filter(a => a !== chosen).flatMap(a => a.modelInferences)]
  if (judge !== undefined) modelInferences.push(judge)
  return { ...chosen, modelInferences: withFailures(modelInferences, before, after), usage: usageOf(modelInferences) }
}

/** `records` with `before` and `after` around the first one's failed attempts (a copy of it; the others as they are). */
export function withFailures (records: ModelInferenceRecord[], before: FailedRawResponse[], after: FailedRawResponse[] = []): ModelInferenceRecord[] {
  if (records.length === 0 || (before.length === 0 && after.length === 0)) return records
  const [first, ...rest] = records
  return [{ ...first, failedRawResponses: [...before, ...first.failedRawResponses ?? [], ...after] }, ...rest]
}

/**
 * Usage summed over model calls as TensorZero sums it: tokens and cost unknown when any call's is; cache tokens over
 * the calls that reported them.
 */
export function usageOf (records: ModelInferenceRecord[]): Usage {
  type Key = 'inputTokens' | 'outputTokens' | 'cacheReadInputTokens' | 'cacheWriteInputTokens' | 'cost'
  const strict = (key: Key): number | undefined =>
    records.some(r => r[key] === undefined) ? undefined : records.reduce((n, r) => n + (r[key] as number), 0)
  const reported = (key: Key): number | undefined =>
    records.every(r => r[key] === undefined) ? undefined : records.reduce((n, r) => n + (r[key] ?? 0), 0)
  const usage: Usage = { inputTokens: strict('inputTokens'), outputTokens: strict('outputTokens') }
  const cacheRead = reported('cacheReadInputTokens')
  if (cacheRead !== undefined) usage.cacheReadInputTokens = cacheRead
  const cacheWrite = reported('cacheWriteInputTokens')
  if (cacheWrite !== undefined) usage.cacheWriteInputTokens = cacheWrite
  const cost = strict('cost')
  if (cost !== undefined) usage.cost = cost
  return usage
}

/** TensorZero picks uniformly at random when its evaluator or fuser gives no usable answer. */
export function randomIndex (n: number): number {
  return Math.floor(Math.random() * n)
}

/**
 * An evaluator or fuser that failed: the variant still answers (with a candidate), as in TensorZero, which logs it as
 * a warning; so does the sidecar, through the call's observer.
 */
export function warnJudgeFailed (run: InferenceTimeRun, variant: VariantConfig, role: 'evaluator' | 'fuser', err: unknown): void {
  const reason = err instanceof Error ? err.message : String(err)
  run.ctx.observer?.onWarning?.({
    source: variant.type,
    message: `the ${role} of variant \`${variant.name}\` failed (${reason}); answering with a randomly chosen candidate`
  })
}
