// `[tools.*]`: function-calling tools a chat function may offer; parameters is a JSON Schema file.
import { readSchemaRef } from './referenced-files.ts'
import type { LoadContext, TableReader } from './reader.ts'
import type { ToolConfig } from '../core/config.ts'

export function readTools (section: TableReader | undefined, _ctx: LoadContext): Map<string, ToolConfig> {
  const tools = new Map<string, ToolConfig>()
  for (const [name, r] of section?.entries() ?? []) {
    r.checkKeys(['description', 'parameters', 'name', 'strict'])
    const description = r.string('description', true)
    const parameters = readSchemaRef(r, 'parameters', true)
    const wireName = r.string('name') ?? name
    const strict = r.boolean('strict') ?? false
    if (description !== undefined && parameters) {
      tools.set(name, { name, wireName, description, parameters, strict, source: r.at() })
    }
  }
  return tools
}
