// TOML snippets for test configs whose providers are the loopback fake OpenAI server (helpers/fake-openai.ts).

/** [provider name, fake behaviour (the `model_name` the fake receives), extra TOML lines for that provider]. */
export type FakeProvider = [provider: string, behaviour: string, extra?: string]

/**
 * `[models.NAME]` (or `[embedding_models.NAME]`) whose providers are tried in the given order. Each behaves as the fake
 * says; the behaviour `refused` points at a dead port. Providers need no key unless `extra` sets `api_key_location`.
 */
export function fakeModel (fakeUrl: string, name: string, providers: FakeProvider[], section = 'models'): string {
  const tables = providers.map(([p, behaviour, extra = '']) => `
[${section}.${name}.providers.${p}]
type = "openai"
model_name = "${behaviour}"
api_base = "${behaviour === 'refused' ? 'http://127.0.0.1:1' : fakeUrl}/v1/"
${extra.includes('api_key_location') ? '' : 'api_key_location = "none"\n'}${extra}`)
  return `\n[${section}.${name}]\nrouting = [${providers.map(([p]) => `"${p}"`).join(', ')}]\n${tables.join('')}`
}

/** `[functions.NAME]` of `type` with one `chat_completion` variant per [variant, model, extra TOML lines]. */
export function fakeFunction (name: string, variants: Array<[variant: string, model: string, extra?: string]>, type = 'chat'): string {
  return `\n[functions.${name}]\ntype = "${type}"\n` + variants.map(([v, model, extra = '']) =>
    `[functions.${name}.variants.${v}]\ntype = "chat_completion"\nmodel = "${model}"\n${extra}${extra === '' || extra.endsWith('\n') ? '' : '\n'}`).join('')
}

/** `[functions.NAME]`, a JSON function with one `chat_completion` variant and its output schema file. */
export function fakeJsonFunction (name: string, variant: string, model: string, outputSchemaFile: string): string {
  return `\n[functions.${name}]\ntype = "json"\noutput_schema = "${outputSchemaFile}"\n[functions.${name}.variants.${variant}]\ntype = "chat_completion"\nmodel = "${model}"\n`
}

/** `[models.NAME]` with one `anthropic` provider on the fake Anthropic server (helpers/fake-anthropic.ts), keyed by `TEST_ANTHROPIC_KEY`. */
export function fakeAnthropicModel (fakeUrl: string, name: string, behaviour = 'claude-ok'): string {
  return `\n[models.${name}]\nrouting = ["anthropic_fake"]\n[models.${name}.providers.anthropic_fake]\ntype = "anthropic"\nmodel_name = "${behaviour}"\n` +
    `api_base = "${fakeUrl}/v1/messages"\napi_key_location = "env::TEST_ANTHROPIC_KEY"\n`
}

/** `[models.NAME]` with one `google_ai_studio_gemini` provider on the fake Gemini server (helpers/fake-gemini.ts), keyed by `TEST_GEMINI_KEY`. */
export function fakeGeminiModel (fakeUrl: string, name: string, behaviour = 'gemini-ok'): string {
  return `\n[models.${name}]\nrouting = ["gemini_fake"]\n[models.${name}.providers.gemini_fake]\ntype = "google_ai_studio_gemini"\nmodel_name = "${behaviour}"\n` +
    `api_base = "${fakeUrl}/v1beta/"\napi_key_location = "env::TEST_GEMINI_KEY"\n`
}
