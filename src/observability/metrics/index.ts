// Prometheus metrics: `new SidecarMetrics(config, {service})`, then plug `.observer` into the Gateway,
// `.onRequest` into the server's request listener and `.render` into GET /metrics.
export { SidecarMetrics, LATENCY_BUCKETS, sinkSpoolStats } from './metrics.ts'
export type { SpoolStats, MetricsOptions } from './metrics.ts'
export { ClosedLabels, statusClass, UNKNOWN, NONE, PASSTHROUGH } from './labels.ts'
