// A stand-in for a real service in the compose stack: it talks OpenAI-shaped HTTP to its sidecar (OPENAI_BASE_URL),
// as any service does after switching one variable, so the dashboard and logs have traffic from the first minute.
// Every few seconds: one chat completion (every other one streamed), feedback on it; now and then a model name with
// a typo, which the sidecar refuses with a 404 (a client error, counted apart from failed inferences).
// Plain Node 24 (global fetch), no dependencies: it runs in the stock node image.
const base = (process.env.OPENAI_BASE_URL ?? 'http://127.0.0.1:3031/v1').replace(/\/+$/, '')
const apiKey = process.env.OPENAI_API_KEY ?? 'unused'
const model = process.env.EXAMPLE_MODEL ?? 'gpt-4o-mini'
const intervalMs = 1000 * Math.max(1, Number(process.env.EXAMPLE_INTERVAL_S ?? 10) || 10)
const prompt = process.env.EXAMPLE_PROMPT ?? 'Write one sentence about observability.'
const headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }
const log = (fields) => { console.log(JSON.stringify({ time: new Date().toISOString(), service: process.env.EXAMPLE_SERVICE, ...fields })) }

async function post (path, body) {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(180_000) })
  return { status: res.status, text: await res.text() }
}

async function once (n) {
  const typo = n % 10 === 9
  const stream = n % 2 === 1
  const started = Date.now()
  const answer = await post('/chat/completions', { model: typo ? `${model}-typo` : model, stream, messages: [{ role: 'user', content: prompt }] })
  const entry = { msg: 'request', n, model: typo ? `${model}-typo` : model, stream, status: answer.status, latency_ms: Date.now() - started }
  if (answer.status !== 200 || stream) { log(answer.status === 200 ? entry : { ...entry, error: answer.text.slice(0, 300) }); return }
  const id = JSON.parse(answer.text).id
  const feedback = await post('/feedback', { metric_name: 'helpful', inference_id: id, value: Math.random() < 0.8 })
  log({ ...entry, inference_id: id, feedback_status: feedback.status })
}

for (let n = 0; ; n++) {
  await once(n).catch(err => log({ msg: 'request failed', n, error: String(err?.message ?? err) }))
  await new Promise(resolve => setTimeout(resolve, intervalMs))
}
