// Workflow evaluation runs (TensorZero's `POST /workflow_evaluation_run`): a run pins variants and carries tags; each
// episode of it gets an id dated WORKFLOW_OFFSET_MS in the future, so an inference naming that episode is recognised by
// its id alone and takes the run's pins and tags. The function layer keeps the runs; the store writes and reads them.

/**
 * TensorZero's offset (10^10 s): episode ids of workflow runs carry now + this as their time. An episode id at or past
 * the offset is one of theirs; below it, an ordinary id (which may not be from the future).
 */
export const WORKFLOW_OFFSET_MS = 10_000_000_000_000

/** The milliseconds a UUIDv7 (hyphenated) carries. */
export function uuidV7Ms (id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
}

export function isWorkflowEpisodeId (id: string): boolean {
  return uuidV7Ms(id) >= WORKFLOW_OFFSET_MS
}

/** What an episode of a run applies to its inferences. */
export interface WorkflowRunSettings {
  /** Function name → variant name. */
  variantPins: Record<string, string>
  tags: Record<string, string>
}

export interface WorkflowRunRecord extends WorkflowRunSettings {
  runId: string
  projectName?: string
  displayName?: string
}

/** An episode: its run's pins, and the run's tags overlaid with the episode's own (TensorZero's `mapUpdate`). */
export interface WorkflowEpisodeRecord extends WorkflowRunSettings {
  runId: string
  episodeId: string
  taskName?: string
}

/** Rows of runs and episodes (`DynamicEvaluationRun`, `DynamicEvaluationRunEpisode`), queued like inference rows. */
export interface WorkflowRunWrites {
  run (rec: WorkflowRunRecord): void
  episode (rec: WorkflowEpisodeRecord): void
}

/** Runs and episodes another process created, read from the store; null when there is none. */
export interface WorkflowRunReads {
  run (runId: string): Promise<WorkflowRunSettings | null>
  episode (episodeId: string): Promise<WorkflowRunSettings | null>
}
