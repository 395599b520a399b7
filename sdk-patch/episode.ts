// Episode scopes: every inference made inside `withEpisode(fn)` shares one UUIDv7 episode id, carried by
// AsyncLocalStorage through awaits, timers, Promise.all and SDK helpers (streams, runTools). Outside a scope each
// call gets its own id.
import { AsyncLocalStorage } from 'node:async_hooks'
import { v7 as uuidv7 } from 'uuid'

interface EpisodeScope { readonly id: string }

// One store per process even if two copies of this module are loaded (a dependency bundling its own copy):
// scopes opened through one copy are then seen by clients patched through the other.
const STORE_KEY = Symbol.for('tz-sidecar.sdk-patch.episode-store')
const globalSlot = globalThis as unknown as Record<symbol, AsyncLocalStorage<EpisodeScope> | undefined>
const store: AsyncLocalStorage<EpisodeScope> = globalSlot[STORE_KEY] ??= new AsyncLocalStorage<EpisodeScope>()

// The SDK patch loads no gateway code (it runs inside the caller's process), so it keeps the two id forms itself.
const UUID_V7_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i
/** A hyphenated UUID of any version, as the sidecar writes inference ids. */
export const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** True for a UUIDv7 string, the only kind of episode id TensorZero accepts. */
export function isEpisodeId (value: unknown): value is string {
  return typeof value === 'string' && UUID_V7_TEXT.test(value)
}

/** A fresh UUIDv7 (ordered within the millisecond), usable as an episode id. */
export function newEpisodeId (): string {
  return uuidv7()
}

/** Runs `fn` in a new episode: every inference call of a patched client inside it carries the same episode id. */
export function withEpisode<T> (fn: (episodeId: string) => T): T
/** Runs `fn` in the episode `episodeId` (a UUIDv7, e.g. one stored from an earlier request to continue it). */
export function withEpisode<T> (episodeId: string, fn: (episodeId: string) => T): T
export function withEpisode<T> (a: string | ((episodeId: string) => T), b?: (episodeId: string) => T): T {
  let id: string
  let fn: (episodeId: string) => T
  if (typeof a === 'function') {
    id = uuidv7()
    fn = a
  } else {
    if (!isEpisodeId(a)) throw new TypeError(`withEpisode: episode id must be a UUIDv7, got ${JSON.stringify(a)}`)
    if (typeof b !== 'function') throw new TypeError('withEpisode(id, fn): fn must be a function')
    id = a.toLowerCase()
    fn = b
  }
  return store.run({ id }, fn, id)
}

/** The episode id of the enclosing `withEpisode` scope, or undefined outside any scope. */
export function currentEpisodeId (): string | undefined {
  return store.getStore()?.id
}
