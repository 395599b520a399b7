// `[gateway]`: only the keys the sidecar acts on are checked. TensorZero has many more (export, auth,
// template_filesystem_access, …); they are the gateway's business and load without comment.
import type { TableReader } from './reader.ts'
import type { GatewayConfig } from '../core/config.ts'

export function readGateway (r: TableReader | undefined): GatewayConfig {
  const out: GatewayConfig = { batchWrites: { enabled: false, flushIntervalMs: 100, maxRows: 1000 }, debug: false }
  if (!r) return out
  const bind = r.string('bind_address')
  if (bind !== undefined) {
    if (/^(\[[0-9A-Fa-f:.]+\]|[^:\s]+):\d{1,5}$/.test(bind)) out.bindAddress = bind
    else r.error('bind_address', `\`${r.name('bind_address')}\` must be HOST:PORT, got "${bind}"`)
  }
  out.debug = r.boolean('debug') ?? false
  const obs = r.sub('observability')
  if (obs) {
    const enabled = obs.boolean('enabled')
    if (enabled !== undefined) out.observabilityEnabled = enabled
    const bw = obs.sub('batch_writes')
    if (bw) {
      out.batchWrites.enabled = bw.boolean('enabled') ?? false
      out.batchWrites.flushIntervalMs = bw.number('flush_interval_ms', { integer: true, positive: true }) ?? 100
      out.batchWrites.maxRows = bw.number('max_rows', { integer: true, positive: true }) ?? 1000
    }
  }
  return out
}
