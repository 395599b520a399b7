// The `config` column of a `ConfigSnapshot` row, in the form TensorZero reads back (`ConfigSnapshot::from_stored`
// parses it as its `StoredConfig`): the config files merged into one TOML document, with every key that names a file
// replaced by `{ __tensorzero_remapped_path = "<path>", __data = "<file text>" }` (a directory: the path alone), the
// path relative to the folder all those files share. A plain string there is refused by TensorZero's deserializer.
import { readFile, realpath } from 'node:fs/promises'
import path from 'node:path'
import { parse, stringify } from 'smol-toml'

type Table = Record<string, unknown>

/** Every key of a TensorZero config that names a file (TensorZero's list of path-valued keys, `*` = any name). */
const PATH_KEYS: readonly string[] = [
  ...['system_schema', 'user_schema', 'assistant_schema', 'output_schema', 'schemas.*.path'].map(k => `functions.*.${k}`),
  ...['system_schema', 'user_schema', 'assistant_schema', 'output_schema'].map(k => `functions.*.variants.*.${k}`),
  ...['functions.*.variants.*', 'functions.*.variants.*.evaluator', 'functions.*.variants.*.fuser'].flatMap(at => [
    ...['system_template', 'user_template', 'assistant_template', 'templates.*.path', 'system_instructions'].map(k => `${at}.${k}`),
    ...['user', 'system', 'assistant'].map(k => `${at}.input_wrappers.${k}`)
  ]),
  ...['functions.*.evaluators.*.variants.*', 'evaluations.*.evaluators.*.variants.*'].flatMap(at => [
    `${at}.system_instructions`,
    ...['evaluator', 'fuser'].flatMap(part => ['system_instructions', 'templates.*.path', 'system_template', 'user_template', 'assistant_template'].map(k => `${at}.${part}.${k}`))
  ]),
  'functions.*.evaluators.*.typescript_file',
  'evaluations.*.evaluators.*.typescript_file',
  'tools.*.parameters',
  'gateway.template_filesystem_access.base_path'
]

const DIRECTORY_KEYS = new Set(['gateway.template_filesystem_access.base_path'])

const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date)

interface PathLeaf { holder: Table; key: string; value: string; name: string }

/** The string values at `pattern` in `table`, with the table holding each (to replace it in place) and its dotted name. */
function leavesAt (table: Table, pattern: string[], prefix: string): PathLeaf[] {
  const [head, ...rest] = pattern
  const keys = head === '*' ? Object.keys(table) : Object.hasOwn(table, head) ? [head] : []
  return keys.flatMap(key => {
    const value = table[key]
    const name = prefix === '' ? key : `${prefix}.${key}`
    if (rest.length === 0) return typeof value === 'string' ? [{ holder: table, key, value, name }] : []
    return isTable(value) ? leavesAt(value, rest, name) : []
  })
}

/**
 * The loader read every one of these files; one can still go missing before the snapshot is taken (removed or
 * renamed meanwhile). The error then says which key of which config file names it, not just ENOENT.
 */
async function fileOfKey<T> (file: string, name: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (err) {
    throw new Error(`${file}: \`${name}\` names a file that can no longer be read: ${(err as Error).message}`)
  }
}

function merge (into: Table, from: Table): void {
  for (const [key, value] of Object.entries(from)) {
    const existing = into[key]
    if (isTable(existing) && isTable(value)) merge(existing, value)
    else into[key] = value
  }
}

/** The folder every file shares (TensorZero strips it from the paths it stores); none when that is the root. */
function sharedFolder (files: string[]): string | undefined {
  if (files.length === 0) return undefined
  let shared = path.dirname(files[0]).split(path.sep)
  for (const file of files.slice(1)) {
    const parts = path.dirname(file).split(path.sep)
    let n = 0
    while (n < shared.length && n < parts.length && shared[n] === parts[n]) n++
    shared = shared.slice(0, n)
  }
  const folder = shared.join(path.sep)
  return folder === '' || folder === path.parse(folder).root ? undefined : folder
}

/** Reads a file's text; the snapshot passes one that remembers what the hash already read. */
export type ReadText = (file: string) => Promise<string>
const readText: ReadText = async file => await readFile(file, 'utf8')

/** The config files as TensorZero stores its config in a snapshot. */
export async function storedConfigToml (files: readonly string[], read: ReadText = readText): Promise<string> {
  const merged: Table = {}
  // Each path key is replaced before the files are merged (a later file may add keys to an earlier file's tables);
  // the replacement is filled in once every path is known.
  const stored: Array<{ entry: Table; absolute: string; directory: boolean; file: string; name: string }> = []
  for (const file of files) {
    const table = parse(await read(file)) as Table
    for (const key of PATH_KEYS) {
      for (const leaf of leavesAt(table, key.split('.'), '')) {
        const entry: Table = {}
        leaf.holder[leaf.key] = entry
        // Resolved as TensorZero resolves them: against the declaring file's folder, symbolic links followed.
        const absolute = await fileOfKey(file, leaf.name, () => realpath(path.resolve(path.dirname(file), leaf.value)))
        stored.push({ entry, absolute, directory: DIRECTORY_KEYS.has(key), file, name: leaf.name })
      }
    }
    merge(merged, table)
  }
  const folder = sharedFolder(stored.filter(s => !s.directory).map(s => s.absolute))
  for (const { entry, absolute, directory, file, name } of stored) {
    if (directory) {
      entry.__tensorzero_remapped_path = absolute
      continue
    }
    entry.__tensorzero_remapped_path = folder === undefined ? absolute : path.relative(folder, absolute)
    entry.__data = await fileOfKey(file, name, async () => await read(absolute))
  }
  return stringify(merged)
}
