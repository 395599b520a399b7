// Waiting between tries: one capped exponential delay, shaped by each caller's jitter.
import type { RetryConfig } from './config.ts'

/** `initialMs` doubled once per earlier retry (`attempt` 0 is the first retry), never above `capMs`. */
export function exponentialDelayMs (attempt: number, initialMs: number, capMs: number): number {
  return Math.min(capMs, initialMs * 2 ** attempt)
}

/**
 * Variant retries: 1 s, doubling, capped at max_delay_s, with full jitter over the upper half so many sidecars
 * retrying the same outage do not stampede in lockstep.
 */
export function retryDelayMs (attempt: number, retries: RetryConfig, random: () => number = Math.random): number {
  const base = exponentialDelayMs(attempt, 1000, retries.maxDelayS * 1000)
  return base / 2 + random() * (base / 2)
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve()
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(signal.reason); return }
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = (): void => { clearTimeout(timer); reject(signal?.reason) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
