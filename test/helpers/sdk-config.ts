// Config shared by the SDK patch tests: a function `agent` (plus a weight-0 variant only reachable by pinning), a
// function `tooler` whose provider always answers with a tool call, an embedding model, and the two metric levels.
// All providers are the fake OpenAI server at `fakeUrl`.
export const testToml = (fakeUrl: string): string => `
[models.fake_ok]
routing = ["p"]
[models.fake_ok.providers.p]
type = "openai"
model_name = "ok"
api_base = "${fakeUrl}/v1/"
api_key_location = "none"

[models.fake_tool]
routing = ["p"]
[models.fake_tool.providers.p]
type = "openai"
model_name = "tool"
api_base = "${fakeUrl}/v1/"
api_key_location = "none"

[embedding_models.embed]
routing = ["p"]
[embedding_models.embed.providers.p]
type = "openai"
model_name = "embed-ok"
api_base = "${fakeUrl}/v1/"
api_key_location = "none"

[functions.agent]
type = "chat"
[functions.agent.variants.main]
type = "chat_completion"
model = "fake_ok"
[functions.agent.variants.pinned_only]
type = "chat_completion"
model = "fake_ok"
weight = 0

[functions.tooler]
type = "chat"
[functions.tooler.variants.main]
type = "chat_completion"
model = "fake_tool"

[metrics.task_success]
type = "boolean"
optimize = "max"
level = "episode"

[metrics.rating]
type = "float"
optimize = "max"
level = "inference"
`

export const testSidecarToml = (fakeUrl: string): string => `
service = "sdk-test"
unmatched = "passthrough"
passthrough_upstream = "${fakeUrl}"
[routes]
"gpt-4o-mini" = "tensorzero::function_name::agent"
"gpt-tools" = { function = "tooler" }
"text-embedding-3-small" = { embedding_model = "embed" }
`
