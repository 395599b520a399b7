// Retry delays for variant retries: 1 s, doubling, capped at max_delay_s, with full jitter over the upper half
// so many sidecars retrying the same outage do not stampede in lockstep.
import type { RetryConfig } from './config.ts'

export function retryDelayMs (attempt: number, retries: RetryConfig, random: () => number = Math.random): number {
  const capMs = retries.maxDelayS * 1000
  const base = Math.min(1000 * 2 ** attempt, capMs)
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
