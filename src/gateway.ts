// The gateway as a library, and the one place it is put together: config in; inferences, embeddings and feedback out;
// rows to the store. The sidecar's HTTP server, the bench and the SDK's embedded mode all build it with
// `createGateway`; none of them needs to know about routing, providers, retries, templates or where rows go.
import type { LoadedConfig, ModelConfig } from './core/config.ts'
import type { CacheOptions } from './core/cache.ts'
import type { InferenceObserver, InferenceRecord } from './core/records.ts'
import type { ChatRequest } from './core/request.ts'
import type { EmbeddingRequest, EmbeddingResponse, AudioRequest, AudioAnswer } from './core/types.ts'
import { combineObservers } from './core/observers.ts'
import { TargetResolver } from './function/resolve.ts'
import type { Resolution } from './function/resolve.ts'
import { Transport, transportSettingsFromEnv } from './providers/http/transport.ts'
import { runChat } from './function/run.ts'
import type { CompletedInference, StreamingInference, GatewayContext } from './function/run.ts'
import { embedModel } from './model/route.ts'
import { audioModel } from './model/audio.ts'
import { ProviderHealth } from './model/health.ts'
import { templatePreparer } from './variant/templates/prepare.ts'
import type { ClickHouseSink, SinkStatus } from './store/writer.ts'
import { handleFeedback } from './feedback/handle.ts'
import type { FeedbackDeps, FeedbackReply } from './feedback/handle.ts'
import { RecentTargets } from './feedback/known-targets.ts'
import type { ExchangeReads } from './core/exchanges.ts'
import { RecentExchanges } from './store/recent-exchanges.ts'
import { layeredExchanges } from './store/stored-exchange.ts'
import { AdaptiveExperiments, RememberedEpisodes } from './function/experimentation/adaptive.ts'
import { RateLimiter } from './model/rate-limits.ts'
import type { RateLimitStore } from './core/rate-limiting.ts'
import type { EpisodeVariants } from './core/stored-data.ts'
import { rateLimitTimeoutMs } from './store/open-rate-limits.ts'
import { numberFromEnv } from './core/env.ts'
import { WorkflowEvaluations, rememberedWorkflowRuns } from './function/workflow-evaluation.ts'
import type { RememberedWorkflowRuns, WorkflowEpisodeParams, WorkflowRunParams } from './function/workflow-evaluation.ts'

export interface GatewayOptions {
  /** Credentials (`env::VAR`) are read here; default process.env. */
  env?: NodeJS.ProcessEnv
  /** Hears every inference, attempt and feedback besides the store (metrics, logs). */
  observer?: InferenceObserver
  /** Where rows go and stored feedback targets are read; absent: nothing is recorded. */
  store?: ClickHouseSink
  /** Where `[rate_limiting]` buckets live (Valkey or Postgres, shared with the TensorZero gateway); absent: none enforced. */
  rateLimits?: RateLimitStore
  /** Where adaptive experiments keep episode → variant (Postgres, shared with the TensorZero gateway); absent: `memory`. */
  episodeVariants?: EpisodeVariants
  /** What this process remembers of the inferences it served; a reloaded config's gateway is handed the same one. */
  memory?: GatewayMemory
}

/**
 * The inferences a process served, for feedback targets and `previous_response_id`, the workflow evaluation runs
 * it knows, and, without Postgres, its adaptive experiments' episode → variant: kept across config reloads.
 */
export interface GatewayMemory { targets: RecentTargets; exchanges: RecentExchanges; workflowRuns: RememberedWorkflowRuns; episodes: EpisodeVariants }

export function gatewayMemory (): GatewayMemory {
  return { targets: new RecentTargets(), exchanges: new RecentExchanges(), workflowRuns: rememberedWorkflowRuns(), episodes: new RememberedEpisodes() }
}

/** What /status reports about the store. */
export type StoreReport = ((SinkStatus & { spooling: boolean }) | { clickhouse: 'disabled' }) & {
  rate_limiting?: ReturnType<RateLimiter['status']>
}

export interface Gateway {
  readonly config: LoadedConfig
  /** What a request's `model` names: a function, a model, an embedding model, or the pass-through upstream. */
  resolve (model: string): Resolution
  /** `observer` hears this call's events besides the gateway's own observers (e.g. the log of one HTTP request). */
  chat (req: ChatRequest, signal: AbortSignal, observer?: InferenceObserver): Promise<CompletedInference | StreamingInference>
  /** `cache`: `tensorzero::cache_options` as the request's dry run makes them (`effectiveCacheOptions`). */
  embed (modelName: string, req: EmbeddingRequest, signal: AbortSignal, credentials?: Record<string, string>,
    observer?: InferenceObserver, cache?: CacheOptions): Promise<EmbeddingResponse & { providerName: string }>
  /** Earlier inferences' input and output, to continue a conversation (`previous_response_id`): memory, then ClickHouse. */
  readonly exchanges: ExchangeReads
  /** An audio call on a model's providers in routing order; the answer's body is the caller's to read, then dispose. */
  audio (model: ModelConfig, req: AudioRequest, signal: AbortSignal, observer?: InferenceObserver): Promise<AudioAnswer>
  /** `POST /feedback` as TensorZero answers it; the row goes to the store and the observers. */
  feedback (body: unknown): Promise<FeedbackReply>
  /** `POST /workflow_evaluation_run`: checks the pins against this config, records the run. */
  workflowEvaluationRun (params: WorkflowRunParams): { run_id: string }
  /** `POST /workflow_evaluation_run/{run_id}/episode`: an episode id whose inferences take the run's pins and tags. */
  workflowEvaluationEpisode (runId: string, params: WorkflowEpisodeParams): Promise<{ episode_id: string }>
  /** Resolves once every inference and feedback recorded so far is in the spool, so it survives the process dying. */
  persisted (): Promise<void>
  status (): StoreReport
  /** Stops its experiments' polling and closes provider connections, leaving the store open: a reloaded config's gateway shares it. */
  retire (): Promise<void>
  /** Closes provider connections, then the store (which ships what it can and leaves the rest on disk). */
  close (): Promise<void>
}

export function createGateway (config: LoadedConfig, opts: GatewayOptions = {}): Gateway {
  const { store } = opts
  // Rows built from now on know this config's functions (configured tools vs request tools).
  store?.useConfig(config.tensorzero)
  const resolver = new TargetResolver(config)
  const transport = new Transport(transportSettingsFromEnv(opts.env ?? process.env))
  // Feedback accepts the ids this process issued at once; others are looked up in the store.
  const { targets: recent, exchanges: recentExchanges, workflowRuns: rememberedRuns, episodes } = opts.memory ?? gatewayMemory()
  // Runs are recorded through the store and, with ClickHouse, runs other processes created are read from it.
  const workflows = new WorkflowEvaluations({ writes: store?.workflowRuns, reads: store?.workflowRuns.reads }, rememberedRuns)
  const remember = { onInference: (rec: InferenceRecord) => { recent.remember(rec); recentExchanges.remember(rec) } }
  const observer = combineObservers(remember, store?.observer, opts.observer)
  // One set of circuits for every request: a provider that keeps failing is skipped by all of them.
  const settings = config.sidecar.health
  const health = settings.enabled ? new ProviderHealth(settings, { onChange: e => { observer.onCircuit?.(e) } }) : undefined
  const rateLimits = config.tensorzero.rateLimiting
  const rateLimiter = opts.rateLimits === undefined || rateLimits === undefined
    ? undefined
    : new RateLimiter(rateLimits, opts.rateLimits, { onEvent: e => { observer.onRateLimit?.(e) }, timeoutMs: rateLimitTimeoutMs(opts.env ?? process.env) })
  const ctx: GatewayContext = {
    config: config.tensorzero,
    resolver,
    transport,
    env: opts.env ?? process.env,
    observer,
    // Templates are compiled once, here; requests only render them.
    templates: templatePreparer(config.tensorzero),
    health,
    // DICL examples and experiment statistics come from the store's ClickHouse, when there is one.
    diclExamples: store?.experimentReads,
    experiments: new AdaptiveExperiments(config.tensorzero, {
      statistics: store?.experimentReads,
      episodes: opts.episodeVariants ?? episodes,
      onWarning: message => { observer.onWarning?.({ source: 'adaptive_experimentation', message }) }
    }),
    rateLimiter,
    // `tensorzero::cache_options` reads and writes the store's `ModelInferenceCache`; a lookup gives up after this long.
    cache: store?.cache === undefined ? undefined : { store: store.cache, lookupTimeoutMs: numberFromEnv(opts.env ?? process.env, 'SIDECAR_CACHE_LOOKUP_TIMEOUT_MS', 20) }
  }
  const feedbackDeps: FeedbackDeps = {
    config: config.tensorzero,
    knownTargets: recent,
    lookupInClickHouse: store?.reads,
    enqueue: rec => { observer.onFeedback?.(rec) },
    enqueueHumanEvaluation: store === undefined ? undefined : rec => { store.humanEvaluation(rec) },
    onWarning: message => { observer.onWarning?.({ source: 'feedback', message }) }
  }
  const observerWith = (call: InferenceObserver | undefined): InferenceObserver => call === undefined ? observer : combineObservers(observer, call)
  const nothingToPersist = Promise.resolve()

  return {
    config,
    resolve: model => resolver.resolve(model),
    chat: (req, signal, call) => {
      const c = call === undefined ? ctx : { ...ctx, observer: observerWith(call) }
      // Only a workflow episode's request waits for its run; every other request goes straight to the variant loop.
      return workflows.applies(req) ? workflows.apply(req).then(changed => runChat(c, changed, signal)) : runChat(c, req, signal)
    },
    async embed (modelName, req, signal, credentials, call, cacheOptions) {
      const model = resolver.embeddingModel(modelName)
      const cache = ctx.cache === undefined || cacheOptions === undefined ? undefined : { ...ctx.cache, options: cacheOptions }
      return await embedModel(model, req, { transport, env: ctx.env, credentials, signal, observer: observerWith(call), health, rateLimiter, cache })
    },
    exchanges: layeredExchanges(recentExchanges, store?.exchanges),
    audio: async (model, req, signal, call) => await audioModel(model, req, { transport, env: ctx.env, signal, observer: observerWith(call), health }),
    feedback: async body => await handleFeedback(body, feedbackDeps),
    workflowEvaluationRun: params => workflows.createRun(config.tensorzero, params),
    workflowEvaluationEpisode: async (runId, params) => await workflows.createEpisode(runId, params),
    persisted: () => store === undefined ? nothingToPersist : store.whenPersisted(),
    status () {
      const limits = rateLimiter === undefined ? {} : { rate_limiting: rateLimiter.status() }
      if (store === undefined) return { clickhouse: 'disabled', ...limits }
      const st = store.status()
      return { ...st, spooling: st.clickhouse !== 'connected', ...limits }
    },
    retire: async () => {
      ctx.experiments?.close()
      await transport.close()
    },
    async close () {
      ctx.experiments?.close()
      await transport.close()
      await store?.close()
    }
  }
}
