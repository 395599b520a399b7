// Reading a server-sent event stream as a test sees it: each event's `data:` payload, in order.

/** The `data:` payloads of an SSE body, in order (a payload of several `data:` lines joined by newlines). */
export function sseData (body: string): string[] {
  return body.split(/\r?\n\r?\n/).filter(e => e.trim() !== '').map(e => e.split(/\r?\n/).filter(l => l.startsWith('data:')).map(l => l.slice(5).trimStart()).join('\n'))
}
