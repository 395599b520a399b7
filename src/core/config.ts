// The validated, resolved configuration. The loader checks every field once; everything downstream trusts these types.
import type { InferenceParams, ToolChoice } from './types.ts'

/** Where a config value came from, for `file:line:col` messages. */
export interface SourceRef { file: string; line: number; col: number }

export interface ConfigDiagnostic extends SourceRef {
  severity: 'error' | 'warning'
  message: string
}

export interface TimeoutsConfig {
  nonStreamingTotalMs?: number
  streamingTtftMs?: number
  streamingTotalMs?: number
}

/** `api_key_location` parsed. `default` means the adapter's default env var. */
export type SingleKeyLocation =
  | { kind: 'env'; name: string }
  | { kind: 'path'; path: string }
  | { kind: 'path_from_env'; name: string }
  | { kind: 'dynamic'; name: string }
  | { kind: 'none' }

/** `api_key_location = { default = …, fallback = … }`: the fallback is used when the default yields no key. */
export type KeyLocation = SingleKeyLocation | { kind: 'with_fallback'; default: SingleKeyLocation; fallback: SingleKeyLocation }

/** One `cost` entry of a provider: a JSON pointer into its raw answer (one per mode), times a rate in dollars. */
export interface CostEntry { pointerNonStreaming: string; pointerStreaming: string; perUnit: number; required: boolean }

/** `extra_body` and `extra_headers` entries as a provider or a variant writes them. */
export interface ExtraBodyEntry { pointer: string; value?: unknown; delete?: boolean }
export interface ExtraHeaderEntry { name: string; value?: string; delete?: boolean }

/** What a provider or a variant adds to every call through it: its limits, body patches and headers. */
interface CallSettings {
  timeouts: TimeoutsConfig
  /** `cost`: how to price one answer of this provider. */
  cost?: CostEntry[]
  extraBody?: ExtraBodyEntry[]
  extraHeaders?: ExtraHeaderEntry[]
}

export interface ProviderConfig extends CallSettings {
  name: string
  type: string
  modelName: string
  apiBase?: string
  /** Resolved: explicit location, else the type's default env var, else none. */
  keyLocation: KeyLocation
  /** Keys specific to a provider type (e.g. azure deployment_id, gemini location) kept as given. */
  options: Record<string, unknown>
  source: SourceRef
}

export interface ModelConfig {
  name: string
  routing: string[]
  providers: Map<string, ProviderConfig>
  timeouts: TimeoutsConfig
  /** Built from a `provider::model` shorthand rather than a `[models.*]` table. */
  shorthand: boolean
  /** TensorZero's `namespace`: only requests of that namespace may call the model. */
  namespace?: string
  source: SourceRef
}

export interface EmbeddingModelConfig extends ModelConfig {}

export interface RetryConfig { numRetries: number; maxDelayS: number }

export interface TemplateRef {
  path: string
  source: SourceRef
  /** Declared as `input_wrappers.<role>` (TensorZero's deprecated form): it only ever wraps the role's plain text. */
  inputWrapper?: true
}

export interface VariantConfig extends CallSettings {
  name: string
  type: string
  model?: string
  weight?: number
  templates: { system?: TemplateRef; user?: TemplateRef; assistant?: TemplateRef; [name: string]: TemplateRef | undefined }
  /** Sampling parameters the variant sets, under their TensorZero names; a request's own override them. */
  params: InferenceParams
  retries: RetryConfig
  /** The raw table (legacy template forms are told apart by it; types the core does not serve keep their keys here). */
  raw: Record<string, unknown>
  /** best-of-N and mixture-of-N: variants of the same function run as candidates, in this order (a name may repeat). */
  candidates?: string[]
  /**
   * best-of-N: the evaluator; mixture-of-N: the fuser. A chat_completion-like config of its own (model, templates,
   * sampling parameters, retries), named after the variant it belongs to.
   */
  judge?: VariantConfig
  /** `experimental_dynamic_in_context_learning` only: where its examples come from and how many. */
  dicl?: DiclSettings
  /** TensorZero's `namespace`: only that namespace's experiment may sample the variant. */
  namespace?: string
  source: SourceRef
}

/** The variant and its evaluator or fuser: the configs that name a model and templates of their own. */
export function completionConfigs (variant: VariantConfig): VariantConfig[] {
  return variant.judge === undefined ? [variant] : [variant, variant.judge]
}

/** A DICL variant's own keys (`model`, sampling keys, retries and timeouts live on the variant as for chat_completion). */
export interface DiclSettings {
  embeddingModel: string
  /** How many nearest examples are fetched. */
  k: number
  /** The system prompt: the file's text, or TensorZero's default instructions. */
  systemInstructions: string
  /** Examples farther than this cosine distance are dropped. */
  maxDistance?: number
}

/** `experimentation.type = "adaptive"` (algorithm `track_and_stop`) and the legacy `type = "track_and_stop"`. */
export interface TrackAndStopSettings {
  type: 'track_and_stop'
  metric: string
  optimize: 'max' | 'min'
  candidates: string[]
  fallbacks: string[]
  minSamplesPerVariant: number
  delta: number
  epsilon: number
  updatePeriodMs: number
  minProb: number
  maxSamplesPerVariant: number
}

export type Experimentation =
  | { type: 'uniform' }
  | { type: 'legacy_weights' }
  | { type: 'static'; candidates: Map<string, number>; fallbacks: string[] }
  | TrackAndStopSettings

export interface FunctionConfig {
  name: string
  type: 'chat' | 'json'
  variants: Map<string, VariantConfig>
  /** Variant names sorted, the order sampling walks. */
  sortedVariantNames: string[]
  /** The base experiment: requests without a namespace, or of a namespace without an experiment of its own. */
  experimentation: Experimentation
  /** `experimentation.namespaces`: the experiment a request of that namespace samples. */
  namespaceExperimentation?: Map<string, Experimentation>
  schemas: { system?: SchemaRef; user?: SchemaRef; assistant?: SchemaRef; [name: string]: SchemaRef | undefined }
  tools: string[]
  toolChoice: ToolChoice
  parallelToolCalls?: boolean
  outputSchema?: SchemaRef
  description?: string
  source: SourceRef
}

export interface SchemaRef { path: string; schema: Record<string, unknown>; source: SourceRef }

export interface MetricConfig {
  name: string
  type: 'boolean' | 'float' | 'comment' | 'demonstration'
  optimize: 'max' | 'min'
  level: 'inference' | 'episode'
  source: SourceRef
}

export interface ToolConfig {
  name: string
  /** Name sent to the model (`name` key), defaults to the table key. */
  wireName: string
  description: string
  parameters: SchemaRef
  strict: boolean
  source: SourceRef
}

export interface GatewayConfig {
  /** `observability.enabled`: false turns ClickHouse rows off. */
  observabilityEnabled?: boolean
  batchWrites: { flushIntervalMs: number; maxRows: number }
  /** `template_filesystem_access.base_path`, absolute: where `{% include %}` names are looked up (nowhere when unset). */
  templateBasePath?: string
}

export interface TensorZeroConfig {
  files: string[]
  gateway: GatewayConfig
  models: Map<string, ModelConfig>
  embeddingModels: Map<string, EmbeddingModelConfig>
  functions: Map<string, FunctionConfig>
  metrics: Map<string, MetricConfig>
  tools: Map<string, ToolConfig>
  /** `[rate_limiting]`, when the config has one. */
  rateLimiting?: RateLimitingConfig
}

/** Route target of the per-service file. */
export type RouteTarget =
  | { kind: 'function'; functionName: string; variantName?: string }
  | { kind: 'model'; modelName: string }
  | { kind: 'embedding_model'; modelName: string }

export interface SidecarConfig {
  file?: string
  service: string
  unmatched: 'reject' | 'passthrough'
  passthroughUpstream?: string
  /** `Authorization` value sent to the passthrough upstream (from `passthrough_api_key_location`); the client's is never forwarded. */
  passthroughAuthorization?: string
  /** Exact names, checked first. */
  exactRoutes: Map<string, RouteTarget>
  /** Glob routes in file order. */
  globRoutes: Array<{ pattern: string; glob: Glob; target: RouteTarget }>
  /** `[health]`: when a model provider that keeps failing is skipped (the circuit breaker). */
  health: HealthConfig
}

/**
 * `[health]` of the per-service file. A provider (model name + provider name) opens after `consecutiveFailures`
 * failures in a row, or when at least `minRequests` calls in the last `windowMs` failed at `errorRate` or more; it is
 * skipped for a cool-down, then one request probes it. Each failed probe doubles the cool-down, up to `maxCooldownMs`.
 */
export interface HealthConfig {
  enabled: boolean
  consecutiveFailures: number
  /** A fraction in (0, 1]. */
  errorRate: number
  windowMs: number
  minRequests: number
  cooldownMs: number
  maxCooldownMs: number
}

export interface LoadedConfig {
  tensorzero: TensorZeroConfig
  sidecar: SidecarConfig
  warnings: ConfigDiagnostic[]
}

/** A `[routes]` key with `*` wildcards, compiled once. */
export interface Glob { test (name: string): boolean }

// ---- `[rate_limiting]` ----

export type RateLimitResource = 'model_inference' | 'token' | 'cost'
export type RateLimitInterval = 'second' | 'minute' | 'hour' | 'day' | 'week' | 'month'

/** A bucket: `capacity` tickets at most, `refillRate` added back per whole `interval`. Cost buckets count nano-dollars. */
export interface RateLimit {
  resource: RateLimitResource
  interval: RateLimitInterval
  capacity: number
  refillRate: number
}

export type TagValueScope = { kind: 'concrete'; value: string } | { kind: 'each' } | { kind: 'total' }
export type ApiKeyValueScope = { kind: 'concrete'; value: string } | { kind: 'each' }

export type RateLimitScope =
  | { kind: 'tag'; tagKey: string; tagValue: TagValueScope }
  | { kind: 'api_key_public_id'; value: ApiKeyValueScope }

export interface RateLimitRule {
  limits: RateLimit[]
  /** Sorted as TensorZero sorts them: the order is part of every bucket key. */
  scopes: RateLimitScope[]
  priority: number | 'always'
  /** A closed label naming the rule for metrics: its scopes as the config writes them (or `(all requests)`). */
  label: string
  source: SourceRef
}

export interface RateLimitingConfig {
  rules: RateLimitRule[]
  /** `enabled = false` keeps the rules but enforces none. */
  enabled: boolean
  backend: 'auto' | 'valkey' | 'postgres'
  /** What a request is assumed to cost before its real cost is known (nano-dollars; default $1). */
  defaultNanoCost: number
  source: SourceRef
}
