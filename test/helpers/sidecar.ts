// Start a real Sidecar in-process on a loopback port, from TOML text written to a temp folder.
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig } from '../../src/config/load.ts'
import { checkTemplates } from '../../src/variant/templates/check.ts'
import { createGateway } from '../../src/gateway.ts'
import type { Gateway } from '../../src/gateway.ts'
import type { InferenceObserver } from '../../src/core/records.ts'
import { Sidecar } from '../../sidecar/server.ts'
import type { SidecarOptions } from '../../sidecar/server.ts'

export interface TestSidecar {
  sidecar: Sidecar
  /** http://127.0.0.1:PORT */
  url: string
  /** `${url}/v1`, what OPENAI_BASE_URL would be. */
  baseURL: string
  dir: string
  close (): Promise<void>
}

/** Server options, plus what the test's gateway is built with: no store, so nothing is recorded but what `observer` hears. */
export interface TestSidecarOptions extends Partial<Omit<SidecarOptions, 'gateway'>> {
  observer?: InferenceObserver
  /** Stands in for the gateway's own feedback handling. */
  feedback?: Gateway['feedback']
}

export async function startTestSidecar (opts: {
  toml: string
  sidecarToml?: string
  files?: Record<string, string>
  env?: NodeJS.ProcessEnv
  options?: TestSidecarOptions
}): Promise<TestSidecar> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-sidecar-test-'))
  await writeFile(path.join(dir, 'tensorzero.toml'), opts.toml)
  for (const [name, text] of Object.entries(opts.files ?? {})) {
    await writeFile(path.join(dir, name), text)
  }
  if (opts.sidecarToml !== undefined) await writeFile(path.join(dir, 'sidecar.toml'), opts.sidecarToml)
  const env = { ...process.env, ...opts.env }
  const config = await loadConfig({
    configFile: path.join(dir, 'tensorzero.toml'),
    sidecarConfig: opts.sidecarToml === undefined ? undefined : path.join(dir, 'sidecar.toml'),
    env,
    checkTemplates
  })
  const { observer, feedback, ...serverOptions } = opts.options ?? {}
  const door = createGateway(config, { env, observer })
  const gateway: Gateway = feedback === undefined ? door : { ...door, feedback }
  const sidecar = new Sidecar({ gateway, ...serverOptions })
  const address = await sidecar.listen(0, '127.0.0.1')
  const url = `http://127.0.0.1:${address.port}`
  return {
    sidecar,
    url,
    baseURL: `${url}/v1`,
    dir,
    close: async () => {
      await sidecar.shutdown(1000)
      await rm(dir, { recursive: true, force: true })
    }
  }
}
