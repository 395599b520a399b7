// A form encoded as `multipart/form-data` (RFC 7578) for a provider: a list of chunks in which every file is the
// client's bytes themselves (no copy per attempt), with an exact Content-Length.
import { randomBytes } from 'node:crypto'
import type { FormPart } from '../../core/types.ts'

const CRLF = Buffer.from('\r\n')

/** As browsers write names in a quoted header parameter: `"`, CR and LF percent-encoded. */
function quoted (value: string): string {
  return value.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
}

export function encodeMultipart (parts: readonly FormPart[]): { contentType: string; contentLength: number; chunks: Uint8Array[] } {
  // Random like a browser's: a file cannot contain it but by a 2^-96 chance.
  const boundary = `----tz-sidecar-${randomBytes(12).toString('hex')}`
  const chunks: Uint8Array[] = []
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(part.name)}"`
    if ('data' in part) head += `; filename="${quoted(part.filename)}"\r\nContent-Type: ${part.contentType.replace(/[\r\n]/g, '')}`
    chunks.push(Buffer.from(`${head}\r\n\r\n`), 'data' in part ? part.data : Buffer.from(part.value), CRLF)
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength: chunks.reduce((n, c) => n + c.length, 0),
    chunks
  }
}
