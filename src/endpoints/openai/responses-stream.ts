// A streamed inference as Responses API server-sent events, in the order OpenAI sends them and the openai SDK and the
// Vercel AI SDK check: response.created, response.in_progress; per output item `output_item.added`, its part
// (`content_part.added` / `reasoning_summary_part.added`), its deltas; at the end each item's `.done` events in output
// order, then response.completed (or `error` and response.failed when the stream broke). Every event has a `sequence_number`.
import type { FinishReason, StreamDelta, Usage } from '../../core/types.ts'
import { STORED_TEXT_KEEP_CHARS } from '../../core/records.ts'
import type { InferenceMeta } from '../../function/run.ts'
import type { ResponseEcho } from './responses-request.ts'
import { itemIdOf } from './responses-ids.ts'
import {
  finishedStatus, functionCallItem, messageItem, outputTextPart, reasoningItem, responseObject, summaryPart, usageOf
} from './responses-response.ts'
import type { ResponseState } from './responses-response.ts'

/**
 * One output item being streamed. Its text is kept for the `.done` events and the completed response, up to the bound
 * the rows keep (`STORED_TEXT_KEEP_CHARS`): past it those carry the text cut there, while the deltas carry all of it.
 */
interface OpenItem { kind: 'message' | 'reasoning' | 'function_call'; id: string; outputIndex: number; text: string; callId: string; name: string }

export class ResponseEvents {
  private sequence = 0
  private readonly items: OpenItem[] = []
  private message?: OpenItem
  private reasoning?: OpenItem
  private readonly calls = new Map<number, OpenItem>()
  private readonly meta: InferenceMeta
  private readonly echo: ResponseEcho
  private readonly createdAt: number

  constructor (meta: InferenceMeta, echo: ResponseEcho, createdAt = Math.floor(Date.now() / 1000)) {
    this.meta = meta
    this.echo = echo
    this.createdAt = createdAt
  }

  start (): string {
    const response = this.response({ status: 'in_progress', output: [], usage: null })
    return this.event('response.created', { response }) + this.event('response.in_progress', { response })
  }

  /** The events for one delta ('' when it carries nothing a client sees). */
  delta (d: StreamDelta): string {
    let out = ''
    if (d.thought !== undefined && d.thought !== '') {
      if (this.reasoning === undefined) {
        const item = this.reasoning = this.open('reasoning', itemIdOf('rs', this.meta.inferenceId, 0))
        out += this.event('response.output_item.added', { output_index: item.outputIndex, item: reasoningItem(item.id, '', 'in_progress') })
        out += this.event('response.reasoning_summary_part.added', { ...this.at(item), summary_index: 0, part: summaryPart('') })
      }
      append(this.reasoning, d.thought)
      out += this.event('response.reasoning_summary_text.delta', { ...this.at(this.reasoning), summary_index: 0, delta: d.thought })
    }
    if (d.text !== undefined && d.text !== '') {
      if (this.message === undefined) {
        const item = this.message = this.open('message', itemIdOf('msg', this.meta.inferenceId, 0))
        out += this.event('response.output_item.added', { output_index: item.outputIndex, item: messageItem(item.id, '', 'in_progress') })
        out += this.event('response.content_part.added', { ...this.at(item), content_index: 0, part: outputTextPart('') })
      }
      append(this.message, d.text)
      out += this.event('response.output_text.delta', { ...this.at(this.message), content_index: 0, delta: d.text, logprobs: [] })
    }
    for (const piece of d.toolCalls ?? []) {
      let call = this.calls.get(piece.index)
      if (call === undefined) {
        call = this.open('function_call', itemIdOf('fc', this.meta.inferenceId, this.calls.size))
        call.callId = piece.id ?? `call_${call.id.slice(3)}`
        this.calls.set(piece.index, call)
        call.name = piece.name ?? ''
        out += this.event('response.output_item.added', { output_index: call.outputIndex, item: functionCallItem(call.id, call.callId, call.name, '', 'in_progress') })
      } else if (piece.name !== undefined) call.name += piece.name
      if (piece.arguments !== undefined && piece.arguments !== '') {
        append(call, piece.arguments)
        out += this.event('response.function_call_arguments.delta', { ...this.at(call), delta: piece.arguments })
      }
    }
    return out
  }

  /** Every open item's `.done` events, then response.completed (or incomplete, when cut by the token limit). */
  finish (finishReason: FinishReason | undefined, usage: Usage): string {
    let out = ''
    for (const item of this.items) {
      const at = this.at(item)
      if (item.kind === 'reasoning') {
        out += this.event('response.reasoning_summary_text.done', { ...at, summary_index: 0, text: item.text })
        out += this.event('response.reasoning_summary_part.done', { ...at, summary_index: 0, part: summaryPart(item.text) })
      } else if (item.kind === 'message') {
        out += this.event('response.output_text.done', { ...at, content_index: 0, text: item.text, logprobs: [] })
        out += this.event('response.content_part.done', { ...at, content_index: 0, part: outputTextPart(item.text) })
      } else {
        out += this.event('response.function_call_arguments.done', { ...at, name: item.name, arguments: item.text })
      }
      out += this.event('response.output_item.done', { output_index: item.outputIndex, item: this.itemOf(item, 'completed') })
    }
    const { status, incomplete_details: details } = finishedStatus(finishReason)
    const response = this.response({ status, incomplete_details: details, output: this.items.map(i => this.itemOf(i, 'completed')), usage: usageOf(usage) })
    return out + this.event(status === 'completed' ? 'response.completed' : 'response.incomplete', { response })
  }

  /**
   * The stream broke after it started: an `error` event (the openai SDK throws it, as it throws a chat stream's
   * in-stream error, so a partial answer is never taken for a whole one), then the failed response with what was
   * produced so far, for clients that read the lifecycle events (the Vercel AI SDK).
   */
  failed (message: string): string {
    const response = this.response({
      status: 'failed',
      error: { code: 'server_error', message },
      output: this.items.map(i => this.itemOf(i, 'in_progress')),
      usage: null
    })
    return this.event('error', { code: 'server_error', message, param: null }) + this.event('response.failed', { response })
  }

  private open (kind: OpenItem['kind'], id: string): OpenItem {
    const item: OpenItem = { kind, id, outputIndex: this.items.length, text: '', callId: '', name: '' }
    this.items.push(item)
    return item
  }

  private at (item: OpenItem): { item_id: string; output_index: number } {
    return { item_id: item.id, output_index: item.outputIndex }
  }

  private itemOf (item: OpenItem, status: 'in_progress' | 'completed'): Record<string, unknown> {
    if (item.kind === 'message') {
      const done = messageItem(item.id, item.text, 'completed')
      return status === 'completed' ? done : { ...done, status }
    }
    if (item.kind === 'reasoning') return reasoningItem(item.id, item.text, 'completed')
    return functionCallItem(item.id, item.callId, item.name, item.text, status)
  }

  private response (state: ResponseState): Record<string, unknown> {
    return responseObject(this.meta, this.echo, this.createdAt, state)
  }

  private event (type: string, fields: Record<string, unknown>): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, ...fields, sequence_number: this.sequence++ })}\n\n`
  }
}

function append (item: OpenItem, piece: string): void {
  if (item.text.length <= STORED_TEXT_KEEP_CHARS) item.text += piece
}
