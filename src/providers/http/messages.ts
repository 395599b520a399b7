// Wire formats with role-tagged turns of content parts (Anthropic, Gemini) translate the same way: each block through
// the format's own translator, dropping what it skips, and dropping turns left with nothing to send.
import type { ContentBlock, Message, Role } from '../../core/types.ts'

export function wireTurns<P, T> (messages: Message[], part: (block: ContentBlock, role: Role) => P | undefined,
  turn: (role: Role, parts: P[]) => T): T[] {
  const out: T[] = []
  for (const m of messages) {
    const parts: P[] = []
    for (const b of m.content) {
      const p = part(b, m.role)
      if (p !== undefined) parts.push(p)
    }
    if (parts.length > 0) out.push(turn(m.role, parts))
  }
  return out
}
