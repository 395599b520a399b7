// Folds stream deltas into the output a non-streaming call would have returned, for the stored rows and usage.
// Texts stop growing just past what the rows keep (`STORED_TEXT_KEEP_CHARS`): the rows then mark them truncated.
import type { OutputBlock, StreamDelta, Usage, FinishReason, ToolCallBlock } from '../core/types.ts'
import { STORED_TEXT_KEEP_CHARS } from '../core/records.ts'

export class StreamCollector {
  private text = ''
  private thought = ''
  private readonly toolCalls = new Map<number, ToolCallBlock>()
  usage: Usage = {}
  finishReason?: FinishReason

  add (delta: StreamDelta): void {
    if (delta.text !== undefined && this.text.length <= STORED_TEXT_KEEP_CHARS) this.text += delta.text
    if (delta.thought !== undefined && this.thought.length <= STORED_TEXT_KEEP_CHARS) this.thought += delta.thought
    if (delta.toolCalls !== undefined) {
      for (const piece of delta.toolCalls) {
        let call = this.toolCalls.get(piece.index)
        if (call === undefined) {
          call = { type: 'tool_call', id: '', name: '', arguments: '' }
          this.toolCalls.set(piece.index, call)
        }
        if (piece.id !== undefined) call.id += piece.id
        if (piece.name !== undefined) call.name += piece.name
        if (piece.arguments !== undefined) call.arguments += piece.arguments
      }
    }
    if (delta.usage !== undefined) {
      // Providers report usage cumulatively or once at the end; keep the largest figure seen.
      const u = delta.usage
      if (u.inputTokens !== undefined) this.usage.inputTokens = Math.max(this.usage.inputTokens ?? 0, u.inputTokens)
      if (u.outputTokens !== undefined) this.usage.outputTokens = Math.max(this.usage.outputTokens ?? 0, u.outputTokens)
      if (u.cacheReadInputTokens !== undefined) this.usage.cacheReadInputTokens = Math.max(this.usage.cacheReadInputTokens ?? 0, u.cacheReadInputTokens)
      if (u.cacheWriteInputTokens !== undefined) this.usage.cacheWriteInputTokens = Math.max(this.usage.cacheWriteInputTokens ?? 0, u.cacheWriteInputTokens)
    }
    if (delta.finishReason !== undefined) this.finishReason = delta.finishReason
  }

  output (): OutputBlock[] {
    const blocks: OutputBlock[] = []
    if (this.thought !== '') blocks.push({ type: 'thought', text: this.thought })
    if (this.text !== '') blocks.push({ type: 'text', text: this.text })
    const indexes = [...this.toolCalls.keys()].sort((a, b) => a - b)
    for (const i of indexes) blocks.push(this.toolCalls.get(i) as ToolCallBlock)
    return blocks
  }
}
