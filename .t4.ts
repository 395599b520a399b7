import { startChdbServer } from './test/helpers/chdb-server.ts'
import { runMigrate } from './src/observability/clickhouse/schema.ts'
const t0 = Date.now()
const ch = await startChdbServer()
console.log('started', Date.now() - t0, ch.url)
console.log(await runMigrate({ url: ch.url }))
console.log(await runMigrate({ url: ch.url }))
console.log(await ch.query('SELECT name, engine FROM system.tables WHERE database = currentDatabase() ORDER BY name'))
console.log((await ch.requests()).slice(-3))
await ch.close()
console.log('closed', Date.now() - t0)
