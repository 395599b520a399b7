// Errors that reach a client. Every HTTP route turns a GatewayError into `{"error":{"message"}}` with its status.

export class GatewayError extends Error {
  readonly status: number
  /** OpenAI-style `error.type`, for SDKs that read it. */
  readonly type: string
  constructor (status: number, message: string, type = errorTypeFor(status)) {
    super(message)
    this.name = 'GatewayError'
    this.status = status
    this.type = type
  }
}

function errorTypeFor (status: number): string {
  if (status === 404) return 'not_found_error'
  if (status === 401) return 'authentication_error'
  if (status === 408) return 'timeout_error'
  if (status === 413) return 'invalid_request_error'
  if (status === 429) return 'rate_limit_error'
  if (status < 500) return 'invalid_request_error'
  return 'server_error'
}

export const badRequest = (message: string): GatewayError => new GatewayError(400, message)
export const notFound = (message: string): GatewayError => new GatewayError(404, message)

export function errorBody (err: GatewayError): { error: { message: string; type: string } } {
  return { error: { message: err.message, type: err.type } }
}
