// Timeouts at provider, model and variant level share one mechanism: a child AbortController that aborts
// with a TimeoutError naming the level, so the error says which limit fired.
export class TimeoutError extends Error {
  readonly timeoutMs: number
  constructor (what: string, timeoutMs: number) {
    super(`${what} timed out after ${timeoutMs} ms`)
    this.name = 'TimeoutError'
    this.timeoutMs = timeoutMs
  }
}

export interface Deadline {
  signal: AbortSignal
  /** Stop the timer but keep following the parent (a stream's ttft limit, once its first chunk arrived). */
  stopTimer (): void
  /** Stop the timer and detach from the parent (the work finished). */
  clear (): void
}

/** A signal that aborts when `parent` does, or after `ms` with a TimeoutError. `ms` undefined: parent only. */
export function deadline (parent: AbortSignal, ms: number | undefined, what: string): Deadline {
  if (ms === undefined) return { signal: parent, stopTimer: noop, clear: noop }
  const controller = new AbortController()
  const onAbort = (): void => controller.abort(parent.reason)
  if (parent.aborted) controller.abort(parent.reason)
  else parent.addEventListener('abort', onAbort, { once: true })
  const timer = setTimeout(() => controller.abort(new TimeoutError(what, ms)), ms)
  return {
    signal: controller.signal,
    stopTimer () { clearTimeout(timer) },
    clear () {
      clearTimeout(timer)
      parent.removeEventListener('abort', onAbort)
    }
  }
}

function noop (): void {}

/**
 * Whole milliseconds since `started` (a `performance.now()` reading), rounded up: a provider that answered in under
 * a millisecond (the in-process `dummy` type) took some time, and rounding down would record it as 0 like a cache hit.
 */
export function elapsedMs (started: number): number {
  return Math.max(1, Math.ceil(performance.now() - started))
}
