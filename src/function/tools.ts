// The tools an inference offers (TensorZero's ToolCallConfig): the function's `[tools.*]`, restricted by the
// request's `allowed_tools`, plus the request's dynamic tools; `tool_choice` and `parallel_tool_calls` from the request,
// else the function's. Chat functions only: JSON functions offer no user tools (json-output.ts decides what they get).
import type { FunctionConfig, TensorZeroConfig } from '../core/config.ts'
import type { ToolCallBlock, ToolDefinition, ToolParams } from '../core/types.ts'
import type { ChatRequest } from '../core/request.ts'
import { GatewayError } from '../core/errors.ts'
import { matchesSchema } from '../core/json-schema.ts'

export function toolParamsFor (config: TensorZeroConfig, fn: FunctionConfig, req: ChatRequest): ToolParams | undefined {
  const allowed = req.allowedTools
  if (allowed !== undefined) {
    const unknown = allowed.filter(name => !fn.tools.includes(name) && !req.dynamicTools.some(t => t.name === name))
    if (unknown.length > 0) {
      throw new GatewayError(400, `allowed_tools names tools that function \`${fn.name}\` does not have: ${unknown.join(', ')}` +
        ` (its tools: ${fn.tools.length > 0 ? fn.tools.join(', ') : 'none'})`)
    }
  }
  const tools: ToolDefinition[] = []
  for (const name of fn.tools) {
    if (allowed !== undefined && !allowed.includes(name)) continue
    const tool = configTool(config, name)
    if (tool !== undefined) tools.push(tool)
  }
  for (const tool of req.dynamicTools) {
    if (tools.some(t => t.name === tool.name)) {
      throw new GatewayError(400, `Duplicate tool name: \`${tool.name}\` is defined by function \`${fn.name}\` and again in the request's \`tools\``)
    }
    tools.push(tool)
  }
  const toolChoice = req.toolChoice ?? fn.toolChoice
  // No tools: nothing to offer, whatever tool_choice says (providers reject tool_choice without tools).
  if (tools.length === 0) return undefined
  if (typeof toolChoice === 'object' && !tools.some(t => t.name === toolChoice.specific)) {
    throw new GatewayError(400, `tool_choice names tool \`${toolChoice.specific}\`, which is not among the tools offered (${tools.map(t => t.name).join(', ')})`)
  }
  const params: ToolParams = { tools, toolChoice, parallelToolCalls: req.parallelToolCalls ?? fn.parallelToolCalls }
  if (allowed !== undefined) params.allowedTools = allowed
  return params
}

/** The `[tools.NAME]` table as the tool a model is offered. */
export function configTool (config: TensorZeroConfig, name: string): ToolDefinition | undefined {
  const tool = config.tools.get(name)
  return tool === undefined ? undefined : { name: tool.wireName, description: tool.description, parameters: tool.parameters.schema, strict: tool.strict }
}

/**
 * A tool call as TensorZero answers and stores it: the model's raw name and arguments, and `name` / `arguments` only
 * when the name is a tool that was offered and the arguments are JSON satisfying its parameters (else null).
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
