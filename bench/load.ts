// Load generators. Each measures the sidecar, the minimal Node proxy (bench/floor-proxy.ts) and the upstream directly
// in the same run, interleaved, so machine noise hits all three alike and the figures are differences and ratios
// rather than absolute times.
import { Client } from 'undici'
import autocannon from 'autocannon'
import { CLIENT_MODEL } from './config.ts'
import { percentile } from './stats.ts'
import { cpuMs, rssBytes } from './procs.ts'

export const CHAT_PATH = '/v1/chat/completions'
export const HEADERS = { 'content-type': 'application/json', authorization: 'Bearer sk-bench' }

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

export interface Target { name: 'direct' | 'floor' | 'sidecar'; origin: string }

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

/** Blocks of `block` calls on each endpoint in turn until each has `each` samples (the order rotates every block). */
async function interleaved (endpoints: Endpoint[], each: number, block: number,
  call: (e: Endpoint) => Promise<number>): Promise<Float64Array[]> {
  const samples = endpoints.map(() => new Float64Array(each))
  let i = 0
  let turn = 0
  while (i < each) {
    const n = Math.min(block, each - i)
    for (let j = 0; j < endpoints.length; j++) {
      const k = (j + turn) % endpoints.length
      for (let m = 0; m < n; m++) samples[k][i + m] = await call(endpoints[k])
    }
    i += n
    turn++
  }
  return samples
}

export interface LatencyRun { directP50: number; directP99: number; sidecarP50: number; sidecarP99: number; addedP50: number; addedP99: number
  floorP50: number; floorAddedP50: number; samples: number }

/** Sequential non-streaming requests on one connection each. */
export async function latencyRun (direct: Endpoint, floor: Endpoint, sidecar: Endpoint, each: number): Promise<LatencyRun> {
  const [a, f, b] = await interleaved([direct, floor, sidecar], each, 100, async e => await e.once())
  const directP50 = percentile(a, 50)
  const directP99 = percentile(a, 99)
  const sidecarP50 = percentile(b, 50)
  const sidecarP99 = percentile(b, 99)
  const floorP50 = percentile(f, 50)
  return { directP50, directP99, sidecarP50, sidecarP99, addedP50: sidecarP50 - directP50, addedP99: sidecarP99 - directP99, floorP50, floorAddedP50: floorP50 - directP50, samples: each }
}

export interface TtfbRun { directP50: number; directP99: number; sidecarP50: number; sidecarP99: number; addedP50: number; addedP99: number;
  directTotalP50: number; sidecarTotalP50: number; samples: number }

/** Sequential 50-chunk SSE streams: time to first byte, and to the end of the stream. */
export async function ttfbRun (direct: Endpoint, sidecar: Endpoint, each: number): Promise<TtfbRun> {
  const totals = new Map<Endpoint, number[]>([[direct, []], [sidecar, []]])
  const [a, b] = await interleaved([direct, sidecar], each, 25, async e => {
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

export interface ThroughputRun { directRps: number; sidecarRps: number; floorRps: number; ratio: number; floorRatio: number; sidecarRequests: number
  /** CPU time per request: of the sidecar / floor process under its load, of the upstream process under direct load. */
  sidecarCpuUs: number; floorCpuUs: number; upstreamCpuUs: number
  /** Peak RSS sampled every 100 ms while each proxy was under load. */
  sidecarPeakRss: number; floorPeakRss: number }

/** Direct, the floor proxy and the sidecar at `connections` connections, one after the other (order rotating across runs). */
export async function throughputRun (origins: { direct: string; floor: string; sidecar: string }, connections: number, seconds: number, turn: number,
  pids: { sidecar: number; floor: number; upstream: number }): Promise<ThroughputRun> {
  const measured = async (origin: string, pid: number): Promise<CannonResult & { cpuUs: number; peakRss: number }> => {
    const c0 = cpuMs(pid)
    let peakRss = rssBytes(pid)
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssBytes(pid)) }, 100)
    try {
      const r = await cannon(origin, { connections, seconds })
      return { ...r, cpuUs: ((cpuMs(pid) - c0) * 1000) / r.requests, peakRss: Math.max(peakRss, rssBytes(pid)) }
    } finally { clearInterval(sampler) }
  }
  const order = (['direct', 'floor', 'sidecar'] as const).map((_, i, all) => all[(i + turn) % all.length])
  const r: Partial<Record<typeof order[number], CannonResult & { cpuUs: number; peakRss: number }>> = {}
  for (const name of order) r[name] = await measured(origins[name], name === 'direct' ? pids.upstream : pids[name])
  const d = r.direct as CannonResult & { cpuUs: number }
  const f = r.floor as CannonResult & { cpuUs: number; peakRss: number }
  const s = r.sidecar as CannonResult & { cpuUs: number; peakRss: number }
  return {
    directRps: d.rps, sidecarRps: s.rps, floorRps: f.rps, ratio: s.rps / d.rps, floorRatio: s.rps / f.rps, sidecarRequests: s.requests,
    sidecarCpuUs: s.cpuUs, floorCpuUs: f.cpuUs, upstreamCpuUs: d.cpuUs, sidecarPeakRss: s.peakRss, floorPeakRss: f.peakRss
  }
}
