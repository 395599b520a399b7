// Audio calls (transcription, translation, speech) through the model walk of route.ts: providers in routing order,
// each under its `non_streaming.total_ms`, the model's own limit around all of them. A provider has served once its
// 2xx head arrives; its limits then stay on until the body has been passed on (a long speech answer is still bounded).
import type { ModelConfig } from '../core/config.ts'
import type { AudioAnswer, AudioRequest } from '../core/types.ts'
import type { ResponseHeaders } from '../providers/adapter.ts'
import { ProviderError } from '../core/errors.ts'
import { deadline } from '../core/deadline.ts'
import { encodeAudioRequest } from '../providers/http/extra.ts'
import { withoutSentSecrets } from '../providers/secrets.ts'
import { traced, endOnDispose } from '../core/tracing.ts'
import { walk, prepare, ownTimeout, type Leg, type CallContext } from './route.ts'

const audioLeg: Leg<AudioRequest, AudioAnswer> = {
  modelLimit (model, signal) {
    // The walk stops a limit's timer once a provider served; this one bounds the body too, so only `clear` ends it.
    const total = deadline(signal, model.timeouts.nonStreamingTotalMs, `model \`${model.name}\``)
    return { signal: total.signal, stopTimer () {}, clear: total.clear }
  },
  async attempt (model, provider, req, ctx, parent) {
    const limit = deadline(parent, provider.timeouts.nonStreamingTotalMs, `provider \`${provider.name}\``)
    try {
      const { adapter, transport, pctx } = prepare(model, provider, ctx)
      // Audio goes over HTTP only: a type with a transport of its own (the in-process dummy) has no audio API.
      if (adapter.buildAudioRequest === undefined || transport !== ctx.transport) {
        throw new ProviderError(`provider type \`${provider.type}\` does not serve OpenAI's audio API`, 'unsupported')
      }
      const spec = encodeAudioRequest(adapter.buildAudioRequest(req, pctx), pctx)
      const answer = await ctx.transport.open(spec, limit.signal)
      if (answer.body === undefined) {
        throw adapter.classifyError(answer.status, withoutSentSecrets(answer.errorBody ?? '', spec.headers), answer.headers)
      }
      return {
        providerName: provider.name,
        contentType: contentTypeOf(answer.headers),
        body: answer.body,
        dispose () { answer.destroy(); limit.clear() }
      }
    } catch (err) {
      limit.clear()
      throw ownTimeout(err, limit.signal, parent)
    }
  },
  adopt (answer, limit) {
    const inner = answer.dispose
    answer.dispose = () => { inner(); limit.clear() }
    return true
  }
}

function contentTypeOf (headers: ResponseHeaders): string {
  const value = headers['content-type']
  const type = Array.isArray(value) ? value[0] : value
  return type ?? 'application/octet-stream'
}

/** The answer of the first provider, in routing order, that accepts the call; its body is the caller's to read and dispose. */
export const audioModel = traced<[model: ModelConfig, req: AudioRequest, ctx: CallContext], AudioAnswer>('model_inference',
  (model, req) => ({ model_name: model.name, 'gen_ai.operation.name': req.operation, stream: req.operation === 'speech' }),
  async (model: ModelConfig, req: AudioRequest, ctx: CallContext): Promise<AudioAnswer> => await walk(audioLeg, model, req, ctx),
  endOnDispose)
