// URL pieces every wire format needs: joining a configured base with an endpoint path, and inline `data:` URLs.

/** `${base}/${path}` with exactly one slash between them, whatever the config wrote. */
export function joinUrl (base: string, path: string): string {
  let end = base.length
  while (end > 0 && base.charCodeAt(end - 1) === 47) end--
  return `${base.slice(0, end)}/${path}`
}

/** `data:<mime>;base64,<data>` → its parts; undefined for any other URL. */
export function parseDataUrl (url: string): { mimeType: string; data: string } | undefined {
  const m = /^data:([^;,]+)?((?:;[^;,]*)*?);base64,(.*)$/s.exec(url)
  if (m === null) return undefined
  return { mimeType: m[1] ?? 'application/octet-stream', data: m[3] }
}
