// A loopback OTLP/HTTP receiver for tests of exported spans (JSON encoding): point OTEL_EXPORTER_OTLP_ENDPOINT at `url`.
import http from 'node:http'
import type net from 'node:net'

export interface OtlpSpan { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes: Record<string, unknown>; status?: { code?: number } }

/** Loopback OTLP/HTTP receiver: keeps the raw bodies (for the secret check) and the spans (JSON encoding). */
export async function startOtlpReceiver (): Promise<{ url: string; raw: string[]; spans: OtlpSpan[]; serviceNames: string[]; close: () => Promise<void> }> {
  const raw: string[] = []
  const spans: OtlpSpan[] = []
  const serviceNames: string[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString()
      raw.push(text)
      const body = JSON.parse(text)
      for (const rs of body.resourceSpans ?? []) {
        const name = (rs.resource?.attributes ?? []).find((a: { key: string }) => a.key === 'service.name')
        serviceNames.push(String(name?.value?.stringValue))
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            const attributes: Record<string, unknown> = {}
            for (const a of s.attributes ?? []) {
              const v = a.value ?? {}
              attributes[a.key] = v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.boolValue ?? v.doubleValue
            }
            spans.push({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId === '' ? undefined : s.parentSpanId, name: s.name, kind: s.kind, attributes, status: s.status })
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{}')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    raw,
    spans,
    serviceNames,
    close: async () => { server.closeAllConnections(); await new Promise<void>(resolve => server.close(() => resolve())) }
  }
}
