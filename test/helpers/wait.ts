// Waiting for a condition in a test: polled every 100 ms, with a generous bound (never an assertion on duration).
export async function waitFor<T> (what: string, fn: () => Promise<T | undefined>, limitMs = 30_000): Promise<T> {
  const until = Date.now() + limitMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
