// Child processes of the bench: started with the same Node, tracked, and always stopped (SIGTERM, then SIGKILL).
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const BIN = path.join(ROOT, 'bin/tz-sidecar.js')

export interface Child {
  proc: ChildProcess
  pid: number
  /** Everything it printed (stdout + stderr), capped at the last 64 KiB. */
  output: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  stop: (graceMs?: number) => Promise<void>
}

const running = new Set<Child>()

/** Spawn `node <args>`; output is drained continuously (a full pipe would stall the child). */
export function startChild (args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const keep = (d: Buffer): void => { out += d.toString(); if (out.length > 65536) out = out.slice(-65536) }
  proc.stdout?.on('data', keep)
  proc.stderr?.on('data', keep)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve => {
    proc.once('exit', (code, signal) => resolve({ code, signal }))
  })
  const child: Child = {
    proc,
    pid: proc.pid ?? -1,
    output: () => out,
    exited,
    stop: async (graceMs = 5000) => {
      running.delete(child)
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGTERM')
      let timer: NodeJS.Timeout | undefined
      const killed = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(true), graceMs) })
      ])
      clearTimeout(timer)
      if (killed) { proc.kill('SIGKILL'); await exited }
    }
  }
  running.add(child)
  void exited.then(() => running.delete(child))
  return child
}

/** Wait until the child's output matches `re` (returns the match), or fail with its output. */
export async function waitForOutput (child: Child, re: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const m = re.exec(child.output())
    if (m !== null) return m
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`process exited before printing ${re}:\n${child.output()}`)
    if (Date.now() > deadline) throw new Error(`process did not print ${re} within ${timeoutMs} ms:\n${child.output()}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** Start a bench helper script (fake upstream, fake ClickHouse) that prints `{"port":N}` when it listens. */
export async function startHelper (script: string, args: string[] = [], execArgv: string[] = []): Promise<Child & { url: string; port: number }> {
  const child = startChild([...execArgv, path.join(ROOT, 'bench', script), ...args])
  const m = await waitForOutput(child, /\{"port":(\d+)\}/)
  const port = Number(m[1])
  return Object.assign(child, { port, url: `http://127.0.0.1:${port}` })
}

/** The V8 flags the bin gives `serve` (bin/tz-sidecar.js `V8_FLAGS`), read from its source: the bin cannot be imported. */
export function shippedV8Flags (): string[] {
  const m = /^const V8_FLAGS = \[([^\]]*)\]/m.exec(readFileSync(BIN, 'utf8'))
  if (m === null) throw new Error(`no V8_FLAGS list in ${BIN}`)
  return [...m[1].matchAll(/'([^']+)'/g)].map(x => x[1])
}

/** Start `tz-sidecar serve` on a free loopback port; resolves with its URL once `GET /health` answers 200 (works at any LOG_LEVEL). */
export async function startSidecar (opts: { configFile: string; sidecarConfig?: string; env?: NodeJS.ProcessEnv; execArgv?: string[] }): Promise<Child & { url: string }> {
  const port = await freePort()
  const args = [...(opts.execArgv ?? []), BIN, 'serve', '--config-file', opts.configFile, '--bind-address', `127.0.0.1:${port}`]
  if (opts.sidecarConfig !== undefined) args.push('--sidecar-config', opts.sidecarConfig)
  const child = startChild(args, opts.env)
  const deadline = Date.now() + 30_000
  while (!await healthOk(port)) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`sidecar exited before /health answered:\n${child.output()}`)
    if (Date.now() > deadline) { await child.stop(); throw new Error(`sidecar /health did not answer within 30 s:\n${child.output()}`) }
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  return Object.assign(child, { url: `http://127.0.0.1:${port}` })
}

/** Start bench/floor-proxy.ts (the minimal Node proxy) in place of the sidecar. */
export async function startFloorProxy (upstream: string, execArgv: string[] = []): Promise<Child & { url: string }> {
  const port = await freePort()
  const child = startChild([...execArgv, path.join(ROOT, 'bench/floor-proxy.ts'), upstream, String(port)])
  const deadline = Date.now() + 30_000
  while (!await healthOk(port)) {
    if (child.proc.exitCode !== null || Date.now() > deadline) { await child.stop(); throw new Error(`floor proxy did not start:\n${child.output()}`) }
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  return Object.assign(child, { url: `http://127.0.0.1:${port}` })
}

/** One `GET /health` on a fresh connection: true when it answers 200. */
export function healthOk (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: 1000 }, res => {
      res.resume()
      res.on('end', () => resolve(res.statusCode === 200))
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => { req.destroy(); resolve(false) })
  })
}

/** Resident set size of a process in bytes (Linux /proc), or NaN when unavailable. */
export function rssBytes (pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? NaN : Number(m[1]) * 1024
  } catch { return NaN }
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc, clock ticks of 10 ms), or NaN. */
export function cpuMs (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10 // utime, stime (fields 14, 15 of stat(5))
  } catch { return NaN }
}

/** A loopback port that was free a moment ago. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })
}

/** Stop every child still running (in reverse start order). */
export async function stopAll (): Promise<void> {
  for (const c of [...running].reverse()) await c.stop(3000)
}

/** Last resort on exit: nothing the bench started may outlive it. */
process.once('exit', () => { for (const c of running) c.proc.kill('SIGKILL') })
