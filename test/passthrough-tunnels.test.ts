// WebSocket tunnels through the pass-through count as in flight: a reload keeps the config generation an open tunnel
// came in on until it closes, and a drain waits for open tunnels (closing them only past its timeout).
import t from 'tap'
import type { Test } from 'tap'
import http from 'node:http'
import path from 'node:path'
import { rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, WebSocket } from 'ws'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { waitFor } from './helpers/wait.ts'
import { loadConfig } from '../src/config/load.ts'
import { createGateway } from '../src/gateway.ts'

let upstreamPort: number
t.before(async () => {
  const upstream = http.createServer()
  const wss = new WebSocketServer({ server: upstream })
  wss.on('connection', socket => { socket.on('message', data => socket.send(`echo:${data.toString()}`)) })
  await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve))
  upstreamPort = (upstream.address() as AddressInfo).port
  t.teardown(async () => {
    wss.close()
    upstream.closeAllConnections()
    await new Promise<void>(resolve => upstream.close(() => resolve()))
  })
})

const TOML = '[functions.f]\ntype = "chat"\n[functions.f.variants.v]\ntype = "chat_completion"\nmodel = "dummy::good"\n'

async function sidecar (t: Test): Promise<TestSidecar> {
  const s = await startTestSidecar({
    toml: TOML,
    sidecarToml: `service = "tunnels"\nunmatched = "passthrough"\npassthrough_upstream = "http://127.0.0.1:${upstreamPort}"\n`
  })
  t.teardown(async () => { await rm(s.dir, { recursive: true, force: true }) })
  return s
}

interface Tunnel { ws: WebSocket; echo: (text: string) => Promise<string>; closed: Promise<void> }

async function openTunnel (url: string): Promise<Tunnel> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/realtime`)
  const closed = new Promise<void>(resolve => ws.once('close', () => resolve()))
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
  const echo = async (text: string): Promise<string> => await new Promise<string>((resolve, reject) => {
    ws.once('message', data => resolve(data.toString()))
    ws.once('close', () => reject(new Error('tunnel closed')))
    ws.send(text)
  })
  return { ws, echo, closed }
}

async function statusOf (url: string): Promise<{ code: number; body: any }> {
  const r = await fetch(`${url}/status`)
  return { code: r.status, body: await r.json() }
}

t.test('a reload keeps the old config generation while a tunnel opened on it is open, and releases it once it closes', async t => {
  const s = await sidecar(t)
  t.teardown(async () => { await s.sidecar.shutdown(1000) })
  const tunnel = await openTunnel(s.url)
  t.equal(await tunnel.echo('before'), 'echo:before')

  const old = s.sidecar.gateway
  let retired = 0
  const retire = old.retire.bind(old)
  old.retire = async () => { retired++; await retire() }
  const config = await loadConfig({ configFile: path.join(s.dir, 'tensorzero.toml'), sidecarConfig: path.join(s.dir, 'sidecar.toml'), env: process.env })
  s.sidecar.replaceGateway(createGateway(config, { env: process.env }))
  t.not(s.sidecar.gateway, old, 'new requests are served by the new generation')

  const fresh = await openTunnel(s.url)
  t.equal(await fresh.echo('new'), 'echo:new', 'a tunnel opened after the reload is served')
  t.equal(await tunnel.echo('during'), 'echo:during', 'the tunnel opened before the reload still carries messages')
  t.equal((await statusOf(s.url)).body.in_flight, 2, 'both open tunnels are in flight')
  t.equal(retired, 0, 'the old generation is not retired while its tunnel is open')

  tunnel.ws.close()
  await tunnel.closed
  await t.resolves(waitFor('the old generation to be retired', async () => retired === 1 ? true : undefined), 'retired once its last tunnel closed')
  t.equal(await fresh.echo('after'), 'echo:after', 'the new generation\'s tunnel is untouched')
  fresh.ws.close()
  await fresh.closed
})

t.test('a drain waits for an open tunnel, which keeps carrying messages, and reports drained once it closes', async t => {
  const s = await sidecar(t)
  const tunnel = await openTunnel(s.url)
  let settled = false
  const shutdown = s.sidecar.shutdown(120_000).finally(() => { settled = true })
  const draining = await statusOf(s.url)
  t.equal(draining.code, 503)
  t.equal(draining.body.status, 'draining')
  t.equal(draining.body.in_flight, 1, 'the tunnel is in flight')
  t.equal(await tunnel.echo('while draining'), 'echo:while draining', 'the tunnel works while the sidecar drains')
  t.equal(settled, false, 'the drain is still waiting for the tunnel')
  tunnel.ws.close()
  t.same(await shutdown, { drained: true, cut: 0 }, 'drained by itself once the tunnel closed')
})

t.test('past the drain timeout an open tunnel is closed and counted as cut', async t => {
  const s = await sidecar(t)
  const tunnel = await openTunnel(s.url)
  t.equal(await tunnel.echo('hi'), 'echo:hi')
  t.same(await s.sidecar.shutdown(300), { drained: false, cut: 1 }, 'the tunnel was cut')
  await t.resolves(tunnel.closed, 'the client saw its tunnel close')
})
