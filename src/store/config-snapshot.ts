// The `ConfigSnapshot` row and the `snapshot_hash` every inference, model inference and feedback row carries.
// TensorZero hashes its own re-serialised config (blake3 over sorted TOML, then the templates); the sidecar cannot
// reproduce that serialisation byte for byte, so it hashes what it loaded instead: each config file's path and text,
// then each referenced template and schema file's path and text, in a fixed order. SHA-256 is enough for that (the
// value is an identity, not a secret) and needs no dependency. Like TensorZero's, the hash is the 256-bit digest read
// as a big-endian unsigned integer, in decimal: the form ClickHouse takes for a UInt256.
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { TensorZeroConfig } from '../core/config.ts'
import type { StoreClient } from './client.ts'
import { tableNames } from './queries.ts'
import { storedConfigToml } from './stored-config.ts'

/** The TensorZero release whose schema and config the sidecar follows: its migration records and snapshots say so. */
export const TENSORZERO_VERSION = '2026.4.1'

export interface ConfigSnapshot {
  /** Decimal UInt256. */
  hash: string
  /** The config as TensorZero stores one: the files merged, each file they name inlined (see stored-config.ts). */
  config: string
  /** Template and schema files by path relative to the first config file's folder. */
  extraTemplates: Record<string, string>
}

/** The files the config refers to: variant templates, function schemas and tool parameter schemas (inline ones have no path). */
function referencedFiles (config: TensorZeroConfig): string[] {
  const refs: Array<{ path: string } | undefined> = []
  for (const fn of config.functions.values()) {
    refs.push(...Object.values(fn.schemas), fn.outputSchema)
    for (const v of fn.variants.values()) refs.push(...Object.values(v.templates))
  }
  for (const tool of config.tools.values()) refs.push(tool.parameters)
  return [...new Set(refs.flatMap(r => r === undefined || r.path === '' ? [] : [r.path]))]
}

/** Reads the loaded config's files again (at start, and after a reload). */
export async function configSnapshot (config: TensorZeroConfig): Promise<ConfigSnapshot> {
  const base = config.files.length > 0 ? path.dirname(config.files[0]) : process.cwd()
  const name = (file: string): string => path.relative(base, file).split(path.sep).join('/')
  // Each file is read once: the hash and the stored config see the same text.
  const texts = new Map<string, Promise<string>>()
  const read = async (file: string): Promise<string> => {
    let text = texts.get(file)
    if (text === undefined) texts.set(file, text = readFile(file, 'utf8'))
    return await text
  }
  const hasher = createHash('sha256')
  for (const file of config.files) {
    const text = await read(file)
    hasher.update(name(file)).update('\0').update(text).update('\0')
  }
  hasher.update('\0')
  const extraTemplates: Record<string, string> = {}
  for (const file of referencedFiles(config).sort((a, b) => name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0)) {
    const text = await read(file)
    extraTemplates[name(file)] = text
    hasher.update(name(file)).update('\0').update(text).update('\0')
  }
  return { hash: BigInt('0x' + hasher.digest('hex')).toString(), config: await storedConfigToml(config.files, read), extraTemplates }
}

/** One `ConfigSnapshot` row per start, where the table exists (TensorZero ≥ migration 0043); the newest `last_used` wins. */
export async function writeConfigSnapshot (client: StoreClient, snapshot: ConfigSnapshot): Promise<void> {
  if (!(await tableNames(client)).has('ConfigSnapshot')) return
  const row = { config: snapshot.config, extra_templates: snapshot.extraTemplates, hash: snapshot.hash, tensorzero_version: TENSORZERO_VERSION, tags: {} }
  await client.insert('ConfigSnapshot', Buffer.from(JSON.stringify(row) + '\n'), { input_format_skip_unknown_fields: 0 })
}
