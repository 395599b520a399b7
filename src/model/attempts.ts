// How a provider attempt of the model walk is told to the observers: which variant, try and routing position it
// was (first call, retry, provider or variant fallback), how it ended and how long it took.
import type { ModelConfig, ProviderConfig } from '../core/config.ts'
import type { AttemptKind, AttemptRecord, InferenceObserver } from '../core/records.ts'
import { errorClassOf, type ErrorClass } from '../core/errors.ts'

/** Where an attempt stands in its request, and who hears of it. */
export interface AttemptScope {
  observer?: InferenceObserver
  functionName?: string
  variantName?: string
  /** Which try of its variant this walk is (0: the first; n: the n-th retry). */
  retryIndex?: number
  /** Position of the variant in the function's sampled order (0: the first chosen; n: the n-th fallback). */
  variantIndex?: number
}

export function reportAttempt (ctx: AttemptScope, model: ModelConfig, provider: ProviderConfig, routingIndex: number, outcome: AttemptRecord['outcome'],
  started: number, message?: string): void {
  ctx.observer?.onAttempt?.({
    functionName: ctx.functionName,
    variantName: ctx.variantName,
    modelName: model.name,
    providerName: provider.name,
    providerType: provider.type,
    outcome,
    kind: attemptKind(ctx, routingIndex),
    durationMs: performance.now() - started,
    message
  })
}

function attemptKind (ctx: AttemptScope, routingIndex: number): AttemptKind {
  if (routingIndex > 0) return 'provider_fallback'
  if ((ctx.retryIndex ?? 0) > 0) return 'retry'
  if ((ctx.variantIndex ?? 0) > 0) return 'variant_fallback'
  return 'first'
}

/** An attempt's error class; an error of no class of its own came from the transport. */
export function attemptOutcome (err: Error): ErrorClass {
  const cls = errorClassOf(err, 'connection')
  return cls === 'internal' ? 'connection' : cls
}
