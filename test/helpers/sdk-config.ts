// Config shared by the SDK patch tests: a function `agent` (plus a weight-0 variant only reachable by pinning), a
// function `tooler` whose provider always answers with a tool call, an embedding model, and the two metric levels.
// All providers are the fake OpenAI server at `fakeUrl`.
import { fakeModel, fakeFunction } from './toml.ts'

export const testToml = (fakeUrl: string): string =>
  fakeModel(fakeUrl, 'fake_ok', [['p', 'ok']]) +
  fakeModel(fakeUrl, 'fake_tool', [['p', 'tool']]) +
  fakeModel(fakeUrl, 'embed', [['p', 'embed-ok']], 'embedding_models') +
  fakeFunction('agent', [['main', 'fake_ok'], ['pinned_only', 'fake_ok', 'weight = 0']]) +
  fakeFunction('tooler', [['main', 'fake_tool']]) + `
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
