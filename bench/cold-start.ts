// Cold start: from spawning `tz-sidecar serve` to the first `GET /health` answering 200, polled every 2 ms on a port
// chosen beforehand. The same measured for a bare Node HTTP server gives the floor Node itself costs on this machine.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { BIN, freePort, healthOk, rssBytes, startChild } from './procs.ts'
import { sleep } from './stats.ts'

const REST_MS = 500

async function timeToHealth (args: string[], port: number, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ ms: number; restRss: number }> {
  const t0 = performance.now()
  const child = startChild(args, env)
  try {
    for (;;) {
      if (await healthOk(port)) {
        const ms = performance.now() - t0
        await sleep(REST_MS)
        return { ms, restRss: rssBytes(child.pid) }
      }
      if (child.proc.exitCode !== null) throw new Error(`exited before /health answered:\n${child.output()}`)
      if (performance.now() - t0 > timeoutMs) throw new Error(`/health did not answer within ${timeoutMs} ms:\n${child.output()}`)
      await sleep(2)
    }
  } finally {
    await child.stop(3000)
  }
}

const BARE = "require('http').createServer((q,s)=>{s.setHeader('content-type','application/json');s.end('{\"status\":\"ok\"}')})" +
  ".listen(Number(process.env.PORT),'127.0.0.1');process.on('SIGTERM',()=>process.exit(0))"

export interface ColdStartRun { sidecarMs: number; bareNodeMs: number; sidecarRestRss: number; bareRestRss: number }

export async function coldStartRun (configFile: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Promise<ColdStartRun> {
  const spool = await mkdtemp(path.join(tmpdir(), 'tz-bench-cold-'))
  try {
    const bare = await timeToHealth(['-e', BARE], ...await portEnv({}), 10_000)
    const port = await freePort()
    const sidecar = await timeToHealth([...nodeArgs, BIN, 'serve', '--config-file', configFile, '--bind-address', `127.0.0.1:${port}`], port,
      { ...env, SIDECAR_SPOOL_DIR: spool }, 30_000)
    return { sidecarMs: sidecar.ms, bareNodeMs: bare.ms, sidecarRestRss: sidecar.restRss, bareRestRss: bare.restRss }
  } finally {
    await rm(spool, { recursive: true, force: true })
  }
}

async function portEnv (env: NodeJS.ProcessEnv): Promise<[number, NodeJS.ProcessEnv]> {
  const port = await freePort()
  return [port, { ...env, PORT: String(port) }]
}
