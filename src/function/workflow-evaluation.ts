// Workflow evaluation runs as TensorZero's gateway serves them (endpoints/workflow_evaluation_run.rs): a run checks its
// tags and variant pins and is written; an episode takes its run's pins and tags (plus its own, plus the run id tags)
// and gets a future-dated id; an inference naming such an episode takes the pins (unless it pins a variant itself)
// and the tags (its own win). Runs and episodes this process created are remembered, bounded; others are read from
// the store once and then remembered too.
import { v7 as uuidv7 } from 'uuid'
import type { TensorZeroConfig } from '../core/config.ts'
import type { ChatRequest } from '../core/request.ts'
import { GatewayError, badRequest } from '../core/errors.ts'
import { newId } from '../core/ids.ts'
import { RESERVED_PREFIX } from '../core/names.ts'
import { WORKFLOW_OFFSET_MS, isWorkflowEpisodeId } from '../core/workflow-evaluation.ts'
import type { WorkflowRunReads, WorkflowRunSettings, WorkflowRunWrites } from '../core/workflow-evaluation.ts'
import { pinVariant } from './resolve.ts'

export interface WorkflowRunParams {
  variants: Record<string, string>
  tags: Record<string, string>
  projectName?: string
  displayName?: string
  internal: boolean
}

export interface WorkflowEpisodeParams { taskName?: string; tags: Record<string, string> }

/** Runs and episodes remembered, each: ~1 KB apiece with a few pins and tags, so a few MB at most. */
const REMEMBERED = 10_000

export interface WorkflowRunDeps {
  writes?: WorkflowRunWrites
  /** Absent without ClickHouse: only this process's runs and episodes are known. */
  reads?: WorkflowRunReads
}

/** What a process knows of runs and episodes: kept across config reloads. */
export interface RememberedWorkflowRuns {
  runs: Map<string, WorkflowRunSettings>
  episodes: Map<string, WorkflowRunSettings>
}

export function rememberedWorkflowRuns (): RememberedWorkflowRuns {
  return { runs: new Map(), episodes: new Map() }
}

export class WorkflowEvaluations {
  private readonly runs: Map<string, WorkflowRunSettings>
  private readonly episodes: Map<string, WorkflowRunSettings>
  private readonly deps: WorkflowRunDeps

  constructor (deps: WorkflowRunDeps, remembered: RememberedWorkflowRuns) {
    this.deps = deps
    this.runs = remembered.runs
    this.episodes = remembered.episodes
  }

  createRun (config: TensorZeroConfig, p: WorkflowRunParams): { run_id: string } {
    checkTags(p.tags, p.internal)
    for (const [functionName, variantName] of Object.entries(p.variants)) {
      const fn = config.functions.get(functionName)
      if (fn === undefined) throw new GatewayError(404, `Unknown function: ${functionName}`)
      if (!fn.variants.has(variantName)) throw badRequest(`Variant ${variantName} for function ${functionName} not found.`)
    }
    const runId = newId()
    const settings = { variantPins: { ...p.variants }, tags: { ...p.tags } }
    remember(this.runs, runId, settings)
    this.deps.writes?.run({ runId, ...settings, projectName: p.projectName, displayName: p.displayName })
    return { run_id: runId }
  }

  async createEpisode (runId: string, p: WorkflowEpisodeParams): Promise<{ episode_id: string }> {
    checkTags(p.tags, false)
    const run = this.runs.get(runId) ?? await this.lookup('run', runId)
    // TensorZero's INSERT … SELECT FROM the run writes nothing for an unknown run and still answers an id that no
    // inference can use; the mistake is reported here instead.
    if (run === null) throw new GatewayError(404, `Workflow evaluation run not found: ${runId}`)
    remember(this.runs, runId, run)
    const episodeId = uuidv7({ msecs: Date.now() + WORKFLOW_OFFSET_MS })
    const settings = {
      variantPins: run.variantPins,
      tags: { ...run.tags, ...p.tags, 'tensorzero::dynamic_evaluation_run_id': runId, 'tensorzero::workflow_evaluation_run_id': runId }
    }
    remember(this.episodes, episodeId, settings)
    this.deps.writes?.episode({ runId, episodeId, taskName: p.taskName, ...settings })
    return { episode_id: episodeId }
  }

  /** Whether the request is in a workflow episode, so `apply` may change it. */
  applies (req: ChatRequest): boolean {
    return req.episodeId !== undefined && isWorkflowEpisodeId(req.episodeId)
  }

  /** The request as its workflow episode changes it; any other request unchanged. */
  async apply (req: ChatRequest): Promise<ChatRequest> {
    const episodeId = req.episodeId
    if (episodeId === undefined || !this.applies(req)) return req
    const run = this.episodes.get(episodeId) ?? await this.lookup('episode', episodeId)
    if (run === null) throw badRequest(`Workflow evaluation run not found for episode id: ${episodeId}`)
    remember(this.episodes, episodeId, run)
    const { target } = req
    const pin = target.kind === 'function' && target.variantName === undefined ? run.variantPins[target.functionName] : undefined
    return { ...req, target: pin === undefined ? target : pinVariant(target, pin), tags: { ...run.tags, ...req.tags } }
  }

  private async lookup (kind: 'run' | 'episode', id: string): Promise<WorkflowRunSettings | null> {
    const reads = this.deps.reads
    if (reads === undefined) return null
    try {
      return kind === 'run' ? await reads.run(id) : await reads.episode(id)
    } catch (err) {
      throw new GatewayError(503, `Failed to look up the workflow evaluation ${kind} ${id} in ClickHouse: ${(err as Error).message}`)
    }
  }
}

function checkTags (tags: Record<string, string>, internal: boolean): void {
  if (internal) return
  for (const key of Object.keys(tags)) {
    if (key.startsWith(RESERVED_PREFIX)) throw badRequest(`Tag name cannot start with 'tensorzero::': ${key}`)
  }
}

function remember (m: Map<string, WorkflowRunSettings>, id: string, settings: WorkflowRunSettings): void {
  m.delete(id)
  m.set(id, settings)
  if (m.size > REMEMBERED) m.delete(m.keys().next().value as string)
}
