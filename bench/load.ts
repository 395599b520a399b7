// Load generators. Each measures the sidecar and the upstream directly in the same run, interleaved, so machine
// noise hits both sides alike and the figures are differences and ratios rather than absolute times.
import { Client } from 'undici'
import autocannon from 'autocannon'
import { CLIENT_MODEL } from './config.ts'
import { percentile } from './stats.ts'
import { cpuMs } from './procs.ts'

export const CHAT_PATH = '/v1/chat/completions'
const HEADERS = { 'content-type': 'application/json', authorization: 'Bearer sk-bench' }

const SYSTEM = 'You are a helpful assistant inside the PMOVES.AI stack. Answer briefly, cite the documents you were given, ' +
  'and say so when you do not know. Never invent tool results.'
const USER = 'Summarise the following note in two sentences. ' +
  'The sidecar sits next to each service, maps the model name the service sends to a TensorZero function, routes the ' +
  'call with fallbacks and retries, and writes every inference to ClickHouse in TensorZero\'s own tables. '.repeat(2)

/** A realistic client request (~1 KB); `model` names the sidecar route, or anything for the upstream. */
export function chatBody (stream: boolean, model = CLIENT_MODEL): string {
  return JSON.stringify({
    model,
    messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: USER }],
    max_tokens: 256,
    temperature: 0.2,
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {})
  })
}

export interface Target { name: 'direct' | 'sidecar'; origin: string }

export class Endpoint {
  readonly target: Target
  readonly client: Client
  private readonly body: string
  private readonly streamBody: string
  served = 0

  constructor (target: Target) {
    this.target = target
    this.client = new Client(target.origin, { pipelining: 1, keepAliveTimeout: 120_000 })
    this.body = chatBody(false)
    this.streamBody = chatBody(true)
  }

  /** One non-streaming request, whole body read; returns ms. */
  async once (): Promise<number> {
    const t0 = performance.now()
    const res = await this.client.request({ path: CHAT_PATH, method: 'POST', headers: HEADERS, body: this.body })
    const text = await res.body.text()
    const ms = performance.now() - t0
    if (res.statusCode !== 200) throw new Error(`${this.target.name}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
    this.served++
    return ms
  }

  /** One streaming request read to the end; returns time to the first body byte and to the end, in ms. */
  async stream (): Promise<{ ttfb: number; total: number }> {
    const t0 = performance.now()
    const res = await this.client.request({ path: CHAT_PATH, method: 'POST', headers: HEADERS, body: this.streamBody })
    let ttfb = NaN
    let last = ''
    for await (const chunk of res.body) {
      if (Number.isNaN(ttfb)) ttfb = performance.now() - t0
      last = (chunk as Buffer).toString()
    }
    const total = performance.now() - t0
    if (res.statusCode !== 200) throw new Error(`${this.target.name}: HTTP ${res.statusCode}: ${last.slice(0, 300)}`)
    if (!last.includes('[DONE]')) throw new Error(`${this.target.name}: stream did not end with [DONE]: …${last.slice(-200)}`)
    this.served++
    return { ttfb, total }
  }

  async close (): Promise<void> { await this.client.close() }
}

/** Alternate blocks of `block` calls on each endpoint until each has `each` samples (order flipped every block). */
async function interleaved (a: Endpoint, b: Endpoint, each: number, block: number,
  call: (e: Endpoint) => Promise<number>): Promise<{ a: Float64Array; b: Float64Array }> {
  const sa = new Float64Array(each)
  const sb = new Float64Array(each)
  let i = 0
  let flip = false
  while (i < each) {
    const n = Math.min(block, each - i)
    const order = flip ? [b, a] : [a, b]
    for (const e of order) {
      const out = e === a ? sa : sb
      for (let k = 0; k < n; k++) out[i + k] = await call(e)
    }
    i += n
    flip = !flip
  }
  return { a: sa, b: sb }
}

export interface LatencyRun { directP50: number; directP99: number; sidecarP50: number; sidecarP99: number; addedP50: number; addedP99: number; samples: number }

/** Sequential non-streaming requests on one connection each. */
export async function latencyRun (direct: Endpoint, sidecar: Endpoint, each: number): Promise<LatencyRun> {
  const { a, b } = await interleaved(direct, sidecar, each, 100, async e => await e.once())
  const directP50 = percentile(a, 50)
  const directP99 = percentile(a, 99)
  const sidecarP50 = percentile(b, 50)
  const sidecarP99 = percentile(b, 99)
  return { directP50, directP99, sidecarP50, sidecarP99, addedP50: sidecarP50 - directP50, addedP99: sidecarP99 - directP99, samples: each }
}

export interface TtfbRun { directP50: number; directP99: number; sidecarP50: number; sidecarP99: number; addedP50: number; addedP99: number;
  directTotalP50: number; sidecarTotalP50: number; samples: number }

/** Sequential 50-chunk SSE streams: time to first byte, and to the end of the stream. */
export async function ttfbRun (direct: Endpoint, sidecar: Endpoint, each: number): Promise<TtfbRun> {
  const totals = new Map<Endpoint, number[]>([[direct, []], [sidecar, []]])
  const { a, b } = await interleaved(direct, sidecar, each, 25, async e => {
    const r = await e.stream()
    totals.get(e)?.push(r.total)
    return r.ttfb
  })
  const directP50 = percentile(a, 50)
  const directP99 = percentile(a, 99)
  const sidecarP50 = percentile(b, 50)
  const sidecarP99 = percentile(b, 99)
  return {
    directP50, directP99, sidecarP50, sidecarP99,
    addedP50: sidecarP50 - directP50,
    addedP99: sidecarP99 - directP99,
    directTotalP50: percentile(totals.get(direct) ?? [], 50),
    sidecarTotalP50: percentile(totals.get(sidecar) ?? [], 50),
    samples: each
  }
}

export interface CannonResult { rps: number; requests: number; p50: number; p99: number }

/** autocannon against one origin: non-streaming chat requests, for `seconds` or for `amount` requests. */
export async function cannon (origin: string, opts: { connections: number; seconds?: number; amount?: number }): Promise<CannonResult> {
  const r = await autocannon({
    url: origin + CHAT_PATH,
    method: 'POST',
    headers: HEADERS,
    body: chatBody(false),
    connections: opts.connections,
    pipelining: 1,
    timeout: 30,
    ...(opts.amount !== undefined ? { amount: opts.amount } : { duration: opts.seconds ?? 2 })
  })
  if (r.errors > 0 || r.non2xx > 0) {
    throw new Error(`autocannon against ${origin}: ${r.errors} errors, ${r.non2xx} non-2xx (${JSON.stringify(r.statusCodeStats)})`)
  }
  return { rps: r.requests.total / r.duration, requests: r.requests.total, p50: r.latency.p50, p99: r.latency.p99 }
}

export interface ThroughputRun { directRps: number; sidecarRps: number; ratio: number; sidecarRequests: number
  /** CPU time per request: of the sidecar process under sidecar load, of the upstream process under direct load. */
  sidecarCpuUs: number; upstreamCpuUs: number }

/** Both origins at `connections` connections, one after the other (order alternating across runs). */
export async function throughputRun (direct: string, sidecar: string, connections: number, seconds: number, sidecarFirst: boolean,
  pids: { sidecar: number; upstream: number }): Promise<ThroughputRun> {
  const measured = async (origin: string, pid: number): Promise<CannonResult & { cpuUs: number }> => {
    const c0 = cpuMs(pid)
    const r = await cannon(origin, { connections, seconds })
    return { ...r, cpuUs: ((cpuMs(pid) - c0) * 1000) / r.requests }
  }
  let d: CannonResult & { cpuUs: number }
  let s: CannonResult & { cpuUs: number }
  if (sidecarFirst) {
    s = await measured(sidecar, pids.sidecar)
    d = await measured(direct, pids.upstream)
  } else {
    d = await measured(direct, pids.upstream)
    s = await measured(sidecar, pids.sidecar)
  }
  return { directRps: d.rps, sidecarRps: s.rps, ratio: s.rps / d.rps, sidecarRequests: s.requests, sidecarCpuUs: s.cpuUs, upstreamCpuUs: d.cpuUs }
}
