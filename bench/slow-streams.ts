// 500 concurrent slow streams through the sidecar: the upstream writes one chunk every 50 ms (`bench-slow`), every
// stream is read to its `[DONE]` on its own connection, and the sidecar's RSS is sampled throughout. A "stall" is a
// gap of STALL_MS or more between two chunks a client receives after its first byte.
import { Pool } from 'undici'
import { SLOW_CLIENT_MODEL } from './config.ts'
import { CHAT_PATH, HEADERS, chatBody } from './load.ts'
import { rssBytes } from './procs.ts'
import { percentile } from './stats.ts'

const STALL_MS = 1000

export interface SlowStreamsRun {
  streams: number
  complete: number
  failures: string[]
  peakRss: number
  firstByteP50: number
  firstByteMax: number
  maxGapMs: number
  stalls: number
  wallMs: number
}

export async function slowStreamsRun (origin: string, pid: number, streams: number, timeoutMs: number): Promise<SlowStreamsRun> {
  const pool = new Pool(origin, { connections: streams, pipelining: 1, keepAliveTimeout: 10_000 })
  const body = chatBody(true, SLOW_CLIENT_MODEL)
  const signal = AbortSignal.timeout(timeoutMs)
  let peakRss = rssBytes(pid)
  const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssBytes(pid)) }, 100)
  const firstBytes: number[] = []
  let maxGapMs = 0
  let stalls = 0
  const failures: string[] = []
  const t0 = performance.now()
  const one = async (): Promise<boolean> => {
    const start = performance.now()
    const res = await pool.request({ path: CHAT_PATH, method: 'POST', headers: HEADERS, body, signal })
    let last = NaN
    let tail = ''
    for await (const chunk of res.body) {
      const now = performance.now()
      if (Number.isNaN(last)) firstBytes.push(now - start)
      else {
        maxGapMs = Math.max(maxGapMs, now - last)
        if (now - last >= STALL_MS) stalls++
      }
      last = now
      tail = (tail + (chunk as Buffer).toString()).slice(-64)
    }
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${tail}`)
    if (!tail.includes('[DONE]')) throw new Error(`ended without [DONE]: …${tail}`)
    return true
  }
  try {
    const results = await Promise.allSettled(Array.from({ length: streams }, one))
    for (const r of results) if (r.status === 'rejected' && failures.length < 5) failures.push(String((r.reason as Error).message ?? r.reason))
    return {
      streams,
      complete: results.filter(r => r.status === 'fulfilled').length,
      failures,
      peakRss: Math.max(peakRss, rssBytes(pid)),
      firstByteP50: percentile(firstBytes, 50),
      firstByteMax: Math.max(0, ...firstBytes),
      maxGapMs,
      stalls,
      wallMs: performance.now() - t0
    }
  } finally {
    clearInterval(sampler)
    await pool.close()
  }
}
