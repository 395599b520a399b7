// The tools an inference offers (TensorZero's ToolCallConfig): the function's `[tools.*]` and the request's dynamic
// tools, or with the request's `allowed_tools` exactly the ones it names (which may add a `[tools.*]` the function
// does not list); `tool_choice` and `parallel_tool_calls` from the request, else the function's. Chat functions only: JSON functions offer no user tools (json-output.ts decides what they get).
import type { FunctionConfig, TensorZeroConfig } from '../core/config.ts'
import type { ToolCallBlock, ToolDefinition, ToolParams } from '../core/types.ts'
import type { ChatRequest } from '../core/request.ts'
import { GatewayError } from '../core/errors.ts'
import { matchesSchema } from '../core/json-schema.ts'

export function toolParamsFor (config: TensorZeroConfig, fn: FunctionConfig, req: ChatRequest): ToolParams | undefined {
  const allowed = req.allowedTools
  // Nothing listed, sent or allowed: no tools to offer (the common plain request pays for none of the checks below).
  if (allowed === undefined && fn.tools.length === 0 && req.dynamicTools.length === 0) return undefined
  const dynamicNames = new Set(req.dynamicTools.map(t => t.name))
  const unknown = allowed?.find(name => !config.tools.has(name) && !dynamicNames.has(name))
  if (unknown !== undefined) {
    throw new GatewayError(400, `Tool not found: ${unknown} (\`allowed_tools\` names a tool that is neither a \`[tools.*]\` entry nor one of the request's tools)`)
  }
  // Available: the function's tools, then the config tools only `allowed_tools` names (a request tool of that name
  // wins), then the request's. Offered: with `allowed_tools`, only the available tools it names (config key or name).
  const staticKeys = [...fn.tools]
  for (const name of allowed ?? []) if (config.tools.has(name) && !staticKeys.includes(name) && !dynamicNames.has(name)) staticKeys.push(name)
  const available: Array<{ key: string; tool: ToolDefinition }> = staticKeys.flatMap(key => {
    const tool = configTool(config, key)
    return tool === undefined ? [] : [{ key, tool }]
  })
  for (const tool of req.dynamicTools) {
    if (available.some(a => a.tool.name === tool.name)) {
      throw new GatewayError(400, `Duplicate tool name: \`${tool.name}\` is defined by function \`${fn.name}\` and again in the request's \`tools\``)
    }
    available.push({ key: tool.name, tool })
  }
  const tools = available.filter(a => allowed === undefined || allowed.includes(a.key)).map(a => a.tool)
  const toolChoice = req.toolChoice ?? fn.toolChoice
  // No tools: nothing to offer, whatever tool_choice says (providers reject tool_choice without tools).
  if (available.length === 0) return undefined
  if (typeof toolChoice === 'object' && !available.some(a => a.tool.name === toolChoice.specific)) {
    throw new GatewayError(400, `tool_choice names tool \`${toolChoice.specific}\`, which is not among the tools offered (${available.map(a => a.tool.name).join(', ')})`)
  }
  const params: ToolParams = { tools, toolChoice, parallelToolCalls: req.parallelToolCalls ?? fn.parallelToolCalls }
  if (allowed !== undefined) {
    params.allowedTools = allowed
    params.availableTools = available.map(a => a.tool)
  }
  if (req.dynamicTools.length > 0) params.dynamicTools = req.dynamicTools
  return params
}

/** The `[tools.NAME]` table as the tool a model is offered. */
function configTool (config: TensorZeroConfig, name: string): ToolDefinition | undefined {
  const tool = config.tools.get(name)
  return tool === undefined ? undefined : { name: tool.wireName, description: tool.description, parameters: tool.parameters.schema, strict: tool.strict }
}

/** What a tool call is checked against: every available tool, including those `allowed_tools` did not offer. */
export function toolsAvailable (tp: ToolParams | undefined): ToolDefinition[] | undefined {
  return tp?.availableTools ?? tp?.tools
}

/**
 * A tool call as TensorZero answers and stores it: the model's raw name and arguments, and `name` / `arguments` only
 * when the name is an available tool (offered or left out by `allowed_tools`) and the arguments are JSON satisfying its
 * parameters (else null).
 */
export function checkedToolCall (call: ToolCallBlock, tools: ToolDefinition[] | undefined): Record<string, unknown> {
  const tool = tools?.find(t => t.name === call.name)
  let args: unknown = null
  if (tool !== undefined) {
    try {
      const parsed: unknown = JSON.parse(call.arguments)
      if (matchesSchema(tool.parameters, parsed)) args = parsed
    } catch { /* invalid JSON: arguments stay null */ }
  }
  return { type: 'tool_call', id: call.id, raw_name: call.name, raw_arguments: call.arguments, name: tool === undefined ? null : call.name, arguments: args }
}
