// Stored data the variant and function layers read (DICL examples, experiment statistics). They declare what they
// need here; `gateway.ts` hands in the store's implementation, so they never import `store/`.

/** A row of `DynamicInContextLearningExample` near the request's embedding: `input` and `output` as stored (JSON text). */
export interface DiclExample { input: string; output: string; cosineDistance: number }

/** One variant's feedback for a metric, as TensorZero aggregates it (`FeedbackByVariantStatistics`). */
export interface FeedbackByVariant { variantName: string; mean: number; variance: number | null; count: number }

export interface DiclExampleReads {
  /** The `k` examples of this function and variant nearest to `embedding` by cosine distance, nearest first. */
  similarDiclExamples (functionName: string, variantName: string, embedding: number[], k: number): Promise<DiclExample[]>
}

/** A namespace's experiment counts only feedback on inferences of its namespace (or on their episodes), the newest first. */
export interface FeedbackScope { namespace: string; maxSamplesPerVariant: number }

export interface FeedbackStatisticsReads {
  /** Feedback statistics of `metricName` for the function's `variantNames`; variants without feedback are absent. */
  feedbackByVariant (metricName: string, functionName: string, variantNames: string[], scope?: FeedbackScope): Promise<FeedbackByVariant[]>
}

/**
 * Which variant an episode of a function is on, as TensorZero's `check_and_set_variant_by_episode` keeps it: shared
 * through Postgres's `variant_by_episode` when the sidecar has a Postgres, else in one process's memory.
 */
export interface EpisodeVariants {
  /** The variant the episode already has for the function, else `candidate`, which it has from now on. Throws a GatewayError when it cannot tell. */
  checkAndSet (functionName: string, episodeId: string, candidate: string): Promise<string>
}
