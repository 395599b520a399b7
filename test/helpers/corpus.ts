// The TensorZero config corpus: test/fixtures/tensorzero-corpus/corpus.json says where it comes from, which configs
// load and why the others do not.
import path from 'node:path'
import { readFileSync, globSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const CORPUS_ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tensorzero-corpus')

export interface CorpusUnit { config_file: string; note?: string }

export const corpus = JSON.parse(readFileSync(path.join(CORPUS_ROOT, 'corpus.json'), 'utf8')) as {
  source: string
  not_loaded: Record<string, string>
  units: CorpusUnit[]
}

/** The absolute paths of a unit's files (its `config_file` may be a glob). */
export function unitFiles (unit: CorpusUnit): string[] {
  return globSync(unit.config_file, { cwd: CORPUS_ROOT }).map(f => path.join(CORPUS_ROOT, f))
}
