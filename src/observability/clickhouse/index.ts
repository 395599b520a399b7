// ClickHouse observability: TensorZero's tables, the spool-backed writer, migrations.
export { createClickHouseSink } from './sink.ts'
export type { ClickHouseSink, ClickHouseSinkOptions, SinkStatus, SinkLogger } from './sink.ts'
export { migrate, runMigrate, flatViewSql, FLAT_VIEW_NAME, TABLES } from './schema.ts'
export type { MigrateResult } from './schema.ts'
export { inferenceRows, feedbackRow, TABLE_ORDER } from './rows.ts'
export type { TableName, TableRow, RowContext } from './rows.ts'
export { parseClickHouseUrl, makeClient, redactUrl } from './client.ts'
