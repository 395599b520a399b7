// What one finished HTTP request did, as metrics and log lines read it. The sidecar's RequestLog satisfies this shape;
// keeping it structural here leaves the core free of the HTTP server.
import type { AttemptRecord } from '../../src/core/records.ts'

export interface RequestOutcome {
  /** Route template, never the raw URL. */
  route: string
  method: string
  /** performance.now() at the start. */
  started: number
  status?: number
  inference?: { inferenceId: string; episodeId: string; functionName: string; variantName: string; modelName: string; providerName: string }
  usage?: { inputTokens?: number; outputTokens?: number }
  /** Time to the first chunk written to the client (streams), ms. */
  ttftMs?: number
  error?: { status: number; message: string }
  /** `errorClassOf` of the failure (timeout, rate_limit, server, client, connection, …). */
  errorClass?: string
  streamError?: boolean
  passthrough?: boolean
  /** What the request's `model` resolved to (names the config knows). */
  target?: { kind: string; functionName?: string; modelName?: string }
  /** Provider attempts made for this request, in order. */
  attempts?: AttemptRecord[]
}

export interface RoutingStep {
  /** retry: the variant walked its model's routing again; provider: next provider of the routing; variant: next variant. */
  kind: 'retry' | 'provider' | 'variant'
  from: AttemptRecord
  to: AttemptRecord
}

/**
 * Retries and fallbacks taken, from the attempts of one request: every attempt after a failed one. A different variant
 * is a variant fallback; the same variant starting its model's routing over (position not after the failed one) is a
 * retry; otherwise it is the next provider in the routing.
 */
export function routingSteps (attempts: AttemptRecord[] | undefined, routingIndex: (model: string, provider: string) => number): RoutingStep[] {
  const steps: RoutingStep[] = []
  if (attempts === undefined) return steps
  for (let i = 1; i < attempts.length; i++) {
    const from = attempts[i - 1]
    const to = attempts[i]
    if (from.outcome === 'ok') continue
    let kind: RoutingStep['kind']
    if (from.variantName !== to.variantName) kind = 'variant'
    else if (from.modelName === to.modelName && routingIndex(to.modelName, to.providerName) <= routingIndex(from.modelName, from.providerName)) kind = 'retry'
    else kind = 'provider'
    steps.push({ kind, from, to })
  }
  return steps
}

export const ERROR_CLASSES = new Set(['timeout', 'rate_limit', 'server', 'client', 'connection', 'bad_response', 'credentials', 'unsupported', 'internal', 'client_closed'])

/** The error class of a request, or undefined when it succeeded. A client that went away is `client_closed`. */
export function requestErrorClass (o: RequestOutcome): string | undefined {
  if (o.error === undefined && o.streamError !== true) return undefined
  if (o.error?.status === 499) return 'client_closed'
  const cls = o.errorClass ?? ((o.error?.status ?? 500) < 500 ? 'client' : 'server')
  return ERROR_CLASSES.has(cls) ? cls : 'internal'
}

/** Function, variant, model and provider a request ended on: what served it, else the last attempt, else its target. */
export function servedBy (o: RequestOutcome): { functionName?: string; variantName?: string; modelName?: string; providerName?: string } {
  if (o.inference !== undefined) {
    const { functionName, variantName, modelName, providerName } = o.inference
    return { functionName, variantName, modelName, providerName }
  }
  const last = o.attempts?.at(-1)
  const t = o.target
  const targetFunction = t?.kind === 'function' ? t.functionName : (t?.kind === 'model' ? 'tensorzero::default' : undefined)
  return {
    functionName: targetFunction,
    variantName: last?.variantName,
    modelName: last?.modelName ?? t?.modelName,
    providerName: last?.providerName
  }
}
