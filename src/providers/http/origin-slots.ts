// A bound on the calls in flight to one provider origin, with a deadline for waiting. undici's Pool would queue a call
// past its connections silently and without limit; here a call waits at most `queueTimeoutMs` for a free slot, then
// fails that provider with a reason that says so (the model walk moves on to the next provider).
import { ProviderError } from '../../core/errors.ts'

interface Waiter { grant: () => void }

export class OriginSlots {
  private readonly origin: string
  private readonly size: number
  private readonly queueTimeoutMs: number
  private active = 0
  private readonly waiting: Waiter[] = []

  constructor (origin: string, size: number, queueTimeoutMs: number) {
    this.origin = origin
    this.size = size
    this.queueTimeoutMs = queueTimeoutMs
  }

  /** Resolves with a release function (safe to call more than once) once a slot is free. */
  async acquire (signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) throw signal.reason
    if (this.active < this.size) { this.active++; return this.releaser() }
    return await new Promise<() => void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => { settle(); this.active++; resolve(this.releaser()) }
      }
      const leave = (err: unknown): void => {
        const i = this.waiting.indexOf(waiter)
        if (i >= 0) this.waiting.splice(i, 1)
        settle()
        reject(err)
      }
      const onAbort = (): void => { leave(signal.reason) }
      const timer = setTimeout(() => {
        leave(new ProviderError(`no connection to ${this.origin} became free within ${this.queueTimeoutMs} ms: all ${this.size} are busy ` +
          '(SIDECAR_PROVIDER_CONNECTIONS, SIDECAR_PROVIDER_QUEUE_TIMEOUT_MS)', 'connection'))
      }, this.queueTimeoutMs)
      const settle = (): void => { clearTimeout(timer); signal.removeEventListener('abort', onAbort) }
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiting.push(waiter)
    })
  }

  private releaser (): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      this.active--
      this.waiting.shift()?.grant()
    }
  }
}
