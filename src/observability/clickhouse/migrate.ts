// `tz-sidecar migrate` entry point (the schema itself lives in schema.ts).
export { runMigrate, migrate } from './schema.ts'
export type { MigrateResult } from './schema.ts'
