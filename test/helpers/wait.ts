// Waiting for a condition in a test: polled every 100 ms, with a generous bound (never an assertion on duration).
// A check that throws counts as "not yet" until the bound (e.g. a query racing the sidecar's own table creation on a
// loaded machine); past it, the last error is what the test sees.
export async function waitFor<T> (what: string, fn: () => Promise<T | undefined>, limitMs = 30_000): Promise<T> {
  const until = Date.now() + limitMs
  for (;;) {
    let lastError: unknown
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (err) {
      lastError = err
    }
    if (Date.now() > until) {
      if (lastError !== undefined) throw lastError
      throw new Error(`gave up waiting for ${what}`)
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
