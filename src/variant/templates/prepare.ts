// TensorZero's template semantics for `chat_completion` variants (tensorzero-core variant/chat_completion):
//
// System message
// - variant has a system template:
//   - declared as `system_template` or `input_wrappers.system` and the function has no `system_schema` (a "legacy"
//     template; a wrapper never has one): rendered with `{system_text: <the system text, or null>}`; template
//     arguments are an error;
//   - otherwise (a schema, or `templates.system.path`): rendered with the arguments object, the text, or null;
// - no template: text as is; arguments are an error.
// User/assistant messages, block by block
// - text: wrapped by the role's legacy template (`user_template` / `assistant_template` / `input_wrappers.<role>`) as
//   `{user_text}` / `{assistant_text}`; otherwise as is;
// - template arguments (`tensorzero::template` name, or the role for `tensorzero::arguments` / bare objects):
//   rendered by the variant's template of that name (`<role>_template` or `templates.<name>.path`); a legacy template
//   without a schema takes text only;
// - `tensorzero::raw_text`: as is, never wrapped; tool calls, tool results and images: unchanged.
// Before any variant runs, arguments (and text where a schema applies) are validated against the function's schemas:
// failure is a 400 `JSON Schema validation failed`, as TensorZero's input validation.
import { completionConfigs, type FunctionConfig, type TensorZeroConfig, type VariantConfig } from '../../core/config.ts'
import type { ContentBlock, Input, Message, Role } from '../../core/types.ts'
import { GatewayError } from '../../core/errors.ts'
import { compileTemplateFile, compiledTemplate, TemplateRenderError } from './engine.ts'
import { assertMatchesSchema } from '../../core/json-schema.ts'

const ROLES = ['system', 'user', 'assistant']

/** Renders a request's input for one variant; the templates are compiled when it is made, requests only render. */
export class TemplateRenderer {
  private readonly includeRoot: string | undefined

  constructor (config: TensorZeroConfig) {
    this.includeRoot = config.gateway.templateBasePath
    for (const fn of config.functions.values()) {
      for (const variant of [...fn.variants.values()].flatMap(completionConfigs)) {
        // Compiled now (or found unchanged since the loader's check); a broken one fails only its variant, at request time.
        for (const ref of Object.values(variant.templates)) if (ref !== undefined) compileTemplateFile(ref.path, this.includeRoot)
      }
    }
  }

  /** System text and messages of plain blocks, as the variant's templates make them. */
  render (fn: FunctionConfig, variant: VariantConfig, input: Input): { system?: string; messages: Message[] } {
    return {
      system: this.system(fn, variant, input.system),
      messages: input.messages.map(m => this.message(fn, variant, m))
    }
  }

  private renderFile (fn: FunctionConfig, variant: VariantConfig, file: string, context: unknown): string {
    const { compiled, problems } = compiledTemplate(file, this.includeRoot)
    if (compiled === undefined) {
      throw new GatewayError(500, `template ${file} does not compile: ${problems.map(p => `${p.file}:${p.line}: ${p.message}`).join('; ')}`)
    }
    try {
      return compiled.render(context)
    } catch (err) {
      if (err instanceof TemplateRenderError) {
        throw new GatewayError(400, `function \`${fn.name}\` variant \`${variant.name}\`: ${err.message}`)
      }
      throw err
    }
  }

  private system (fn: FunctionConfig, variant: VariantConfig, system: Input['system']): string | undefined {
    const template = variant.templates.system
    if (template === undefined) {
      if (system !== undefined && typeof system !== 'string') {
        throw new GatewayError(400, `System message content is a template but variant \`${variant.name}\` of function \`${fn.name}\` has no system template`)
      }
      return system
    }
    if (isLegacy(fn, variant, 'system')) {
      if (system !== undefined && typeof system !== 'string') {
        if (template.inputWrapper === true) {
          throw new GatewayError(400, 'System message content is a template but `input_wrappers.system` is set in the variant config' +
            ` (variant \`${variant.name}\` of function \`${fn.name}\`)`)
        }
        throw new GatewayError(400, `System message content is template arguments, but function \`${fn.name}\` has no \`system_schema\`: ` +
          `its \`system_template\` (variant \`${variant.name}\`) takes the system text, as \`system_text\``)
      }
      return this.renderFile(fn, variant, template.path, { system_text: system ?? null })
    }
    return this.renderFile(fn, variant, template.path, system ?? null)
  }

  private message (fn: FunctionConfig, variant: VariantConfig, message: Message): Message {
    let changed = false
    const content = message.content.map((block): ContentBlock => {
      const out = this.block(fn, variant, message.role, block)
      if (out !== block) changed = true
      return out
    })
    return changed ? { role: message.role, content } : message
  }

  private block (fn: FunctionConfig, variant: VariantConfig, role: Role, block: ContentBlock): ContentBlock {
    switch (block.type) {
      case 'text': {
        const template = variant.templates[role]
        if (template === undefined || !isLegacy(fn, variant, role)) return block
        return { type: 'text', text: this.renderFile(fn, variant, template.path, { [`${role}_text`]: block.text }) }
      }
      case 'raw_text':
        return { type: 'text', text: block.value }
      case 'template': {
        const template = variant.templates[block.name]
        if (template === undefined) throw templateNotFound(fn, `variant \`${variant.name}\``, block.name)
        if (isLegacy(fn, variant, block.name)) {
          if (template.inputWrapper === true) {
            throw new GatewayError(400, `Request message content ${JSON.stringify(block.arguments)} is not a string but ` +
              `\`input_wrappers.${block.name}\` is set in the variant config (variant \`${variant.name}\` of function \`${fn.name}\`)`)
          }
          throw new GatewayError(400, `${role} message content is template arguments, but function \`${fn.name}\` has no \`${block.name}_schema\`: ` +
            `its \`${block.name}_template\` (variant \`${variant.name}\`) takes text, as \`${block.name}_text\``)
        }
        return { type: 'text', text: this.renderFile(fn, variant, template.path, block.arguments) }
      }
      default:
        return block
    }
  }
}

/** A role template declared as `<role>_template` or `input_wrappers.<role>` whose function has no schema for it: it wraps plain text. */
function isLegacy (fn: FunctionConfig, variant: VariantConfig, name: string): boolean {
  if (!ROLES.includes(name) || fn.schemas[name] !== undefined) return false
  return variant.templates[name]?.inputWrapper === true || variant.raw[`${name}_template`] !== undefined
}

/**
 * Function-level input validation, before any variant runs (a failure is the client's: 400, no fallback):
 * arguments against the schema of their template name, text against the role's schema where one exists.
 */
export function validateTemplateInput (fn: FunctionConfig, input: Input, pinned?: VariantConfig): void {
  const systemSchema = fn.schemas.system
  if (systemSchema !== undefined && input.system !== undefined) {
    assertMatchesSchema(systemSchema.schema, input.system, 'the system message')
  }
  if (input.system !== undefined && typeof input.system !== 'string') requireTemplate(fn, pinned, 'system')
  input.messages.forEach((message, i) => {
    for (const block of message.content) {
      if (block.type === 'template') {
        requireTemplate(fn, pinned, block.name)
        const schema = fn.schemas[block.name]
        if (schema !== undefined) assertMatchesSchema(schema.schema, block.arguments, `input message ${i} (${message.role}, template \`${block.name}\`)`)
      } else if (block.type === 'text') {
        const schema = fn.schemas[message.role]
        if (schema !== undefined) assertMatchesSchema(schema.schema, block.text, `input message ${i} (${message.role} text)`)
      }
    }
  })
}

/**
 * Template arguments (a `content` object, `tensorzero::arguments`, a `tensorzero::template` block) need a template of
 * that name in the variant that runs; where no variant that may run has one, the client hears it before any runs.
 */
function requireTemplate (fn: FunctionConfig, pinned: VariantConfig | undefined, name: string): void {
  const candidates = pinned === undefined ? fn.variants.values() : [pinned]
  for (const variant of candidates) if (variant.templates[name] !== undefined) return
  throw templateNotFound(fn, pinned === undefined ? 'no variant' : `variant \`${pinned.name}\``, name)
}

function templateNotFound (fn: FunctionConfig, which: string, name: string): GatewayError {
  return new GatewayError(400, `Template \`${name}\` not found: ${which} of function \`${fn.name}\` has ${which === 'no variant' ? '' : 'no '}` +
    (ROLES.includes(name) ? `\`${name}_template\`` : `\`templates.${name}.path\``))
}

/** The config's templates, compiled now and rendered per request: what the gateway hands every variant. */
export function templatePreparer (config: TensorZeroConfig): TemplateRenderer {
  return new TemplateRenderer(config)
}
