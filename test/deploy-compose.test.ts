// The compose stack (compose/docker-compose.yml) and its PMOVES overlay (compose/docker-compose.pmoves.yml), checked
// without a Docker engine: every service's image or build exists, networks and volumes are declared, every `${VAR}`
// has a default or is in .env.example and no ClickHouse credential is written in a file; every sidecar is the
// `x-tz-sidecar` anchor plus its own file, service name and spool, with the scrape label, and one service name runs
// through its SIDECAR_SERVICE, container labels and per-service file (which `validate` accepts); example services talk
// to their own sidecar.
// Prometheus finds sidecars through Docker: the real `prometheus` runs the shipped prometheus.yml against a loopback
// fake of the Docker Engine API and must list exactly the labelled containers, named by their service. Alloy labels
// logs from the same container label. The image is multi-stage and installs production dependencies only.
import t from 'tap'
import http from 'node:http'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { parse as parseYaml } from 'yaml'
import { freePort, runCli, ROOT } from './helpers/process.ts'

const COMPOSE_DIR = path.join(ROOT, 'compose')
const FILES = ['docker-compose.yml', 'docker-compose.pmoves.yml']
const SPOOL = '/var/lib/tz-sidecar/spool'
const text = (file: string): string => readFileSync(path.join(COMPOSE_DIR, file), 'utf8')
const merged = (file: string): any => parseYaml(text(file), { merge: true })
/** Without resolving merge keys: `<<` stays a key, so a service shows which anchor it merged. */
const unmerged = (file: string): any => parseYaml(text(file), { merge: false })
const base = merged('docker-compose.yml')
const overlay = merged('docker-compose.pmoves.yml')
const envExample = new Set(text('.env.example').split('\n').map(l => /^#?\s*([A-Z][A-Z0-9_]*)=/.exec(l)?.[1]).filter((v): v is string => v !== undefined))

/** Sidecars: services that run `tz-sidecar serve`. */
function sidecarsOf (compose: any): Array<[string, any]> {
  return Object.entries<any>(compose.services).filter(([, svc]) => Array.isArray(svc.command) && svc.command[0] === 'serve')
}

/** `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`: name and whether a default is given. */
function variables (source: string): Array<{ name: string; hasDefault: boolean }> {
  return [...source.replace(/^\s*#.*$/gm, '').matchAll(/\$\{([A-Za-z_]\w*)(:?[-?])?[^}]*\}/g)].map(m => ({ name: m[1], hasDefault: m[2] === ':-' || m[2] === '-' }))
}

/** A relative host path of a volume entry, resolved from compose/ with `${VAR:-default}` at its default. */
function hostPath (entry: string): string | undefined {
  const source = entry.replace(/\$\{\w+:-([^}]*)\}/g, '$1').split(':')[0]
  return source.startsWith('.') || source.startsWith('/') ? source : undefined
}

t.test('every service has an image with a tag or a build whose Dockerfile exists', async t => {
  for (const [file, compose] of [['docker-compose.yml', base], ['docker-compose.pmoves.yml', overlay]] as const) {
    for (const [name, svc] of Object.entries<any>(compose.services)) {
      if (file !== 'docker-compose.yml' && name in base.services) continue // an override of a base service
      t.match(svc.image, /^[\w.\/${}:-]+:[\w.${}:-]+$/, `${file} ${name}: image with a tag (${String(svc.image)})`)
      if (svc.build !== undefined) t.ok(existsSync(path.resolve(COMPOSE_DIR, svc.build.context, svc.build.dockerfile)), `${file} ${name}: ${String(svc.build.dockerfile)} exists`)
    }
  }
  t.match(base.services['tensorzero-gateway'].image, /^tensorzero\/gateway:/, 'TensorZero\'s published gateway image')
  t.match(base.services['tensorzero-ui'].image, /^tensorzero\/ui:/, 'and UI image')
  t.equal(base.services['tensorzero-ui'].environment.TENSORZERO_GATEWAY_URL, 'http://tensorzero-gateway:3000', 'the UI reads through the gateway')
  t.match(base.services['tensorzero-gateway'].environment.TENSORZERO_CLICKHOUSE_URL, /@tensorzero-clickhouse:8123\//, 'the gateway writes to the stack\'s ClickHouse')
})

t.test('networks and named volumes are declared; bind mounts point at files that exist', async t => {
  const networks = new Set([...Object.keys(base.networks), ...Object.keys(overlay.networks)])
  const volumes = new Set([...Object.keys(base.volumes), ...Object.keys(overlay.volumes)])
  for (const [file, compose] of [['docker-compose.yml', base], ['docker-compose.pmoves.yml', overlay]] as const) {
    for (const [name, svc] of Object.entries<any>(compose.services)) {
      const declared = file === 'docker-compose.yml' ? new Set(Object.keys(base.networks)) : networks
      for (const n of svc.networks ?? []) t.ok(declared.has(n), `${file} ${name}: network ${String(n)} declared`)
      for (const v of svc.volumes ?? []) {
        const source = String(v).split(':')[0]
        const host = hostPath(String(v))
        if (host === undefined) t.ok(volumes.has(source), `${file} ${name}: volume ${source} declared`)
        else if (host !== '/var/run/docker.sock') t.ok(existsSync(path.resolve(COMPOSE_DIR, host)), `${file} ${name}: ${host} exists`)
      }
    }
  }
  t.same(Object.keys(base.networks).sort(), ['apps', 'data', 'observability'], 'the stack has its own networks')
  t.notOk(Object.values<any>(base.networks).some(n => n?.external === true), 'none of them external: `docker compose up` needs nothing else')
  for (const n of ['app_tier', 'api_tier', 'data_tier']) t.equal(overlay.networks[n].external, true, `overlay: PMOVES's ${n} is external`)
})

t.test('every ${VAR} has a default or is in .env.example; no ClickHouse credential is written in a file', async t => {
  for (const file of [...FILES, 'grafana/provisioning/datasources/datasources.yml']) {
    for (const v of variables(text(file))) t.ok(v.hasDefault || envExample.has(v.name), `${file}: \${${v.name}} has a default or is in .env.example`)
    t.notMatch(text(file), /\/\/[\w.-]+:[\w.-]+@/, `${file}: no user:password@ written out`)
  }
  for (const [name, svc] of [...sidecarsOf(base), ...sidecarsOf(overlay), ['tensorzero-gateway', base.services['tensorzero-gateway']]] as Array<[string, any]>) {
    t.match(svc.environment.TENSORZERO_CLICKHOUSE_URL, /^http:\/\/\$\{TENSORZERO_CLICKHOUSE_USER:-\w+\}:\$\{TENSORZERO_CLICKHOUSE_PASSWORD:\?[^}]+\}@tensorzero-clickhouse:8123\//, `${name}: ClickHouse credentials from .env`)
  }
  t.match(base.services['tensorzero-clickhouse'].environment.CLICKHOUSE_PASSWORD, /^\$\{TENSORZERO_CLICKHOUSE_PASSWORD:\?/, 'ClickHouse\'s own password too')
  t.ok(envExample.has('TENSORZERO_CLICKHOUSE_PASSWORD') && envExample.has('TZ_GRAFANA_ADMIN_PASSWORD'), 'the passwords are in .env.example')
  const ignored = readFileSync(path.join(ROOT, '.gitignore'), 'utf8').split('\n')
  t.ok(ignored.includes('compose/.env'), 'compose/.env is never committed')
})

t.test('every sidecar is the x-tz-sidecar anchor plus its own file, service name, spool volume and scrape label', async t => {
  for (const file of FILES) {
    const raw = unmerged(file)
    const compose = file === FILES[0] ? base : overlay
    const sidecars = sidecarsOf(compose)
    t.ok(sidecars.length >= 2, `${file}: ${sidecars.length} sidecars`)
    const configDir = file === FILES[0] ? '../config/compose' : '../config/pmoves'
    for (const [name, svc] of sidecars) {
      t.same(raw.services[name]['<<'], raw['x-tz-sidecar'], `${file} ${name}: merges x-tz-sidecar`)
      t.same(Object.keys(raw.services[name]).sort(), ['<<', 'command', 'environment', 'labels', 'volumes', ...(svc.ports === undefined ? [] : ['ports'])].sort(), `${file} ${name}: a few lines of its own`)
      const args: string[] = svc.command
      t.equal(args[args.indexOf('--config-file') + 1], '/etc/tensorzero/*.toml', `${name}: the shared TensorZero config`)
      const sidecarFile = path.basename(args[args.indexOf('--sidecar-config') + 1])
      const toml = path.resolve(COMPOSE_DIR, configDir, 'sidecars', sidecarFile)
      t.ok(existsSync(toml), `${name}: ${sidecarFile} exists`)
      const service = (parseToml(readFileSync(toml, 'utf8')) as { service: string }).service
      t.equal(name, `${service}-sidecar`, `${name}: named after its service`)
      t.equal(svc.environment.SIDECAR_SERVICE, service, `${name}: SIDECAR_SERVICE is the file's service`)
      t.equal(svc.labels['tz-sidecar.service'], service, `${name}: so is the tz-sidecar.service label (Prometheus, Loki)`)
      t.equal(svc.labels['tz-sidecar.scrape'], 'true', `${name}: scraped`)
      t.equal(svc.environment.SIDECAR_SPOOL_DIR, SPOOL, name)
      t.ok(svc.volumes.includes(`${name}-spool:${SPOOL}`), `${name}: its own spool volume`)
      t.ok(svc.networks.includes('observability'), `${name}: on the network Prometheus scrapes`)
      t.ok('OTEL_EXPORTER_OTLP_ENDPOINT' in svc.environment, `${name}: traces configurable`)
      t.equal(svc.environment.SIDECAR_BIND_ADDRESS, '0.0.0.0:3031', `${name}: listens on 3031`)
    }
    const spools = sidecars.map(([, svc]) => svc.volumes.find((v: string) => v.endsWith(`:${SPOOL}`)))
    t.equal(new Set(spools).size, spools.length, `${file}: no two sidecars share a spool`)
  }
  // YAML anchors do not cross files: the overlay's copy may differ only in networks and start order.
  const [a, b] = FILES.map(f => { const { networks, depends_on: _, ...rest } = unmerged(f)['x-tz-sidecar']; return rest })
  t.same(b, a, 'the overlay\'s x-tz-sidecar is the base one (networks and depends_on aside)')
  const [ea, eb] = FILES.map(f => Object.keys(unmerged(f)['x-tz-sidecar-env']))
  t.same(ea.filter(k => !eb.includes(k)), ['OPENAI_API_KEY'], 'the overlay\'s sidecar environment has every base variable but the demo\'s OpenAI key')
})

t.test('`tz-sidecar validate` accepts the stack\'s config with each of its sidecar files, with nothing to warn about', async t => {
  for (const [name, svc] of sidecarsOf(base)) {
    const file = path.basename(svc.command[svc.command.indexOf('--sidecar-config') + 1])
    const r = await runCli(['validate', '--config-file', 'config/compose/tensorzero/*.toml', '--sidecar-config', `config/compose/sidecars/${file}`], { OPENAI_API_KEY: 'sk-test' })
    t.equal(r.code, 0, `${name}: exit 0`)
    t.equal(r.stderr, '', `${name}: no warning`)
  }
})

t.test('each example service talks to its own sidecar and logs under the same service name', async t => {
  for (const name of ['writer', 'summarizer']) {
    const svc = base.services[name]
    t.equal(svc.environment.OPENAI_BASE_URL, `http://${name}-sidecar:3031/v1`, `${name}: OPENAI_BASE_URL is the one change`)
    t.equal(svc.labels['tz-sidecar.service'], name, `${name}: its logs are labelled like its sidecar's`)
    t.notOk('tz-sidecar.scrape' in svc.labels, `${name}: not scraped (it serves no /metrics)`)
    t.ok(svc.networks.every((n: string) => base.services[`${name}-sidecar`].networks.includes(n)), `${name}: shares a network with its sidecar`)
    t.equal(overlay.services[name].profiles[0], 'standalone', `${name}: not started next to PMOVES`)
  }
  t.ok(existsSync(path.join(COMPOSE_DIR, 'example-service/client.mjs')))
  const check = spawnSync(process.execPath, ['--check', path.join(COMPOSE_DIR, 'example-service/client.mjs')], { encoding: 'utf8' })
  t.equal(check.status, 0, `the example client parses: ${check.stderr}`)
  for (const s of ['tensorzero-clickhouse', 'tensorzero-gateway', 'tensorzero-ui', 'ollama']) t.same(overlay.services[s], { profiles: ['standalone'] }, `overlay: PMOVES runs its own ${s}`)
})

const prometheusConfig = merged('prometheus/prometheus.yml')

t.test('Prometheus finds sidecars by container label: no sidecar is listed in prometheus.yml', async t => {
  const job = prometheusConfig.scrape_configs.find((s: any) => s.job_name === 'tz-sidecar')
  t.notOk('static_configs' in job, 'no static targets')
  t.same(job.docker_sd_configs[0].filters, [{ name: 'label', values: ['tz-sidecar.scrape=true'] }])
  t.equal(job.honor_labels, true, 'a sidecar\'s own `service` label is kept')
  const relabel = (source: string): any => job.relabel_configs.find((r: any) => r.source_labels?.includes(source))
  t.equal(relabel('__meta_docker_container_label_tz_sidecar_service')?.target_label, 'service', 'service from the tz-sidecar.service label')
  t.equal(relabel('__meta_docker_network_name')?.regex, base.networks.observability.name, 'targets on the stack\'s observability network')
  const prom = base.services['tz-prometheus']
  t.ok(prom.volumes.includes('/var/run/docker.sock:/var/run/docker.sock:ro'), 'Prometheus reads the Docker socket')
  t.equal(String(job.docker_sd_configs[0].host), 'unix:///var/run/docker.sock')
})

/** Loopback stand-in for the Docker Engine API: the containers of the compose file, each on the observability network. */
async function startFakeDocker (socket: string, containers: unknown[]): Promise<{ close: () => Promise<void>; requests: string[] }> {
  const requests: string[] = []
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://docker')
    requests.push(url.pathname)
    const send = (body: unknown): void => { res.writeHead(200, { 'content-type': 'application/json', 'api-version': '1.43' }); res.end(JSON.stringify(body)) }
    if (url.pathname.endsWith('/_ping')) { res.writeHead(200, { 'api-version': '1.43', 'content-type': 'text/plain' }); res.end('OK'); return }
    if (url.pathname.endsWith('/networks')) { send([{ Id: 'net-obs', Name: 'tz-observability', Scope: 'local', Driver: 'bridge', Labels: {} }]); return }
    if (url.pathname.endsWith('/containers/json')) {
      const wanted: string[] = Object.keys(JSON.parse(url.searchParams.get('filters') ?? '{}').label ?? {})
      send(containers.filter((c: any) => wanted.every(w => { const [k, v] = w.split('='); return c.Labels[k] === v })))
      return
    }
    res.writeHead(404); res.end('{}')
  })
  await new Promise<void>(resolve => server.listen(socket, resolve))
  return { requests, close: async () => { server.closeAllConnections(); await new Promise<void>(resolve => server.close(() => resolve())) } }
}

const PROMETHEUS_MISSING = spawnSync('sh', ['-c', 'command -v prometheus']).status === 0 ? false : 'Debian `prometheus` is not installed (apt-get install -y prometheus)'

t.test('the shipped prometheus.yml, run by the real Prometheus against a Docker API, scrapes exactly the labelled sidecars, named by service', { skip: PROMETHEUS_MISSING }, async t => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-docker-sd-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  // Every container of both files, as Docker would list them (labels as compose sets them), with loopback addresses.
  const all = [...Object.entries<any>(base.services), ...sidecarsOf(overlay)]
  const containers = all.map(([name, svc], i) => ({
    Id: `c${i}`, Names: [`/tz-sidecar-${name}-1`], Image: 'x', State: 'running', Labels: svc.labels ?? {},
    Ports: svc.command?.[0] === 'serve' ? [{ PrivatePort: 3031, Type: 'tcp' }] : [],
    HostConfig: { NetworkMode: 'tz-observability' },
    NetworkSettings: { Networks: { 'tz-observability': { NetworkID: 'net-obs', IPAddress: `127.0.0.${i + 2}` } } }
  }))
  const socket = path.join(dir, 'docker.sock')
  const docker = await startFakeDocker(socket, containers)
  t.teardown(docker.close)
  const config = text('prometheus/prometheus.yml').replace('unix:///var/run/docker.sock', `unix://${socket}`).replace('refresh_interval: 15s', 'refresh_interval: 1s')
  await writeFile(path.join(dir, 'prometheus.yml'), config)
  await writeFile(path.join(dir, 'alerts.yml'), text('prometheus/alerts.yml'))
  const port = await freePort()
  const proc = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr?.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  const exited = new Promise(resolve => proc.once('exit', resolve))
  t.teardown(async () => { if (proc.exitCode === null) { proc.kill('SIGTERM'); await exited } })
  let targets: Array<{ labels: Record<string, string>; scrapeUrl: string }> = []
  const want = [...sidecarsOf(base), ...sidecarsOf(overlay)].map(([name]) => name)
  for (let i = 0; i < 120 && targets.length < want.length; i++) {
    await new Promise(resolve => setTimeout(resolve, 500))
    if (proc.exitCode !== null) break
    // Starting up, Prometheus answers 503 with a plain-text body: not yet.
    const body = await fetch(`http://127.0.0.1:${port}/api/v1/targets?state=active`).then(async r => await r.json()).catch(() => undefined) as any
    targets = (body?.data?.activeTargets ?? []).filter((x: any) => x.labels.job === 'tz-sidecar')
  }
  t.equal(proc.exitCode, null, `prometheus is running (${stderr.trim()})`)
  t.ok(docker.requests.some(p => p.endsWith('/containers/json')), 'Prometheus asked Docker for containers')
  const byInstance = new Map(targets.map(x => [x.labels.instance, x]))
  t.same([...byInstance.keys()].sort(), want.map(n => `tz-sidecar-${n}-1:3031`).sort(), 'one target per sidecar, none for other containers, named by container')
  for (const [name, svc] of [...sidecarsOf(base), ...sidecarsOf(overlay)]) {
    const target = byInstance.get(`tz-sidecar-${name}-1:3031`)
    t.equal(target?.labels.service, svc.labels['tz-sidecar.service'], `${name}: service label from the container label`)
    t.match(target?.scrapeUrl, /^http:\/\/127\.0\.0\.\d+:3031\/metrics$/, `${name}: scraped on its network address, port 3031`)
  }
})

t.test('Alloy labels log streams with the same container label and the same `service` name', async t => {
  const alloy = text('alloy/config.alloy')
  t.match(alloy, /filter \{\s*name\s*=\s*"label"\s*values\s*=\s*\["tz-sidecar\.service"\]/, 'collects containers with a tz-sidecar.service label')
  t.match(alloy, /source_labels\s*=\s*\["__meta_docker_container_label_tz_sidecar_service"\]\s*target_label\s*=\s*"service"/, 'and names the stream `service` from it')
  const job = prometheusConfig.scrape_configs.find((s: any) => s.job_name === 'tz-sidecar')
  t.ok(job.relabel_configs.some((r: any) => r.source_labels?.[0] === '__meta_docker_container_label_tz_sidecar_service' && r.target_label === 'service'), 'as Prometheus does')
})

t.test('the image is multi-stage and its runtime stage installs production dependencies only', async t => {
  const dockerfile = text('Dockerfile')
  const stages = dockerfile.split(/^FROM /m).slice(1)
  t.equal(stages.length, 2, 'build and runtime stages')
  const runtime = stages[1]
  t.match(runtime, /npm (ci|install) --omit=dev/, 'runtime: --omit=dev')
  t.notMatch(runtime, /COPY --from=build \/app\/node_modules/, 'runtime never copies the build stage\'s node_modules (chdb, the node binary)')
  t.match(runtime, /COPY --from=build \/app\/dist \.\/dist/, 'only the built JavaScript comes from the build stage')
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  for (const dev of ['chdb', 'node', 'tap', 'typescript']) t.notOk(dev in pkg.dependencies, `${dev} is a devDependency only`)
})

const COMPOSE_V2 = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' }).status === 0
  ? false
  : 'no Compose v2 binary here: Debian has only Compose v1 (docker-compose 1.29, no Compose-spec `name:`), and the npm registry ships none'

t.test('`docker compose config` accepts the stack and the overlay', { skip: COMPOSE_V2 }, async t => {
  const env = { ...process.env, TENSORZERO_CLICKHOUSE_PASSWORD: 'x', TZ_GRAFANA_ADMIN_PASSWORD: 'x' }
  for (const args of [['-f', 'docker-compose.yml'], ['-f', 'docker-compose.yml', '-f', 'docker-compose.pmoves.yml']]) {
    const r = spawnSync('docker', ['compose', ...args, 'config', '--quiet'], { cwd: COMPOSE_DIR, env, encoding: 'utf8' })
    t.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`)
  }
})
