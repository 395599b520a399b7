// SIDECAR_* settings read from the environment: an unset or empty variable means the default.

export function numberFromEnv (env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got \`${raw}\``)
  return n
}

const ON = ['1', 'true', 'yes', 'on']
const OFF = ['0', 'false', 'no', 'off']

export function flagFromEnv (env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = raw.toLowerCase()
  if (ON.includes(value)) return true
  if (OFF.includes(value)) return false
  throw new Error(`${name} must be one of ${[...ON, ...OFF].join(', ')}; got \`${raw}\``)
}
