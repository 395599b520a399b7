// Run the real `tz-sidecar` command as a child process, as a user would.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const BIN = path.join(ROOT, 'bin/tz-sidecar.js')

/** A loopback port nothing listens on right now, for a child process (Prometheus…) that cannot report the one it took. */
export async function freePort (): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as net.AddressInfo
  await new Promise<void>(resolve => srv.close(() => resolve()))
  return port
}

export interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export async function runCli (args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const spool = { SIDECAR_SPOOL_DIR: mkdtempSync(path.join(tmpdir(), 'tz-cli-spool-')) }
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...spool, ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', d => { stdout += d })
  child.stderr.on('data', d => { stderr += d })
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(resolve => child.on('close', (c, s) => resolve([c, s])))
  return { code, signal, stdout, stderr }
}

export interface ServingSidecar {
  child: ChildProcess
  url: string
  /** Everything the process printed so far. */
  output: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Start `tz-sidecar serve` on an ephemeral loopback port; resolves once it logs that it listens. */
export async function startCli (args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServingSidecar> {
  // Each process gets a spool of its own unless the test chooses one (e.g. to restart on the same spool).
  const spool = { SIDECAR_SPOOL_DIR: mkdtempSync(path.join(tmpdir(), 'tz-cli-spool-')) }
  const child = spawn(process.execPath, [BIN, 'serve', '--bind-address', '127.0.0.1:0', ...args], { cwd: ROOT, env: { ...process.env, ...spool, ...env } })
  let out = ''
  child.stdout.on('data', d => { out += d })
  child.stderr.on('data', d => { out += d })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve => child.on('close', (code, signal) => resolve({ code, signal })))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sidecar did not start:\n${out}`)), 20_000)
    const check = (): void => {
      const m = /"address":"127\.0\.0\.1:(\d+)"/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(`http://127.0.0.1:${m[1]}`) }
    }
    child.stdout.on('data', check)
    void exited.then(() => { clearTimeout(timer); reject(new Error(`sidecar exited before listening:\n${out}`)) })
  })
  return { child, url, output: () => out, exited }
}
