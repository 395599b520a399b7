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

/**
 * What the sidecar's start path may export so that embedded mode builds exactly what `tz-sidecar serve` builds
 * (ClickHouse writer, spool, feedback handler, metrics) without listening, signal handlers or process.exit.
 * It must take the API key from `env.SIDECAR_API_KEY` (embedded mode sets a per-process secret there) and
 * `shutdown()` of the returned Sidecar must release all of it (flush the spool, close the ClickHouse client).
 */
export type CreateSidecar = (opts: { configFile: string; sidecarConfig?: string; env: NodeJS.ProcessEnv }) => Promise<Sidecar>

export async function startEmbeddedGateway (opts: EmbeddedOptions): Promise<EmbeddedGateway> {
  if (typeof opts?.configFile !== 'string' || opts.configFile === '') throw new TypeError('embedded: configFile is required')
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env) }
  if (opts.clickhouseUrl !== undefined) env.TENSORZERO_CLICKHOUSE_URL = opts.clickhouseUrl
  // The loopback port is reachable by every local process: require a secret only the patched client sends.
  const secret = randomBytes(24).toString('base64url')
  env.SIDECAR_API_KEY = secret

  const start: { createSidecar?: CreateSidecar } = await import('../sidecar/start.ts')
  let sidecar: Sidecar
  if (typeof start.createSidecar === 'function') {
    sidecar = await start.createSidecar({ configFile: opts.configFile, sidecarConfig: opts.sidecarConfig, env })
  } else {
    // Until the start path exports createSidecar: the routing core alone (no ClickHouse rows, /feedback answers 404).
    const [{ loadConfig }, { Sidecar }] = await Promise.all([import('../src/config/load.ts'), import('../sidecar/server.ts')])
    const config = await loadConfig({ configFile: opts.configFile, sidecarConfig: opts.sidecarConfig, env })
    sidecar = new Sidecar({ config, env, apiKey: secret })
  }
  const address = await sidecar.listen(0, '127.0.0.1')
  // The listening socket alone must not keep the caller's process alive; open requests still do.
  sidecar.server.unref()
  let closing: Promise<void> | undefined
  return {
    baseURL: `http://127.0.0.1:${address.port}/v1`,
    authorization: `Bearer ${secret}`,
    close: () => (closing ??= sidecar.shutdown(opts.drainMs ?? 10_000).then(() => undefined))
  }
}
