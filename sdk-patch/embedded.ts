// Embedded mode: the gateway runs inside the caller's process. It is the sidecar's own server (same routing, fallback,
// logging and /feedback), listening on an ephemeral loopback port that only this process is told about; the patched
// client is pointed at it. Server code is imported here lazily, so importing `sdk-patch` alone loads none of it.
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { Sidecar } from '../sidecar/server.ts'

export interface EmbeddedOptions {
  /** tensorzero.toml: a path or a glob of several files (relative to the working directory). */
  configFile: string
  /** The per-service sidecar TOML (routes, unmatched policy). */
  sidecarConfig?: string
  /** ClickHouse for inference and feedback rows (TENSORZERO_CLICKHOUSE_URL); unset: what the environment says. */
  clickhouseUrl?: string
  /** Environment for credentials (`env::VAR`) and SIDECAR_* settings; default process.env. */
  env?: NodeJS.ProcessEnv
  /** How long `close()` lets in-flight requests and streams finish; default 10 000 ms. */
  drainMs?: number
}

export interface EmbeddedGateway {
  /** `http://127.0.0.1:PORT/v1` */
  readonly baseURL: string
  /** The `Authorization` value the embedded server requires (a per-process secret: other local processes cannot use it). */
  readonly authorization: string
  close (): Promise<void>
}

/**
 * The gateway needs package.json's `engines.node` (its HTTP client does); patching a client without `embedded` does not.
 * `undefined` when `version` (default: this process's) is at or above the floor, else the one-line reason.
 */
export function nodeFloorProblem (version = process.versions.node): string | undefined {
  const { engines } = createRequire(import.meta.url)('tz-sidecar/package.json') as { engines: { node: string } }
  const parts = (text: string): number[] => (/(\d+)\.(\d+)\.(\d+)/.exec(text) ?? ['', '0', '0', '0']).slice(1).map(Number)
  const have = parts(version)
  const need = parts(engines.node)
  const i = have.findIndex((n, k) => n !== need[k])
  return i !== -1 && have[i] < need[i] ? `tz-sidecar needs Node ≥ ${need.join('.')} (this is v${version})` : undefined
}

/** Throws at once (before anything starts) for options that cannot work. */
export function checkEmbeddedOptions (opts: EmbeddedOptions): void {
  const floor = nodeFloorProblem()
  if (floor !== undefined) throw new Error(`patchOpenAI: embedded mode: ${floor}`)
  if (typeof opts !== 'object' || opts === null) throw new TypeError('patchOpenAI: `embedded` must be an object')
  if (typeof opts.configFile !== 'string' || opts.configFile === '') throw new TypeError('patchOpenAI: embedded.configFile is required')
  if (opts.sidecarConfig !== undefined && typeof opts.sidecarConfig !== 'string') throw new TypeError('patchOpenAI: embedded.sidecarConfig must be a path')
  if (opts.clickhouseUrl !== undefined && !/^https?:\/\//.test(opts.clickhouseUrl)) {
    throw new TypeError('patchOpenAI: embedded.clickhouseUrl must be an http(s):// URL')
  }
}

/**
 * Patched clients of one process that ask for the same embedded gateway (same files, ClickHouse and environment)
 * share one: a spool folder belongs to one writer, and two gateways on it would take each other's segments.
 * The gateway stops when the last client sharing it closes.
 */
interface Shared { env: NodeJS.ProcessEnv | undefined; gateway: Promise<EmbeddedGateway>; users: number }
const shared = new Map<string, Shared[]>()
/** Gateways still shutting down: one started for the same key waits, since the old one holds the spool until it is closed. */
const closing = new Map<string, Promise<void>>()

export async function startEmbeddedGateway (opts: EmbeddedOptions): Promise<EmbeddedGateway> {
  checkEmbeddedOptions(opts)
  const key = JSON.stringify([path.resolve(opts.configFile), opts.sidecarConfig === undefined ? null : path.resolve(opts.sidecarConfig), opts.clickhouseUrl ?? null])
  const entries = shared.get(key) ?? []
  let entry = entries.find(e => e.env === opts.env)
  if (entry === undefined) {
    const previous = closing.get(key) ?? Promise.resolve()
    entry = { env: opts.env, gateway: previous.then(async () => await startServing(opts)), users: 0 }
    entries.push(entry)
    shared.set(key, entries)
    const started = entry
    started.gateway.catch(() => { forget(key, started) })
  }
  entry.users++
  const mine = entry
  const gateway = await mine.gateway
  let closed: Promise<void> | undefined
  return {
    baseURL: gateway.baseURL,
    authorization: gateway.authorization,
    close: () => (closed ??= (async () => {
      if (--mine.users > 0) return
      forget(key, mine)
      const done = gateway.close()
      const settled = done.catch(() => undefined)
      closing.set(key, settled)
      try { await done } finally { if (closing.get(key) === settled) closing.delete(key) }
    })())
  }
}

function forget (key: string, entry: Shared): void {
  const rest = (shared.get(key) ?? []).filter(e => e !== entry)
  if (rest.length === 0) shared.delete(key)
  else shared.set(key, rest)
}

async function startServing (opts: EmbeddedOptions): Promise<EmbeddedGateway> {
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env) }
  if (opts.clickhouseUrl !== undefined) env.TENSORZERO_CLICKHOUSE_URL = opts.clickhouseUrl
  // The loopback port is reachable by every local process: require a secret only the patched client sends.
  const secret = randomBytes(24).toString('base64url')
  env.SIDECAR_API_KEY = secret

  // Exactly what `tz-sidecar serve` builds (ClickHouse writer, spool, feedback, metrics), minus listening on a
  // public address, signal handlers and a global trace SDK; shutdown() releases all of it.
  const { createSidecar } = await import('../sidecar/start.ts')
  const sidecar: Sidecar = await createSidecar({ configFile: opts.configFile, sidecarConfig: opts.sidecarConfig, env, embedded: true })
  const address = await sidecar.listen(0, '127.0.0.1')
  // Neither the listening socket nor idle keep-alive connections may keep the caller's process alive (a script that
  // forgets close() still exits); a request in flight keeps it alive through the client's own socket.
  sidecar.server.unref()
  sidecar.server.on('connection', socket => socket.unref())
  let closing: Promise<void> | undefined
  return {
    baseURL: `http://127.0.0.1:${address.port}/v1`,
    authorization: `Bearer ${secret}`,
    close: () => (closing ??= sidecar.shutdown(opts.drainMs ?? 10_000).then(() => undefined))
  }
}
