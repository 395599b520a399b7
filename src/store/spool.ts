// The local append-only spool: segment files of JSON lines, one row per line tagged with its table:
//   {"t":"ChatInference","r":{…the JSONEachRow row…}}
// A segment is appended to while open, then sealed (never written again) and shipped; `<segment>.ack` records the
// tables of a segment already inserted, so a restart resumes where the previous process stopped. Shipped segments
// are deleted. Segment ids are UUIDv7s: unique across sidecars (they are part of the insert deduplication token) and
// sorted by creation time (leftovers ship in order). One process per folder: see `spool-lock.ts`.
import { mkdir, open, readdir, readFile, rm, stat, appendFile, rename, unlink, writeFile, statfs } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { dirname, join } from 'node:path'
import { v7 as uuidv7 } from 'uuid'
import { errorText } from './client.ts'
import { isCode, lockSpool, SpoolInUseError } from './spool-lock.ts'
import type { SpoolLock } from './spool-lock.ts'

/** Room a spool that filled up wants free again before it is reported writable: 1 MiB, or a quarter of a small file system. */
const PROBE_FREE_BYTES = 1024 * 1024

export interface Segment {
  id: string
  path: string
  /** Bytes on disk. */
  bytes: number
  /** Lines (rows) in the file. */
  rows: number
  /**
   * The segment's bytes kept in memory by the process that wrote it, so the shipper need not read the file back.
   * Undefined for segments of a previous process, or when the memory budget was spent: those ship
   * from the file.
   */
  mem?: SegmentMemory
}

/** What the spool holds right now: the segment writer adds to it, the shipper takes from it. */
export interface SpoolLedger {
  /** Sealed segments waiting to be shipped, oldest first. */
  sealed: Segment[]
  /** Bytes and rows in segment files (sealed and open), not yet in ClickHouse. */
  bytes: number
  rows: number
  /**
   * Bytes of segments kept in memory for shipping (see `Segment.mem`); beyond the budget (a backlog while ClickHouse
   * is down or slow) new segments ship from their files.
   */
  memBytes: number
}

/** The UTF-8 chunks written to a segment file, and where each table's raw rows lie in them. */
export interface SegmentMemory {
  chunks: Buffer[]
  /** Per table, triples (chunk index, start, end) of the row bytes, in file order. */
  rows: Map<string, number[]>
}

/** Rows of one table as one JSONEachRow body: each row followed by a newline (a copy of the row bytes, no re-encoding). */
export function memoryBody (mem: SegmentMemory, refs: number[]): Buffer {
  let total = 0
  for (let i = 0; i < refs.length; i += 3) total += refs[i + 2] - refs[i + 1] + 1
  const out = Buffer.allocUnsafe(total)
  let p = 0
  for (let i = 0; i < refs.length; i += 3) {
    p += mem.chunks[refs[i]].copy(out, p, refs[i + 1], refs[i + 2])
    out[p++] = 10
  }
  return out
}

/** Rows of one table as strings (for the rare paths that need to look at single rows). */
export function memoryLines (mem: SegmentMemory, refs: number[]): string[] {
  const out: string[] = []
  for (let i = 0; i < refs.length; i += 3) out.push(mem.chunks[refs[i]].toString('utf8', refs[i + 1], refs[i + 2]))
  return out
}

const SEG_RE = /^seg-([0-9a-f-]{36})\.jsonl$/

export function encodeLine (table: string, rowJson: string): string {
  return `${linePrefix(table)}${rowJson}}\n`
}

/** What precedes the row in a line (`encodeLine` = prefix + row + `}` + newline). */
export function linePrefix (table: string): string {
  return `{"t":${JSON.stringify(table)},"r":`
}

/**
 * Splits a spool line into its table and the raw row text, without parsing the row. Null for a damaged line.
 * Lines are written whole, each ending in a newline, by one process that never reopens a segment: a crash can only
 * cut the last line of a segment short, and `splitSegment` drops a last line without its newline.
 */
export function splitSegment (text: string): { lines: string[]; damaged: number } {
  const parts = text.split('\n')
  const tail = parts.pop() ?? ''
  return { lines: parts.filter(l => l !== ''), damaged: tail === '' ? 0 : 1 }
}

/** Splits a spool line into its table and the raw row text, without parsing the row. Null for a damaged line. */
export function decodeLine (line: string): { table: string; row: string } | null {
  if (!line.startsWith('{"t":"') || !line.endsWith('}')) return null
  const sep = line.indexOf('","r":', 6)
  if (sep < 0) return null
  const table = line.slice(6, sep)
  const row = line.slice(sep + 6, -1)
  if (!row.startsWith('{') || !row.endsWith('}')) return null
  return { table, row }
}

export class SpoolDir {
  readonly dir: string
  private lock: SpoolLock | undefined
  constructor (dir: string) { this.dir = dir }

  /**
   * Creates the folder, takes its lock (which proves it can be written) and lists the segments an earlier process
   * left. Throws one line saying why the folder cannot be used (read-only, not permitted, held by another process).
   */
  async init (): Promise<{ leftovers: Segment[]; staleHolder?: number }> {
    try {
      await makeDir(this.dir)
      this.lock = await lockSpool(this.dir)
    } catch (err) {
      if (err instanceof SpoolInUseError) throw err
      throw new Error(`spool folder ${this.dir} cannot be written: ${errorText(err)}`)
    }
    return { leftovers: await this.leftovers(), staleHolder: this.lock.staleHolder }
  }

  /** Lets the next process take the folder. */
  async release (): Promise<void> {
    await this.lock?.release()
    this.lock = undefined
  }

  /**
   * Whether the folder can be written again after a failure (read-only, removed, full): recreates it if it was
   * removed, writes and removes a small file, and wants some room left: on a nearly full disk a small file still fits
   * where rows do not, and /status would flap between ready and not. Throws the reason while it cannot.
   */
  async probe (): Promise<void> {
    await makeDir(this.dir)
    const path = join(this.dir, '.write-probe')
    await writeFile(path, 'ok\n')
    await rm(path, { force: true })
    const fsStats = await statfs(this.dir)
    const free = fsStats.bavail * fsStats.bsize
    const wanted = Math.min(PROBE_FREE_BYTES, (fsStats.blocks * fsStats.bsize) / 4)
    if (free < wanted) throw new Error(`ENOSPC: ${free} bytes free where the spool is (wants ${wanted} before it counts as writable again)`)
  }

  private async leftovers (): Promise<Segment[]> {
    const names = (await readdir(this.dir)).filter(n => SEG_RE.test(n)).sort()
    const segs: Segment[] = []
    for (const name of names) {
      const path = join(this.dir, name)
      const st = await stat(path)
      segs.push({ id: (SEG_RE.exec(name) as RegExpExecArray)[1], path, bytes: st.size, rows: await countLines(path) })
    }
    // Acks whose segment is gone (deleted after the ack was written) are garbage.
    const ids = new Set(segs.map(s => s.id))
    for (const n of await readdir(this.dir)) {
      const m = /^seg-([0-9a-f-]{36})\.ack$/.exec(n)
      if (m !== null && !ids.has(m[1])) await rm(join(this.dir, n), { force: true })
    }
    return segs
  }

  newSegment (): Segment {
    const id = uuidv7()
    return { id, path: join(this.dir, `seg-${id}.jsonl`), bytes: 0, rows: 0 }
  }

  async openForAppend (seg: Segment): Promise<FileHandle> {
    return await open(seg.path, 'a')
  }

  async read (seg: Segment): Promise<string> {
    return await readFile(seg.path, 'utf8')
  }

  async acks (seg: Segment): Promise<Set<string>> {
    try {
      return new Set((await readFile(this.ackPath(seg), 'utf8')).split('\n').filter(l => l !== ''))
    } catch { return new Set() }
  }

  async ack (seg: Segment, key: string): Promise<void> {
    await appendFile(this.ackPath(seg), key + '\n')
  }

  /** Once per shipped segment: `unlink`, since `rm` walks its rimraf path (an lstat first) even for one file. */
  async remove (seg: Segment): Promise<void> {
    await unlinkIfPresent(seg.path)
    await unlinkIfPresent(this.ackPath(seg))
  }

  /** Moves rows ClickHouse refused as data errors aside, for a human to look at. */
  async reject (seg: Segment, table: string, rows: string[], reason: string): Promise<string> {
    const dir = join(this.dir, 'rejected')
    await mkdir(dir, { recursive: true })
    const path = join(dir, `seg-${seg.id}-${table}.jsonl`)
    const tmp = path + '.tmp'
    await appendFile(tmp, JSON.stringify({ reason }) + '\n' + rows.join('\n') + '\n')
    await rename(tmp, path)
    return path
  }

  private ackPath (seg: Segment): string { return join(this.dir, `seg-${seg.id}.ack`) }
}

/**
 * `mkdir -p` that reports why: Node's recursive mkdir answers ENOENT when a parent is read-only or not permitted;
 * retried one level at a time, the real reason (EROFS, EACCES) comes out.
 */
async function makeDir (dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true })
  } catch (err) {
    if (!isCode(err, 'ENOENT') || dirname(dir) === dir) throw err
    await makeDir(dirname(dir))
    try { await mkdir(dir) } catch (e) { if (!isCode(e, 'EEXIST')) throw e }
  }
}

async function countLines (path: string): Promise<number> {
  let n = 0
  for await (const chunk of createReadStream(path)) {
    const buf = chunk as Buffer
    for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) n++
  }
  return n
}

async function unlinkIfPresent (path: string): Promise<void> {
  try {
    await unlink(path)
  } catch (err) {
    if (!isCode(err, 'ENOENT')) throw err
  }
}
