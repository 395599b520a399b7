// Secret values kept out of everything that leaves the process. One mechanism, two uses: the logs and the trace export
// scrub every line of the values the config resolves to (`secretValues`), and a provider's answer is scrubbed of the
// credentials sent with that very call (`sentSecrets`, per-request `tensorzero::credentials` included) before it
// becomes an error message, a client's answer, a log line, a span or a row. Both replace by value, with `scrubber`.
import type { LoadedConfig } from '../core/config.ts'
import { ProviderError } from '../core/errors.ts'
import { resolveApiKey } from './credentials.ts'
import { providerType } from './catalog.ts'

/** Shorter values are not scrubbed by value (too likely to match ordinary text); key-based redaction still hides them. */
const MIN_SECRET_LENGTH = 6
const SECRET_ENV = /(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS)$/i
/** Request headers that carry credentials, whatever the wire format calls them (`authorization`, `x-api-key`, …). */
const CREDENTIAL_HEADER = /auth|key|token|secret|cookie/i
const REDACTED = '[redacted]'

/**
 * Values the logs must never contain: every key the config resolves to (env, path, path_from_env, the types' default
 * env vars), SIDECAR_API_KEY, the passthrough Authorization, the ClickHouse URL's password, and any env var named like
 * a secret (`*_API_KEY`, `*_TOKEN`, `*_SECRET`, `*_PASSWORD`).
 */
export function secretValues (config: LoadedConfig | undefined, env: NodeJS.ProcessEnv): string[] {
  const out = new Set<string>()
  const add = (v: string | undefined): void => { if (v !== undefined && v.length >= MIN_SECRET_LENGTH) out.add(v) }
  if (config !== undefined) {
    for (const models of [config.tensorzero.models, config.tensorzero.embeddingModels]) {
      for (const model of models.values()) {
        for (const provider of model.providers.values()) {
          const loc = provider.keyLocation
          for (const one of loc.kind === 'with_fallback' ? [loc.default, loc.fallback] : [loc]) {
            const key = resolveApiKey(one, undefined, env)
            if (key.ok) add(key.key)
          }
          const defaultEnv = providerType(provider.type)?.defaultApiKeyEnv
          if (defaultEnv !== undefined) add(env[defaultEnv])
        }
      }
    }
    const pass = config.sidecar.passthroughAuthorization
    add(pass); add(pass?.replace(/^Bearer\s+/i, ''))
  }
  add(env.SIDECAR_API_KEY)
  try {
    const url = env.TENSORZERO_CLICKHOUSE_URL
    if (url !== undefined && url !== '') { const u = new URL(url); add(decodeURIComponent(u.password)); add(u.password) }
  } catch { /* not a URL: nothing to take from it */ }
  for (const [name, value] of Object.entries(env)) if (SECRET_ENV.test(name)) add(value)
  return [...out]
}

/** Replaces every secret value (raw or JSON-escaped) in a text by `[redacted]`; undefined when there is nothing to hide. */
export function scrubber (secrets: Iterable<string>): ((text: string) => string) | undefined {
  const needles = [...new Set([...secrets].flatMap(s => [s, JSON.stringify(s).slice(1, -1)]))].sort((a, b) => b.length - a.length)
  if (needles.length === 0) return undefined
  return text => {
    for (const n of needles) if (text.includes(n)) text = text.split(n).join(REDACTED)
    return text
  }
}

/** The credentials one provider call sent: the values of its credential headers. */
export function sentSecrets (headers: Record<string, string>): string[] {
  const out: string[] = []
  for (const [name, value] of Object.entries(headers)) {
    if (!CREDENTIAL_HEADER.test(name)) continue
    // The credential without its scheme: an echoed `Bearer <key>` reads `Bearer [redacted]`.
    const bare = value.replace(/^(Bearer|Basic|Token)\s+/i, '')
    if (bare.length >= MIN_SECRET_LENGTH) out.push(bare)
  }
  return out
}

/** A provider's text without the credentials its call sent. Runs only on failures, so a success costs nothing. */
export function withoutSentSecrets (text: string, headers: Record<string, string>): string {
  return scrubber(sentSecrets(headers))?.(text) ?? text
}

/** The same error with its message and raw response scrubbed of the call's credentials (unchanged when none appear). */
export function scrubbedProviderError (err: ProviderError, headers: Record<string, string>): ProviderError {
  const scrub = scrubber(sentSecrets(headers))
  if (scrub === undefined) return err
  const message = scrub(err.message)
  const rawResponse = err.rawResponse === undefined ? undefined : scrub(err.rawResponse)
  if (message === err.message && rawResponse === err.rawResponse) return err
  const clean = new ProviderError(message, err.errorClass, { status: err.status, rawResponse, retryAfterMs: err.retryAfterMs })
  clean.stack = err.stack === undefined ? undefined : scrub(err.stack)
  return clean
}
