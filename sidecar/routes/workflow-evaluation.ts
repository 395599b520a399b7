// POST /workflow_evaluation_run and POST /workflow_evaluation_run/{run_id}/episode, as TensorZero's gateway serves them.
import type { RouteHandler } from './context.ts'
import { readBody, parseJson } from '../http/body.ts'
import { sendJson } from '../http/respond.ts'
import { pathOf } from '../http/passthrough.ts'
import { GatewayError } from '../../src/core/errors.ts'
import { workflowEpisodeParams, workflowRunIdOfPath, workflowRunParams } from '../../src/endpoints/tensorzero/workflow-evaluation-request.ts'

const RUN_PATH_PREFIX = '/workflow_evaluation_run/'

export const workflowEvaluationRun: RouteHandler = async (ctx, req, res) => {
  const params = workflowRunParams(parseJson(await readBody(req, ctx.bodyLimit)))
  sendJson(res, 200, ctx.gateway.workflowEvaluationRun(params))
}

export const workflowEvaluationEpisode: RouteHandler = async (ctx, req, res) => {
  const runId = workflowRunIdOfPath(pathOf(req.url ?? '').slice(RUN_PATH_PREFIX.length))
  if (runId === undefined) {
    req.resume()
    throw new GatewayError(404, `Route not found: ${req.method ?? ''} ${req.url ?? ''}`)
  }
  const params = workflowEpisodeParams(parseJson(await readBody(req, ctx.bodyLimit)))
  sendJson(res, 200, await ctx.gateway.workflowEvaluationEpisode(runId, params))
}
