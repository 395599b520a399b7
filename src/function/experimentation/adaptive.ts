// Adaptive (track-and-stop) experiments of one gateway: their states are recomputed in the background, every
// `update_period_s`, from the feedback statistics in ClickHouse; a request only reads the last state. When the
// statistics cannot be read, the last state stays (the start state before any) and one warning says so per outage.
import type { Experimentation, FunctionConfig, TensorZeroConfig, TrackAndStopSettings } from '../../core/config.ts'
import type { EpisodeVariants, FeedbackStatisticsReads } from '../../core/stored-data.ts'
import { computeState, initialState, sampleState } from './track-and-stop.ts'
import type { TrackAndStopState } from './track-and-stop.ts'

/** Episodes whose variant one process remembers when it has no Postgres; the oldest are forgotten first. */
const REMEMBERED_EPISODES = 100_000

/**
 * Until the first statistics are read, a failed read is retried this soon rather than a whole period later:
 * TensorZero reads them only after its migrations ran, the sidecar's store may still be creating the tables.
 */
const FIRST_READ_RETRY_MS = 5_000

interface Experiment {
  fn: FunctionConfig
  /** The namespace whose experiment this is (its statistics count only that namespace's inferences); none: the base one. */
  namespace?: string
  settings: TrackAndStopSettings
  state: TrackAndStopState
  updating: boolean
  /** Some statistics were read since start. */
  read: boolean
  /** The last update failed: the next failure is the same outage, not worth another warning. */
  failing: boolean
  /** A quick retry of the first read is scheduled: at most one at a time, whatever else fails meanwhile. */
  retrying: boolean
}

/** Experiments of one gateway are keyed by function and namespace (TensorZero runs one per pair). */
const experimentKey = (functionName: string, namespace: string | undefined): string =>
  namespace === undefined ? functionName : `${functionName}\u0000${namespace}`

export interface AdaptiveExperimentsOptions {
  /** Absent: no ClickHouse, so no feedback (TensorZero with ClickHouse disabled reads none either). */
  statistics?: FeedbackStatisticsReads
  /** Where an episode's variant is kept: Postgres (shared with other sidecars and the gateway), or a process's memory. */
  episodes: EpisodeVariants
  onWarning?: (message: string) => void
}

export class AdaptiveExperiments {
  private readonly experiments = new Map<string, Experiment>()
  private readonly episodes: EpisodeVariants
  private readonly timers: NodeJS.Timeout[] = []
  private closed = false
  private readonly opts: AdaptiveExperimentsOptions

  constructor (config: TensorZeroConfig, opts: AdaptiveExperimentsOptions) {
    this.opts = opts
    this.episodes = opts.episodes
    for (const fn of config.functions.values()) {
      this.start(fn, undefined, fn.experimentation)
      for (const [namespace, settings] of fn.namespaceExperimentation ?? []) this.start(fn, namespace, settings)
    }
  }

  /** The current state of a function's experiment, or of its namespace's (for tests and status). */
  state (functionName: string, namespace?: string): TrackAndStopState | undefined {
    return this.experiments.get(experimentKey(functionName, namespace))?.state
  }

  /**
   * Variant names in the order they are tried for this episode, as TensorZero samples them: the state picks one
   * among the variants not yet tried; an episode that already has a variant keeps it (and once that one was tried,
   * only the fallbacks are left); when the state picks none, the first fallback not yet tried.
   * The episode's variant cannot be looked up: that error for the first variant; once a variant was tried (and failed,
   * or the caller would not ask for the next), the order ends, so the caller reports the failures it has, as TensorZero does.
   */
  async * order (fn: FunctionConfig, namespace: string | undefined, episodeId: string, u: number): AsyncGenerator<string> {
    const experiment = this.experiments.get(experimentKey(fn.name, namespace))
    if (experiment === undefined) return
    const { settings } = experiment
    const active = [...fn.sortedVariantNames]
    const firstFallback = (): string | undefined => settings.fallbacks.find(name => active.includes(name))
    while (active.length > 0) {
      const picked = sampleState(experiment.state, active, u)
      let name: string | undefined
      if (picked !== undefined) {
        let kept: string
        try {
          kept = await this.episodes.checkAndSet(fn.name, episodeId, picked)
        } catch (err) {
          if (active.length < fn.sortedVariantNames.length) return
          throw err
        }
        name = active.includes(kept) ? kept : firstFallback()
      } else {
        name = firstFallback()
      }
      if (name === undefined) return
      active.splice(active.indexOf(name), 1)
      yield name
    }
  }

  close (): void {
    this.closed = true
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.length = 0
  }

  private start (fn: FunctionConfig, namespace: string | undefined, settings: Experimentation): void {
    if (settings.type !== 'track_and_stop') return
    const experiment: Experiment = { fn, settings, state: initialState(settings), updating: false, read: false, failing: false, retrying: false }
    if (namespace !== undefined) experiment.namespace = namespace
    this.experiments.set(experimentKey(fn.name, namespace), experiment)
    void this.update(experiment)
    const timer = setInterval(() => { void this.update(experiment) }, settings.updatePeriodMs)
    timer.unref()
    this.timers.push(timer)
  }

  private async update (experiment: Experiment): Promise<void> {
    if (experiment.updating) return
    experiment.updating = true
    const { fn, settings, namespace } = experiment
    try {
      // TensorZero caps a namespace's samples per variant; the base experiment reads the pre-aggregated totals uncapped.
      const scope = namespace === undefined ? undefined : { namespace, maxSamplesPerVariant: settings.maxSamplesPerVariant }
      const feedback = this.opts.statistics === undefined
        ? []
        : await this.opts.statistics.feedbackByVariant(settings.metric, fn.name, settings.candidates, scope)
      experiment.state = computeState(settings, feedback)
      experiment.read = true
      experiment.failing = false
    } catch (err) {
      if (!experiment.failing) {
        this.opts.onWarning?.(`adaptive experimentation of function \`${fn.name}\`${namespace === undefined ? '' : ` (namespace \`${namespace}\`)`}: feedback statistics could not be used` +
          ` (${err instanceof Error ? err.message : String(err)}); sampling keeps the last probabilities until they can`)
      }
      experiment.failing = true
      if (!experiment.read && !experiment.retrying && !this.closed && FIRST_READ_RETRY_MS < settings.updatePeriodMs) {
        experiment.retrying = true
        const retry = setTimeout(() => {
          this.timers.splice(this.timers.indexOf(retry), 1)
          experiment.retrying = false
          void this.update(experiment)
        }, FIRST_READ_RETRY_MS)
        retry.unref()
        this.timers.push(retry)
      }
    } finally {
      experiment.updating = false
    }
  }
}

/** Episode → variant in this process only (no Postgres): the last REMEMBERED_EPISODES episodes. */
export class RememberedEpisodes implements EpisodeVariants {
  private readonly variants = new Map<string, string>()

  async checkAndSet (functionName: string, episodeId: string, candidate: string): Promise<string> {
    const key = `${functionName}\u0000${episodeId}`
    const known = this.variants.get(key)
    if (known !== undefined) return known
    this.variants.set(key, candidate)
    if (this.variants.size > REMEMBERED_EPISODES) this.variants.delete(this.variants.keys().next().value as string)
    return candidate
  }
}
