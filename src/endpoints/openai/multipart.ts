// `multipart/form-data` (RFC 7578) read from a body already in memory: each part's bytes stay a view into that body,
// so holding the form for a fallback holds the body once, nothing more. Every malformation is a 400 saying what.
import type { FormPart } from '../../core/types.ts'
import { badRequest } from '../../core/errors.ts'

const CRLF = Buffer.from('\r\n')
const HEADERS_END = Buffer.from('\r\n\r\n')
/** A part's header block longer than this is not a form an SDK writes. */
const MAX_HEADER_BYTES = 16 * 1024

function boundaryOf (contentType: string): string {
  const m = /;\s*boundary\s*=\s*(?:"([^"]{1,200})"|([^;\s]{1,200}))/i.exec(contentType)
  const boundary = m?.[1] ?? m?.[2]
  if (boundary === undefined) throw badRequest('Invalid multipart body: the Content-Type names no `boundary`')
  return boundary
}

/** A quoted parameter as browsers and undici write it (`"`, CR, LF percent-encoded) or as others do (backslash escapes). */
function unquoted (value: string): string {
  return value.replace(/\\(.)/g, '$1').replace(/%22/gi, '"').replace(/%0D/gi, '\r').replace(/%0A/gi, '\n')
}

/** The parameters of a `Content-Disposition` value (`form-data; name="file"; filename="a.wav"`). */
function dispositionParams (value: string): Map<string, string> {
  const params = new Map<string, string>()
  const re = /;\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g
  for (const m of value.matchAll(re)) {
    params.set(m[1].toLowerCase(), m[2] !== undefined ? unquoted(m[2]) : m[3].trim())
  }
  return params
}

/** RFC 5987 `filename*=utf-8''a%20b.wav`; undefined when it is not that shape. */
function extendedValue (value: string | undefined): string | undefined {
  const m = value === undefined ? null : /^utf-8'[^']*'(.*)$/i.exec(value)
  if (m === null) return undefined
  try { return decodeURIComponent(m[1]) } catch { return undefined }
}

function partOf (headerText: string, data: Buffer, index: number): FormPart {
  let disposition: string | undefined
  let contentType: string | undefined
  for (const line of headerText.split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon <= 0) throw badRequest(`Invalid multipart body: part ${index} has a malformed header line`)
    const key = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (key === 'content-disposition') disposition = value
    else if (key === 'content-type') contentType = value
  }
  if (disposition === undefined || !/^form-data\s*(;|$)/i.test(disposition)) {
    throw badRequest(`Invalid multipart body: part ${index} has no \`Content-Disposition: form-data\` header`)
  }
  const params = dispositionParams(disposition)
  const name = params.get('name')
  if (name === undefined) throw badRequest(`Invalid multipart body: part ${index} has no name`)
  const filename = extendedValue(params.get('filename*')) ?? params.get('filename')
  if (filename === undefined) return { name, value: data.toString('utf8') }
  return { name, filename, contentType: contentType ?? 'application/octet-stream', data }
}

export function parseMultipart (body: Buffer, contentType: string): FormPart[] {
  const boundary = boundaryOf(contentType)
  const delimiter = Buffer.from(`\r\n--${boundary}`)
  // The first delimiter may open the body (no CRLF before it) or follow a preamble.
  const opens = body.subarray(0, delimiter.length - 2).equals(delimiter.subarray(2))
  const first = opens ? 0 : body.indexOf(delimiter)
  if (first < 0) throw badRequest('Invalid multipart body: its boundary never occurs')
  let at = first + (opens ? delimiter.length - 2 : delimiter.length)
  const parts: FormPart[] = []
  for (;;) {
    if (body[at] === 0x2d && body[at + 1] === 0x2d) return parts
    // Transport padding (spaces, tabs) may follow a delimiter before its CRLF.
    while (body[at] === 0x20 || body[at] === 0x09) at++
    if (!body.subarray(at, at + 2).equals(CRLF)) throw badRequest('Invalid multipart body: a boundary is not followed by a line break')
    at += 2
    const headersEnd = body.indexOf(HEADERS_END, at)
    if (headersEnd < 0 || headersEnd - at > MAX_HEADER_BYTES) throw badRequest(`Invalid multipart body: part ${parts.length} has no end to its headers`)
    const next = body.indexOf(delimiter, headersEnd + HEADERS_END.length)
    if (next < 0) throw badRequest('Invalid multipart body: it ends before its closing boundary')
    parts.push(partOf(body.toString('utf8', at, headersEnd), body.subarray(headersEnd + HEADERS_END.length, next), parts.length))
    at = next + delimiter.length
  }
}
