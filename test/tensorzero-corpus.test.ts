// Every config of TensorZero's own repository that its gateway starts on loads in the sidecar too, with the functions,
// models, embedding models, metrics and tools its TOML declares. The corpus and its source are in
// test/fixtures/tensorzero-corpus/corpus.json.
import t from 'tap'
import path from 'node:path'
import { readFileSync } from 'node:fs'
import { parse } from 'smol-toml'
import { validateConfigFiles } from '../src/config/load.ts'
import { checkTemplates } from '../src/variant/templates/check.ts'
import { formatDiagnostic } from '../src/config/diagnostics.ts'
import { CORPUS_ROOT as ROOT, corpus, unitFiles } from './helpers/corpus.ts'

type Table = Record<string, unknown>
const BUILT_IN_METRICS = new Set(['comment', 'demonstration'])
const SECTIONS = ['functions', 'models', 'embedding_models', 'metrics', 'tools'] as const

/**
 * The metrics TensorZero's loader adds for evaluators, named as its evaluations/mod.rs names them: one per evaluator of
 * `[evaluations.E]` and of `[functions.F.evaluators]`.
 */
function evaluatorMetrics (files: string[]): string[] {
  const out: string[] = []
  const evaluatorsOf = (t: unknown): string[] => Object.keys(((t as Table | undefined)?.evaluators ?? {}) as Table)
  for (const file of files) {
    const toml = parse(readFileSync(file, 'utf8')) as Table
    for (const [e, evaluation] of Object.entries((toml.evaluations ?? {}) as Table)) {
      for (const v of evaluatorsOf(evaluation)) out.push(`tensorzero::evaluation_name::${e}::evaluator_name::${v}`)
    }
    for (const [f, fn] of Object.entries((toml.functions ?? {}) as Table)) {
      for (const v of evaluatorsOf(fn)) out.push(`tensorzero::function_name::${f}::evaluator_name::${v}`)
    }
  }
  return out
}

/** The names each section declares, over every file of the unit, read straight from the TOML. */
function declared (files: string[]): Record<typeof SECTIONS[number], Set<string>> {
  const out = Object.fromEntries(SECTIONS.map(s => [s, new Set<string>()])) as Record<typeof SECTIONS[number], Set<string>>
  for (const file of files) {
    const toml = parse(readFileSync(file, 'utf8')) as Table
    for (const section of SECTIONS) {
      for (const name of Object.keys((toml[section] ?? {}) as Table)) out[section].add(name)
    }
  }
  return out
}

t.test('the corpus is what corpus.json lists, and every unit names at least one file', async t => {
  t.ok(corpus.units.length >= 80, `${corpus.units.length} configs`)
  for (const unit of corpus.units) t.ok(unitFiles(unit).length > 0, unit.config_file)
})

t.test('every ```toml block of the docs pages is a unit or is listed with the reason TensorZero refuses it', async t => {
  const units = corpus.units.map(u => /^docs\/(.+)\/(\d+)\/tensorzero\.toml$/.exec(u.config_file)).filter(m => m !== null).map(m => `${m[1]}#${m[2]}`)
  const refused = Object.entries(corpus.not_loaded).filter(([k]) => k.startsWith('docs/'))
  t.ok(units.length >= 80, `${units.length} whole-file blocks`)
  for (const [block, reason] of refused) t.match(reason, /\S/, `${block} has a reason`)
  // Each page's blocks are numbered 1..n with none missing or counted twice.
  const byPage = new Map<string, number[]>()
  for (const id of [...units, ...refused.map(([k]) => k.replace(/^docs\/(.+)\.mdx/, '$1'))]) {
    const [page, n] = id.split('#')
    byPage.set(page, [...(byPage.get(page) ?? []), Number(n)])
  }
  for (const [page, numbers] of byPage) t.same(numbers.sort((a, b) => a - b), numbers.map((_, i) => i + 1), page)
})

for (const unit of corpus.units) {
  t.test(`loads: ${unit.config_file}`, async t => {
    const files = unitFiles(unit)
    const result = await validateConfigFiles({ configFile: path.join(ROOT, unit.config_file), env: {}, checkTemplates })
    const errors = result.diagnostics.filter(d => d.severity === 'error').map(d => formatDiagnostic(d))
    t.same(errors, [], 'no errors')
    const config = result.config?.tensorzero
    if (config === undefined) return
    const names = declared(files)
    t.same([...config.functions.keys()].sort(), [...names.functions].sort(), 'functions as declared')
    // Plus TensorZero's built-in `comment` and `demonstration`, and (as TensorZero's loader adds them) one metric per evaluator.
    t.same([...config.metrics.keys()].filter(m => !BUILT_IN_METRICS.has(m) || names.metrics.has(m)).sort(),
      [...names.metrics, ...evaluatorMetrics(files)].sort(), 'metrics as declared, plus the evaluators\' metrics')
    t.same([...config.tools.keys()].sort(), [...names.tools].sort(), 'tools as declared')
    // Shorthand models a variant names (`openai::gpt-4o`) are added to the declared ones.
    for (const name of names.models) t.ok(config.models.has(name), `model ${name}`)
    for (const name of names.embedding_models) t.ok(config.embeddingModels.has(name), `embedding model ${name}`)
  })
}
