// Config files for the bench, written to a temp folder: a one-function config pointing at the fake upstream, and a
// large config (50 functions × 10 variants over 100 models with two providers each) for the cold-start figure.
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'

export const CLIENT_MODEL = 'gpt-4o-mini'
/** Routed to a model whose upstream streams one chunk every 50 ms (bench/fake-upstream.ts `bench-slow`). */
export const SLOW_CLIENT_MODEL = 'slow-stream'

export interface BenchConfig { dir: string; configFile: string; sidecarConfig: string; bigConfigFile: string }

export async function writeBenchConfigs (upstreamUrl: string): Promise<BenchConfig> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-bench-'))
  const apiBase = `${upstreamUrl}/v1/`
  const configFile = path.join(dir, 'tensorzero.toml')
  await writeFile(configFile, `
[models.bench]
routing = ["upstream"]

[models.bench.providers.upstream]
type = "openai"
model_name = "bench-model"
api_base = "${apiBase}"
api_key_location = "none"

[functions.bench]
type = "chat"

[functions.bench.variants.main]
type = "chat_completion"
model = "bench"
retries = { num_retries = 0, max_delay_s = 1 }

[models.bench_slow]
routing = ["upstream"]

[models.bench_slow.providers.upstream]
type = "openai"
model_name = "bench-slow"
api_base = "${apiBase}"
api_key_location = "none"

[functions.bench_slow]
type = "chat"

[functions.bench_slow.variants.main]
type = "chat_completion"
model = "bench_slow"
retries = { num_retries = 0, max_delay_s = 1 }
`)
  const sidecarConfig = path.join(dir, 'sidecar.toml')
  await writeFile(sidecarConfig, `
service = "bench"
unmatched = "reject"

[routes]
"${CLIENT_MODEL}" = "tensorzero::function_name::bench"
"${SLOW_CLIENT_MODEL}" = "tensorzero::function_name::bench_slow"
`)
  const bigConfigFile = path.join(dir, 'big.toml')
  await writeFile(bigConfigFile, bigConfig(apiBase, 50, 10, 100))
  return { dir, configFile, sidecarConfig, bigConfigFile }
}

/** `functions` functions of `variants` weighted variants each, over `models` models with a local and a fallback provider. */
export function bigConfig (apiBase: string, functions: number, variants: number, models: number): string {
  const out: string[] = []
  for (let m = 0; m < models; m++) {
    out.push(`[models.model_${m}]
routing = ["local", "fallback"]

[models.model_${m}.providers.local]
type = "openai"
model_name = "local-${m}"
api_base = "${apiBase}"
api_key_location = "none"
timeouts = { non_streaming = { total_ms = 120000 }, streaming = { ttft_ms = 30000 } }

[models.model_${m}.providers.fallback]
type = "vllm"
model_name = "fallback-${m}"
api_base = "${apiBase}"
api_key_location = "none"
`)
  }
  for (let f = 0; f < functions; f++) {
    out.push(`[functions.fn_${f}]\ntype = "chat"\n`)
    for (let v = 0; v < variants; v++) {
      out.push(`[functions.fn_${f}.variants.v_${v}]
type = "chat_completion"
model = "model_${(f * variants + v) % models}"
weight = ${(v + 1) / 10}
temperature = 0.${v}
max_tokens = ${256 + v}
retries = { num_retries = 1, max_delay_s = 2 }
`)
    }
  }
  return out.join('\n')
}
