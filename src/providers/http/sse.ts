// Incremental Server-Sent Events parser (WHATWG "event stream interpretation"), pure and allocation-light.
// Feed it raw chunks as they arrive (`push`), get back the events completed by that chunk; call `end()` at EOF.
// Handles `\n`, `\r\n` and lone `\r` line endings (also when a `\r\n` pair is split across chunks), multi-line `data`,
// `:` comments, fields without a colon, a UTF-8 BOM at the start, and multi-byte characters split across chunks.
import type { SseEvent } from '../adapter.ts'

const LF = 10
const SPACE = 32

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8') // strips a leading BOM itself (ignoreBOM: false)
  /** Incomplete trailing line of the previous chunk ('' when the previous chunk ended on a line break). */
  private pending = ''
  /** The previous chunk ended on `\r`: a `\n` starting the next chunk belongs to that line break. */
  private skipLf = false
  private started = false
  private dataLines: string[] = []
  private hasData = false
  private eventType: string | undefined = undefined
  /** Last event id seen (`id:` field), kept for callers that want to resume a stream. */
  lastEventId = ''

  /** Parse one chunk; returns the events it completed (often none, or several). */
  push (chunk: Uint8Array | string): SseEvent[] {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true })
    if (!this.started && text.length > 0) {
      this.started = true
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    const out: SseEvent[] = []
    this.scan(text, out)
    return out
  }

  /** Flush at end of stream. An event with data but no closing blank line is dispatched (lenient: servers often omit it). */
  end (): SseEvent[] {
    const out: SseEvent[] = []
    const rest = this.decoder.decode()
    if (rest.length > 0) this.scan(rest, out)
    if (this.pending.length > 0) {
      const line = this.pending
      this.pending = ''
      this.line(line, out)
    }
    this.dispatch(out)
    this.skipLf = false
    return out
  }

  private scan (text: string, out: SseEvent[]): void {
    let start = 0
    const n = text.length
    if (this.skipLf) {
      this.skipLf = false
      if (n > 0 && text.charCodeAt(0) === LF) start = 1
    }
    // Native indexOf for both terminators; most streams have no CR, so `cr` goes to -1 once and stays there.
    let lf = text.indexOf('\n', start)
    let cr = text.indexOf('\r', start)
    while (lf >= 0 || cr >= 0) {
      const i = cr < 0 || (lf >= 0 && lf < cr) ? lf : cr
      let line: string
      if (this.pending.length > 0) {
        line = this.pending + text.slice(start, i)
        this.pending = ''
      } else {
        line = text.slice(start, i)
      }
      this.line(line, out)
      start = i + 1
      if (i === cr) {
        if (start < n) {
          if (text.charCodeAt(start) === LF) start++
        } else {
          this.skipLf = true
        }
      }
      if (lf >= 0 && lf < start) lf = text.indexOf('\n', start)
      if (cr >= 0 && cr < start) cr = text.indexOf('\r', start)
    }
    if (start < n) this.pending = this.pending.length > 0 ? this.pending + text.slice(start) : text.slice(start)
  }

  private line (line: string, out: SseEvent[]): void {
    const len = line.length
    if (len === 0) { this.dispatch(out); return }
    const colon = line.indexOf(':')
    if (colon === 0) return // comment
    let field: string
    let value: string
    if (colon < 0) {
      field = line
      value = ''
    } else {
      field = line.slice(0, colon)
      const v = colon + 1
      value = v < len && line.charCodeAt(v) === SPACE ? line.slice(v + 1) : line.slice(v)
    }
    switch (field) {
      case 'data':
        this.dataLines.push(value)
        this.hasData = true
        break
      case 'event':
        this.eventType = value
        break
      case 'id':
        if (value.indexOf('\0') < 0) this.lastEventId = value
        break
      default: // `retry` and unknown fields are ignored
    }
  }

  private dispatch (out: SseEvent[]): void {
    if (this.hasData) {
      const data = this.dataLines.length === 1 ? this.dataLines[0] : this.dataLines.join('\n')
      out.push(this.eventType !== undefined && this.eventType !== '' ? { event: this.eventType, data } : { data })
    }
    this.dataLines = []
    this.hasData = false
    this.eventType = undefined
  }
}
