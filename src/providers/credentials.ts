// Turning a provider's key location into the key, at request time. Never throws: a missing key is one
// provider failing (routing moves on to the next), not a crash.
import { readFileSync } from 'node:fs'
import type { KeyLocation } from '../core/config.ts'

export type ApiKeyResult = { ok: true; key?: string } | { ok: false; message: string }

// Key files are read once, on first use, then served from memory: no file I/O per request.
const fileCache = new Map<string, ApiKeyResult>()

/** Forget cached key files (tests; a reload after keys rotated). */
export function clearCredentialCache (): void {
  fileCache.clear()
}

export function resolveApiKey (
  location: KeyLocation, dynamic: Record<string, string> | undefined, env: NodeJS.ProcessEnv = process.env,
): ApiKeyResult {
  switch (location.kind) {
    case 'none':
      return { ok: true }
    case 'env': {
      const key = env[location.name]
      return key ? { ok: true, key } : { ok: false, message: `API key missing: environment variable ${location.name} is not set` }
    }
    case 'path':
      return readKeyFile(location.path, '')
    case 'path_from_env': {
      const file = env[location.name]
      if (!file) return { ok: false, message: `API key missing: environment variable ${location.name} (path of the key file) is not set` }
      return readKeyFile(file, ` (from ${location.name})`)
    }
    case 'dynamic': {
      const key = dynamic?.[location.name]
      return typeof key === 'string' && key !== ''
        ? { ok: true, key }
        : { ok: false, message: `API key missing: dynamic credential ${location.name} was not given in \`tensorzero::credentials\`` }
    }
    case 'with_fallback': {
      const first = resolveApiKey(location.default, dynamic, env)
      if (first.ok) return first
      const second = resolveApiKey(location.fallback, dynamic, env)
      return second.ok ? second : { ok: false, message: `${first.message}; and its fallback: ${second.message.replace(/^API key missing: /, '')}` }
    }
  }
}

function readKeyFile (file: string, via: string): ApiKeyResult {
  const cached = fileCache.get(file)
  if (cached) return cached
  let result: ApiKeyResult
  try {
    // Key files usually end with a newline; the key never contains surrounding whitespace.
    const key = readFileSync(file, 'utf8').trim()
    result = key ? { ok: true, key } : { ok: false, message: `API key missing: file ${file}${via} is empty` }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    result = { ok: false, message: `API key missing: cannot read file ${file}${via} (${code})` }
  }
  fileCache.set(file, result)
  return result
}
