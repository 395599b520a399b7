// POST /feedback (and /v1/feedback): a metric value, comment or demonstration for an inference or an episode.
import type { RouteHandler } from './context.ts'
import { readBody, parseJson } from '../http/body.ts'
import { sendJson } from '../http/respond.ts'

export const feedback: RouteHandler = async (ctx, req, res) => {
  const answer = await ctx.gateway.feedback(parseJson(await readBody(req, ctx.bodyLimit)))
  sendJson(res, answer.status, answer.body)
}
