// UUIDv7 ids on the request path: the `uuid` package's v7 layout and ordering (monotonic within a millisecond: a
// counter seeded from random bits, as `uuid` keeps it), with random bytes taken from a pooled CSPRNG buffer. `uuid`'s
// own v7() calls crypto.getRandomValues for every id, which was a fifth of the gateway's CPU per inference (bench/).
import { randomFillSync } from 'node:crypto'
import { v7 } from 'uuid'

const POOL_BYTES = 16 * 256
const pool = new Uint8Array(POOL_BYTES)
let offset = POOL_BYTES
const state = { msecs: -Infinity, seq: 0 }

export function newId (): string {
  if (offset === POOL_BYTES) { randomFillSync(pool); offset = 0 }
  const random = pool.subarray(offset, offset + 16)
  offset += 16
  const now = Date.now()
  if (now > state.msecs) {
    state.seq = ((random[6] & 0x7f) << 24) | (random[7] << 16) | (random[8] << 8) | random[9]
    state.msecs = now
  } else {
    state.seq = (state.seq + 1) | 0
    if (state.seq === 0) state.msecs++
  }
  return v7({ random, msecs: state.msecs, seq: state.seq })
}

/** A UUID as TensorZero's parser takes it from a client: hex in any case, hyphens optional. */
export const UUID_TEXT = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i
/** A hyphenated UUIDv7 (version nibble 7, RFC variant), the only form an episode id may take. */
export const UUID_V7_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i

/** A UUID matching UUID_TEXT, as TensorZero prints it: hyphenated, lower case. */
export function canonicalUuid (text: string): string {
  const hex = text.replace(/-/g, '').toLowerCase()
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
