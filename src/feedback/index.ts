export { handleFeedback, TENSORZERO_FEEDBACK_TIMING } from './handle.ts'
export type { FeedbackDeps, FeedbackReply, FeedbackTiming } from './handle.ts'
export { RecentTargets } from './known-targets.ts'
export type { KnownTargets, KnownInference, TargetLookup } from './known-targets.ts'
