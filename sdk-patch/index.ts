// tz-sidecar/sdk-patch: TensorZero episodes and feedback for the `openai` npm package (v5, v6, v7).
//
//   import OpenAI from 'openai'
//   import { patchOpenAI, withEpisode } from 'tz-sidecar/sdk-patch'
//   const client = patchOpenAI(new OpenAI())          // OPENAI_BASE_URL=http://sidecar:3031/v1
//   await withEpisode(async () => { ...calls share one episode...; await client.feedback({ metric_name, value: true }) })
//
// Importing this module loads no server code; embedded mode imports it on demand.
export { patchOpenAI, PatchError, SUPPORTED_MAJORS } from './patch.ts'
export type { OpenAIClientLike, PatchOptions, PatchedOpenAI, TensorZeroClientExtras, TensorZeroHandle } from './patch.ts'
export { withEpisode, currentEpisodeId, newEpisodeId, isEpisodeId } from './episode.ts'
export type { FeedbackRequest, FeedbackResponse, FeedbackRequestOptions, FeedbackValue } from './feedback.ts'
export { tensorzero, tensorzeroIds, episodeIdOf, inferenceIdOf } from './fields.ts'
export type {
  TensorZeroExtraBody, TensorZeroOptions, TensorZeroParams, TensorZeroCacheOptions, TensorZeroIds, WithTensorZero
} from './fields.ts'
export type { EmbeddedOptions, EmbeddedGateway } from './embedded.ts'
