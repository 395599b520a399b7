// The gateway as a library: config in, inferences out. The sidecar's HTTP server and the SDK's embedded mode
// both drive this object; neither needs to know about routing, providers or retries.
import type { LoadedConfig } from './core/config.ts'
import type { InferenceObserver } from './core/records.ts'
import type { ChatRequest } from './core/request.ts'
import type { EmbeddingRequest, EmbeddingResponse } from './core/types.ts'
import type { MessagePreparer } from './variant/chat-completion.ts'
import { TargetResolver } from './function/resolve.ts'
import { Transport } from './providers/http/transport.ts'
import { runChat } from './function/run.ts'
import type { CompletedInference, StreamingInference, GatewayContext } from './function/run.ts'
import { embedModel } from './model/route.ts'
import { GatewayError } from './core/errors.ts'
import { templatePreparer } from './variant/templates/prepare.ts'

export interface GatewayOptions {
  observer?: InferenceObserver
  env?: NodeJS.ProcessEnv
  prepareMessages?: MessagePreparer
}

export class Gateway {
  readonly config: LoadedConfig
  readonly resolver: TargetResolver
  private readonly transport = new Transport()
  private readonly ctx: GatewayContext

  constructor (config: LoadedConfig, opts: GatewayOptions = {}) {
    this.config = config
    this.resolver = new TargetResolver(config)
    this.ctx = {
      config: config.tensorzero,
      resolver: this.resolver,
      transport: this.transport,
      env: opts.env ?? process.env,
      observer: opts.observer,
      // Templates are compiled once, here; requests only render them.
      prepareMessages: opts.prepareMessages ?? templatePreparer(config.tensorzero)
    }
  }

  chat (req: ChatRequest, signal: AbortSignal): Promise<CompletedInference | StreamingInference> {
    return runChat(this.ctx, req, signal)
  }

  async embed (modelName: string, req: EmbeddingRequest, signal: AbortSignal, credentials?: Record<string, string>): Promise<EmbeddingResponse & { providerName: string }> {
    const model = this.resolver.embeddingModel(modelName)
    if (model === undefined) throw new GatewayError(404, `Unknown embedding model: ${modelName}`)
    return await embedModel(model, req, { transport: this.transport, env: this.ctx.env, credentials, signal, observer: this.ctx.observer })
  }

  async close (): Promise<void> {
    await this.transport.close()
  }
}
