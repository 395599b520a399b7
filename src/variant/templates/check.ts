// Config-time check of every template a function variant names: it must compile (with its includes).
// Handed to the config loader by `tz-sidecar validate` and `serve`, so a template that does not parse is reported at
// its file and line before anything runs.
import type { Diagnostics } from '../../config/diagnostics.ts'
import { completionConfigs, type TensorZeroConfig } from '../../core/config.ts'
import { compileTemplateFile } from './engine.ts'
import { JUDGE_KEYS } from '../../config/inference-time-variants.ts'

export function checkTemplates (config: TensorZeroConfig, diags: Diagnostics): void {
  const seen = new Set<string>()
  for (const fn of config.functions.values()) {
    for (const variant of fn.variants.values()) {
      for (const owner of completionConfigs(variant)) {
        const at = `functions.${fn.name}.variants.${variant.name}.${owner === variant ? '' : `${JUDGE_KEYS[variant.type]}.`}`
        for (const [name, ref] of Object.entries(owner.templates)) {
          if (ref === undefined || seen.has(ref.path)) continue
          seen.add(ref.path)
          const { problems } = compileTemplateFile(ref.path, config.gateway.templateBasePath)
          const key = ref.inputWrapper === true
            ? `input_wrappers.${name}`
            : ['system', 'user', 'assistant'].includes(name) && owner.raw[`${name}_template`] !== undefined
              ? `${name}_template`
              : `templates.${name}.path`
          for (const p of problems) {
            const report = p.warning === true ? diags.warning.bind(diags) : diags.error.bind(diags)
            report({ file: p.file, line: p.line, col: p.col },
              `${p.message} (template of \`${at}${key}\`, ${ref.source.file}:${ref.source.line}:${ref.source.col})`)
          }
        }
      }
    }
  }
}
