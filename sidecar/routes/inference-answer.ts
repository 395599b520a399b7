// What the inference routes (chat completions, responses) share in answering: the x-tensorzero-* headers, and
// forwarding a stream as server-sent events in the route's own encoding: deltas as they arrive, closing events
// whose last one waits for `persisted()` (a stream the client saw complete has its rows on disk), and a failure
// after the status line reported in the stream.
import type { ServerResponse } from 'node:http'
import type { Gateway } from '../../src/gateway.ts'
import type { StreamingInference, InferenceMeta } from '../../src/function/run.ts'
import type { StreamDelta } from '../../src/core/types.ts'
import type { StreamCollector } from '../../src/model/stream.ts'
import { toGatewayError, errorClassOf, ProviderError } from '../../src/core/errors.ts'
import { writeChunk } from '../http/respond.ts'
import type { RequestLog } from '../ops/request-log.ts'

export function inferenceHeaders (meta: InferenceMeta): Record<string, string> {
  return {
    'x-tensorzero-inference-id': meta.inferenceId,
    'x-tensorzero-episode-id': meta.episodeId,
    'x-tensorzero-function': meta.functionName,
    'x-tensorzero-variant': meta.variantName,
    'x-tensorzero-model': meta.modelName,
    'x-tensorzero-provider': meta.providerName
  }
}

/** How one route writes a stream. */
export interface StreamEncoding {
  /** Sent before the first delta ('' for nothing). */
  head: string
  /** A delta's events, or '' when it carries nothing to show. */
  delta (d: StreamDelta): string
  /** Closing events once the deltas ended: the first part is sent at once, the second once the rows are persisted. */
  tail (collector: StreamCollector): [string, string]
  /** The in-stream report of a failure after the stream started; `rawChunk`: the provider's raw text of the failure, if any. */
  error (message: string, rawChunk?: string): string
}

export async function sendEventStream (res: ServerResponse, stream: StreamingInference, encoding: StreamEncoding, log: RequestLog,
  store?: Pick<Gateway, 'persisted'>): Promise<void> {
  res.writeHead(200, {
    ...inferenceHeaders(stream),
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no'
  })
  try {
    if (encoding.head !== '' && !await writeChunk(res, encoding.head)) return
    for await (const delta of stream.deltas) {
      const chunk = encoding.delta(delta)
      if (chunk === '') continue
      log.ttftMs ??= performance.now() - log.started
      if (!await writeChunk(res, chunk)) return
    }
    log.usage = stream.collector.usage
    const [closing, last] = encoding.tail(stream.collector)
    if (closing !== '') await writeChunk(res, closing)
    if (store !== undefined) await store.persisted()
    await writeChunk(res, last)
    res.end()
  } catch (err) {
    // After the first chunk the status line is gone: report in-stream, as TensorZero does.
    const error = toGatewayError(err)
    log.error = error
    log.errorClass = errorClassOf(err)
    log.streamError = true
    if (!res.destroyed) {
      await writeChunk(res, encoding.error(error.message, err instanceof ProviderError ? err.rawResponse : undefined))
      res.end()
    }
  }
}
