// Real Valkey-compatible and Postgres servers for rate limiting tests, on loopback ports in temp folders: Debian's
// `redis-server` (7.x, the Valkey functions API) and `postgresql` (initdb + pg_ctl, as the `postgres` user when root).
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'

export interface TestStore {
  /** TENSORZERO_VALKEY_URL or TENSORZERO_POSTGRES_URL. */
  url: string
  env: NodeJS.ProcessEnv
  /** Stop the server at once, as a crash would (no shutdown). */
  kill (): Promise<void>
  /** Start it again on the same port (and, for Postgres, the same data). */
  restart (): Promise<void>
  close (): Promise<void>
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

async function waitForPort (port: number, limitMs = 20_000): Promise<void> {
  const until = Date.now() + limitMs
  for (;;) {
    const ok = await new Promise<boolean>(resolve => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${limitMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

const REDIS_SERVER = '/usr/bin/redis-server'

/** Why Valkey tests cannot run here, or undefined. */
export function valkeyMissing (): string | undefined {
  return existsSync(REDIS_SERVER) ? undefined : `${REDIS_SERVER} is not installed (apt-get install redis-server)`
}

export async function startValkey (): Promise<TestStore> {
  const port = await freePort()
  const dir = mkdtempSync(path.join(tmpdir(), 'tz-valkey-'))
  let child: ChildProcess | undefined
  const start = async (): Promise<void> => {
    // No persistence: a restarted server has lost its functions, as a fresh Valkey would.
    child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' })
    await waitForPort(port)
  }
  const kill = async (): Promise<void> => {
    const c = child
    if (c === undefined || c.exitCode !== null) return
    const exited = new Promise(resolve => c.once('exit', resolve))
    c.kill('SIGKILL')
    await exited
  }
  await start()
  const url = `redis://127.0.0.1:${port}`
  return {
    url,
    env: { TENSORZERO_VALKEY_URL: url },
    kill,
    restart: start,
    close: async () => { await kill(); rmSync(dir, { recursive: true, force: true }) }
  }
}

function postgresBin (): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const version = readdirSync(root).sort().at(-1)
  const bin = version === undefined ? undefined : path.join(root, version, 'bin')
  return bin !== undefined && existsSync(path.join(bin, 'pg_ctl')) ? bin : undefined
}

export function postgresMissing (): string | undefined {
  return postgresBin() === undefined ? 'postgresql is not installed (apt-get install postgresql)' : undefined
}

/** Runs a Postgres tool as the `postgres` user when the tests run as root (initdb refuses root). */
function asPostgres (cmd: string, args: string[]): void {
  const root = process.getuid?.() === 0
  const r = root ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8' }) : spawnSync(cmd, args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}${r.stdout}`)
}

export async function startPostgres (): Promise<TestStore> {
  const bin = postgresBin() as string
  const port = await freePort()
  const dir = mkdtempSync(path.join(tmpdir(), 'tz-pg-'))
  if (process.getuid?.() === 0) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim())
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim())
    chownSync(dir, uid, gid)
  }
  const data = path.join(dir, 'data')
  asPostgres(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'])
  const log = path.join(dir, 'log')
  const start = async (): Promise<void> => {
    try {
      asPostgres(path.join(bin, 'pg_ctl'), ['-D', data, '-l', log, '-w', '-t', '60', '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'])
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : ''}`)
    }
    await waitForPort(port)
  }
  const kill = async (): Promise<void> => {
    try { asPostgres(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']) } catch {}
  }
  await start()
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  return {
    url,
    env: { TENSORZERO_POSTGRES_URL: url },
    kill,
    restart: start,
    close: async () => { await kill(); rmSync(dir, { recursive: true, force: true }) }
  }
}
