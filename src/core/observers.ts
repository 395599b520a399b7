// Several observers behind one: each hears every event; one that throws never stops the others or the request.
import type { InferenceObserver } from './records.ts'

export function combineObservers (...observers: Array<InferenceObserver | undefined>): InferenceObserver {
  const list = observers.filter((o): o is InferenceObserver => o !== undefined)
  return {
    onInference (record) { for (const o of list) { try { o.onInference?.(record) } catch {} } },
    onAttempt (attempt) { for (const o of list) { try { o.onAttempt?.(attempt) } catch {} } },
    onFeedback (record) { for (const o of list) { try { o.onFeedback?.(record) } catch {} } },
    onCircuit (event) { for (const o of list) { try { o.onCircuit?.(event) } catch {} } },
    onWarning (event) { for (const o of list) { try { o.onWarning?.(event) } catch {} } },
    onRateLimit (event) { for (const o of list) { try { o.onRateLimit?.(event) } catch {} } }
  }
}
