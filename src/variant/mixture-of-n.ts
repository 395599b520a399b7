// `experimental_mixture_of_n` (tensorzero-core variant/mixture_of_n.rs): the candidates answer concurrently, then the
// fuser (a chat_completion-like config of its own) reads the conversation and every candidate and writes the answer,
// as the function's type answers (tools and output schema as for any variant, json_mode `strict` by default for JSON
// functions). A streaming request streams the fuser. One candidate left: it is the answer, no fuser call. A fuser that
// fails (or a request-level `extra_body`, which TensorZero does not support for the fuser): a candidate picked at random.
import type { VariantConfig } from '../core/config.ts'
import type { InferenceParams, ModelRequest } from '../core/types.ts'
import { setActiveAttributes } from '../core/tracing.ts'
import { failedRawResponsesOf, type FailedRawResponse } from '../core/errors.ts'
import { buildModelRequest, streamVariant } from './chat-completion.ts'
import {
  candidateTexts, judgeMessages, randomIndex, runCandidates, settle, warnJudgeFailed, withFailures,
  type InferenceTimeRun, type StreamedAnswer, type VariantAnswer,
} from './candidates.ts'

/** TensorZero's `t0:mixture_of_n_fuser_system`, around the fuser's own system text when it has one. */
function fuserSystem (inner: string | undefined): string {
  const head = inner === undefined
    ? 'You have been provided with a set of responses from various models to the latest user\nquery.'
    : `You have been provided with a set of responses from various models to the following problem:\n------\n${inner}\n------`
  return `${head}
Your task is to synthesize these responses into a single, high-quality response. It is crucial to critically evaluate the information provided in these responses, recognizing that some of it may be biased or incorrect. Your response should not simply replicate the given answers but should offer a refined, accurate, and comprehensive reply to the instruction and take the best from all the responses. Ensure your response is well-structured, coherent, and adheres to the highest standards of accuracy and reliability.  Below will be: first, any messages leading up to this point, and then, a final message containing the set of candidate responses.`
}

/** TensorZero's `t0:mixture_of_n_fuser_candidates`. */
function fuserCandidates (texts: string[]): string {
  return 'Here are the candidate answers (with the index and a row of ------ separating):' +
    texts.map((t, i) => `\n${i}:\n${t}\n------`).join('')
}

export async function mixtureOfN (variant: VariantConfig, run: InferenceTimeRun): Promise<VariantAnswer> {
  const { answers, failed } = await runCandidates(variant, run)
  if (answers.length === 1) return settle(answers[0], answers, undefined, failed)
  const fuser = variant.judge as VariantConfig
  try {
    const fused = await run.answerRequest(fuser, fuserRequest(fuser, answers, run, false))
    setActiveAttributes(() => ({ 'tensorzero.fused': true }))
    // TensorZero stores the fused answer with empty inference parameters.
    return { ...settle(fused, [fused, ...answers], undefined, failed), inferenceParams: {} }
  } catch (err) {
    if (run.ctx.signal.aborted) throw err
    warnJudgeFailed(run, variant, 'fuser', err)
    return randomCandidate(answers, failed, failedRawResponsesOf(err))
  }
}

export async function mixtureOfNStream (variant: VariantConfig, run: InferenceTimeRun): Promise<StreamedAnswer> {
  const { answers, failed } = await runCandidates(variant, run)
  if (answers.length === 1) return { kind: 'answer', answer: settle(answers[0], answers, undefined, failed) }
  const fuser = variant.judge as VariantConfig
  try {
    const request = fuserRequest(fuser, answers, run, true)
    const stream = await streamVariant(run.modelOf(fuser), fuser, request, run.ctx)
    setActiveAttributes(() => ({ 'tensorzero.fused': true }))
    // The failed candidates' raw answers go before the first candidate's call, as TensorZero reports them.
    const earlier = withFailures(answers.flatMap(a => a.modelInferences), failed)
    return { kind: 'stream', stream, request, modelName: fuser.model as string, inferenceParams: fuserParams(fuser), earlier }
  } catch (err) {
    if (run.ctx.signal.aborted) throw err
    warnJudgeFailed(run, variant, 'fuser', err)
    return { kind: 'answer', answer: randomCandidate(answers, failed, failedRawResponsesOf(err)) }
  }
}

function randomCandidate (answers: VariantAnswer[], failed: FailedRawResponse[], fuserFailed: FailedRawResponse[]): VariantAnswer {
  const index = randomIndex(answers.length)
  setActiveAttributes(() => ({ 'tensorzero.fused': false, 'tensorzero.candidate_index': index }))
  return { ...settle(answers[index], answers, undefined, failed, fuserFailed), originalResponse: undefined }
}

/** The fuser's own sampling parameters, without the request's (TensorZero fuses with default inference parameters). */
function fuserParams (fuser: VariantConfig): InferenceParams {
  const { json_mode: _jsonMode, ...params } = fuser.params
  return params
}

function fuserRequest (fuser: VariantConfig, answers: VariantAnswer[], run: InferenceTimeRun, stream: boolean): ModelRequest {
  const { texts, included } = candidateTexts(answers, run)
  if (included.length === 0) throw new Error('No valid candidates available to prepare request.')
  if ((run.req.extraBody?.length ?? 0) > 0) throw new Error('Inference-level `extra_body` is not yet supported for mixture_of_n variant')
  const decisions = { ...run.decisions, defaultJsonMode: run.fn.type === 'json' ? 'strict' as const : undefined }
  const request = buildModelRequest(run.fn, fuser, { ...run.req, params: {}, stream }, decisions, run.templates)
  return { ...request, system: fuserSystem(request.system), messages: judgeMessages(request.messages, fuserCandidates(texts)) }
}
