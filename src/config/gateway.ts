// `[gateway]`: only the keys the sidecar acts on are kept. TensorZero has many more (export, auth,
// template_filesystem_access, …); they are the gateway's business and load without comment.
import type { TableReader } from './reader.ts'
import type { GatewayConfig } from '../core/config.ts'

export function readGateway (r: TableReader | undefined): GatewayConfig {
  const out: GatewayConfig = { batchWrites: { flushIntervalMs: 100, maxRows: 1000 } }
  if (!r) return out
  // Checked as TensorZero checks them, then not kept: `bind_address` is where a TensorZero gateway listens (the
  // sidecar's own address is `--bind-address` / SIDECAR_BIND_ADDRESS), `debug` is TensorZero's own logging, and
  // rows are always written in batches here, whatever `batch_writes.enabled` says.
  const bind = r.string('bind_address')
  if (bind !== undefined && !/^(\[[0-9A-Fa-f:.]+\]|[^:\s]+):\d{1,5}$/.test(bind)) {
    r.error('bind_address', `\`${r.name('bind_address')}\` must be HOST:PORT, got "${bind}"`)
  }
  r.boolean('debug')
  const obs = r.sub('observability')
  if (obs) {
    const enabled = obs.boolean('enabled')
    if (enabled !== undefined) out.observabilityEnabled = enabled
    const bw = obs.sub('batch_writes')
    if (bw) {
      bw.boolean('enabled')
      out.batchWrites.flushIntervalMs = bw.number('flush_interval_ms', { integer: true, positive: true }) ?? 100
      out.batchWrites.maxRows = bw.number('max_rows', { integer: true, positive: true }) ?? 1000
    }
  }
  return out
}
