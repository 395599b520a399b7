// `experimental_best_of_n_sampling` (tensorzero-core variant/best_of_n_sampling.rs): the candidates answer
// concurrently, then the evaluator (a chat_completion-like config of its own) reads the conversation and the candidates
// and answers `{"thinking", "answer_choice"}` in JSON mode (`strict` unless it sets one). One candidate left: no
// evaluator call. An evaluator that fails, times out, answers no integer or one out of range: a candidate picked at
// random. A request-level `extra_body` is not supported for the evaluator: TensorZero then picks at random too.
import type { VariantConfig } from '../core/config.ts'
import type { ModelRequest, OutputBlock } from '../core/types.ts'
import type { ModelInferenceRecord } from '../core/records.ts'
import { setActiveAttributes, traced } from '../core/tracing.ts'
import { failedRawResponsesOf, type FailedRawResponse } from '../core/errors.ts'
import { implicitToolParams, inferVariant } from './chat-completion.ts'
import { candidateTexts, judgeMessages, randomIndex, runCandidates, settle, warnJudgeFailed, type InferenceTimeRun, type VariantAnswer } from './candidates.ts'

const EVALUATOR_OUTPUT_SCHEMA: Record<string, unknown> = {
  type: 'object',
  properties: { thinking: { type: 'string' }, answer_choice: { type: 'integer' } },
  required: ['thinking', 'answer_choice'],
  additionalProperties: false
}

/** TensorZero's `t0:best_of_n_evaluator_system`, around the evaluator's own system text when it has one. */
function evaluatorSystem (inner: string | undefined, maxIndex: number): string {
  const head = inner === undefined
    ? 'You are an assistant tasked with re-ranking candidate answers to a problem.'
    : `You are an assistant tasked with re-ranking candidate answers to the following problem:\n------\n${inner}\n------`
  return `${head}
The messages below are the conversation history between the user and the assistant along with a final message giving a set of candidate responses.
Please evaluate the following candidate responses and provide your reasoning along with the index of the best candidate in the following JSON format:
{
    "thinking": "your reasoning here",
    "answer_choice": int  // Range: 0 to ${maxIndex}
}
In the "thinking" block:
First, you should analyze each response itself against the conversation history and determine if it is a good response or not.
Then you should think out loud about which is best and most faithful to instructions.
In the "answer_choice" block: you should output the index of the best response.`
}

/** TensorZero's `t0:best_of_n_evaluator_candidates`. */
function evaluatorCandidates (texts: string[]): string {
  return 'Here are the candidate answers (with the index and a row of ------ separating):' +
    texts.map((t, i) => `\n${i}: ${t}\n------`).join('') +
    '\nPlease evaluate these candidates and provide the index of the best one.'
}

export async function bestOfN (variant: VariantConfig, run: InferenceTimeRun): Promise<VariantAnswer> {
  const { answers, failed } = await runCandidates(variant, run)
  if (answers.length === 1) return settle(answers[0], answers, undefined, failed)
  let choice: number | undefined
  let record: ModelInferenceRecord | undefined
  let evaluatorFailed: FailedRawResponse[] = []
  try {
    ({ choice, record } = await evaluate(variant.judge as VariantConfig, answers, run))
  } catch (err) {
    if (run.ctx.signal.aborted) throw err
    warnJudgeFailed(run, variant, 'evaluator', err)
    evaluatorFailed = failedRawResponsesOf(err)
  }
  const index = choice ?? randomIndex(answers.length)
  setActiveAttributes(() => ({ 'tensorzero.candidate_index': index, 'tensorzero.selected_by': choice === undefined ? 'random' : 'evaluator' }))
  // TensorZero answers with the evaluator's raw response as the original one (none when it gave none).
  return { ...settle(answers[index], answers, record, failed, evaluatorFailed), originalResponse: record?.rawResponse }
}

/** The evaluator's choice (an index into `answers`), or none; its model call whenever one was made. */
const evaluate = traced('best_of_n_evaluation',
  (judge: VariantConfig, answers: VariantAnswer[], _run: InferenceTimeRun) => ({ variant_name: judge.name, candidates: answers.length }),
  async (judge: VariantConfig, answers: VariantAnswer[], run: InferenceTimeRun): Promise<{ choice?: number; record?: ModelInferenceRecord }> => {
    const { texts, included } = candidateTexts(answers, run)
    if (included.length === 0) throw new Error('No valid candidates available to prepare request.')
    if (included.length === 1) return { choice: included[0] }
    if ((run.req.extraBody?.length ?? 0) > 0) throw new Error('Inference-level `extra_body` is not yet supported for best_of_n variant')
    const { response, record } = await inferVariant(run.modelOf(judge), judge, evaluatorRequest(judge, texts, run), run.ctx)
    const picked = answerChoice(response.output)
    const index = picked === undefined ? undefined : included[picked]
    return { choice: index, record }
  })

function evaluatorRequest (judge: VariantConfig, texts: string[], run: InferenceTimeRun): ModelRequest {
  const { system, messages } = run.templates.render(run.fn, judge, run.req.input)
  const params = { ...judge.params, json_mode: judge.params.json_mode ?? 'strict' }
  return {
    system: evaluatorSystem(system, texts.length - 1),
    messages: judgeMessages(messages, evaluatorCandidates(texts)),
    toolParams: params.json_mode === 'tool' ? implicitToolParams(EVALUATOR_OUTPUT_SCHEMA) : undefined,
    params,
    functionType: 'json',
    outputSchema: EVALUATOR_OUTPUT_SCHEMA,
    stream: false,
    variantExtraBody: judge.extraBody,
    variantExtraHeaders: judge.extraHeaders
  }
}

/** `answer_choice` of the evaluator's first text (or tool call) as JSON: a non-negative integer, else none. */
function answerChoice (output: OutputBlock[]): number | undefined {
  const block = output.find(b => b.type === 'text' || b.type === 'tool_call')
  if (block === undefined) return undefined
  try {
    const parsed: unknown = JSON.parse(block.type === 'text' ? block.text : (block as { arguments: string }).arguments)
    const choice = (parsed as { answer_choice?: unknown } | null)?.answer_choice
    return typeof choice === 'number' && Number.isSafeInteger(choice) && choice >= 0 ? choice : undefined
  } catch {
    return undefined
  }
}
