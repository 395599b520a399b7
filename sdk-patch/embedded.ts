// Embedded mode: the gateway runs inside the caller's process. It is the sidecar's own server (same routing, fallback,
// logging and /feedback), listening on an ephemeral loopback port that only this process is told about; the patched
// client is pointed at it. Server code is imported here lazily, so importing `sdk-patch` alone loads none of it.
import { randomBytes } from 'node:crypto'
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

/** Throws at once (before anything starts) for options that cannot work. */
export function checkEmbeddedOptions (opts: EmbeddedOptions): void {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('patchOpenAI: `embedded` must be an object')
  if (typeof opts.configFile !== 'string' || opts.configFile === '') throw new TypeError('patchOpenAI: embedded.configFile is required')
  if (opts.sidecarConfig !== undefined && typeof opts.sidecarConfig !== 'string') throw new TypeError('patchOpenAI: embedded.sidecarConfig must be a path')
  if (opts.clickhouseUrl !== undefined && !/^https?:\/\//.test(opts.clickhouseUrl)) {
    throw new TypeError('patchOpenAI: embedded.clickhouseUrl must be an http(s):// URL')
  }
}

export async function startEmbeddedGateway (opts: EmbeddedOptions): Promise<EmbeddedGateway> {
  checkEmbeddedOptions(opts)
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
