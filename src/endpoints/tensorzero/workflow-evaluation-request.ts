// The bodies of TensorZero's workflow evaluation routes (endpoints/workflow_evaluation_run.rs): a run's `variants`
// (required), `tags`, `project_name`, `display_name`, `internal`; an episode's `task_name` and `tags`. Like
// TensorZero's serde structs, fields it does not know are ignored.
import { badRequest } from '../../core/errors.ts'
import { UUID_TEXT, canonicalUuid } from '../../core/ids.ts'
import type { WorkflowEpisodeParams, WorkflowRunParams } from '../../function/workflow-evaluation.ts'
import { isObject, optionalBoolean, optionalString, stringMap } from '../openai/validate.ts'

export function workflowRunParams (body: unknown): WorkflowRunParams {
  if (!isObject(body)) throw badRequest('The request body must be a JSON object')
  if (body.variants === undefined) throw badRequest('missing field `variants`')
  return {
    variants: stringMap(body.variants, 'variants'),
    tags: body.tags === undefined || body.tags === null ? {} : stringMap(body.tags, 'tags'),
    projectName: optionalString(body, 'project_name'),
    displayName: optionalString(body, 'display_name'),
    internal: optionalBoolean(body, 'internal') === true
  }
}

export function workflowEpisodeParams (body: unknown): WorkflowEpisodeParams {
  if (!isObject(body)) throw badRequest('The request body must be a JSON object')
  return {
    taskName: optionalString(body, 'task_name'),
    tags: body.tags === undefined || body.tags === null ? {} : stringMap(body.tags, 'tags')
  }
}

/** The `{run_id}` of `/workflow_evaluation_run/{run_id}/episode`, hyphenated in lower case; anything else is not a route. */
export function workflowRunIdOfPath (rest: string): string | undefined {
  const m = /^([^/]+)\/episode$/.exec(rest)
  if (m === null) return undefined
  if (!UUID_TEXT.test(m[1])) throw badRequest(`Invalid URL: Cannot parse \`run_id\` with value \`${m[1]}\` to a \`UUID\``)
  return canonicalUuid(m[1])
}
