// One process per spool folder. Two writers on one folder take each other's live segments for leftovers: one ships
// and deletes a segment the other is still retrying (ENOENT forever), and rows are lost or doubled. So the folder
// holds `spool.lock` with the owner's pid, created atomically (a temporary file hard-linked into place, so the lock is
// never seen empty). A lock whose pid is no longer running (the owner was killed) is stale and taken over.
//
// The pid is checked in this machine's (or container's) pid namespace: processes in different containers sharing one
// volume cannot see each other's pids; give each container its own volume (deploy/ does).
import { link, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'

export const LOCK_FILE = 'spool.lock'

/** Folders locked by this process: a second sink on one of them is refused too, although the pid in the lock is ours. */
const lockedHere = new Set<string>()

/** The folder is held by another process (or another sink of this one). */
export class SpoolInUseError extends Error {}

export interface SpoolLock {
  /** Set when the lock of a process that is gone was taken over: its pid. */
  readonly staleHolder?: number
  release (): Promise<void>
}

/** Takes the folder's lock, or throws one line naming the folder and the process holding it. */
export async function lockSpool (dir: string): Promise<SpoolLock> {
  const key = resolve(dir)
  if (lockedHere.has(key)) throw new SpoolInUseError(`spool folder ${dir} is already in use by this process; each sink needs a spool folder of its own`)
  const path = join(dir, LOCK_FILE)
  let staleHolder: number | undefined
  // A few rounds: another starter may take over the same stale lock between our look and our move.
  for (let round = 0; round < 5; round++) {
    if (await createLock(path)) {
      lockedHere.add(key)
      return { staleHolder, release: async () => { await releaseLock(path, key) } }
    }
    const holder = await lockHolder(path)
    if (holder === 'gone') continue
    if (typeof holder === 'number' && holder !== process.pid && isRunning(holder)) {
      throw new SpoolInUseError(`spool folder ${dir} is in use by process ${holder} (lock ${path}); each sidecar needs a spool folder of its own (SIDECAR_SPOOL_DIR)`)
    }
    // Stale: the holder is gone (or it is our own pid from an earlier life of a restarted container, or unreadable).
    // Move it aside atomically: of two starters racing for it, one rename wins; the other finds no file and looks again.
    const aside = `${path}.stale-${process.pid}`
    try { await rename(path, aside) } catch (err) { if (isCode(err, 'ENOENT')) continue; throw err }
    const moved = await lockHolder(aside)
    if (moved !== holder) {
      // What we moved was a fresh lock of another starter, not the stale one we looked at: put it back, look again.
      await rename(aside, path).catch(() => undefined)
      continue
    }
    await rm(aside, { force: true })
    if (typeof holder === 'number') staleHolder = holder
  }
  throw new SpoolInUseError(`could not take the lock ${path}: other processes keep taking it`)
}

async function createLock (path: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, `${process.pid}\n`)
  try {
    await link(tmp, path)
    return true
  } catch (err) {
    if (isCode(err, 'EEXIST')) return false
    throw err
  } finally {
    await rm(tmp, { force: true })
  }
}

/** The pid in a lock file, 'garbage' when it holds none, 'gone' when there is no such file. */
async function lockHolder (path: string): Promise<number | 'garbage' | 'gone'> {
  let text: string
  try { text = await readFile(path, 'utf8') } catch (err) { if (isCode(err, 'ENOENT')) return 'gone'; throw err }
  const pid = Number(text.trim())
  return Number.isInteger(pid) && pid > 0 ? pid : 'garbage'
}

function isRunning (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it runs, under another user.
    return isCode(err, 'EPERM')
  }
}

async function releaseLock (path: string, key: string): Promise<void> {
  lockedHere.delete(key)
  // Only our own lock: if the folder was removed and taken by someone else meanwhile, theirs stays.
  if (await lockHolder(path).catch(() => 'gone') === process.pid) await rm(path, { force: true }).catch(() => undefined)
}

export function isCode (err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code
}
