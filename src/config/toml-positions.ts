// Where each key of a TOML text sits. smol-toml reports positions only for syntax errors, but semantic errors
// ("unknown provider type") should point at the offending key too. This scanner runs only on text smol-toml
// has already accepted, so it can be lenient: it tracks keys, not values, and never reports errors itself.
//
// Paths are arrays of key segments (a quoted key may contain dots). Array elements get their index as a
// segment: `routing = ["a", "b"]` records `routing/0` and `routing/1`, `[[x]]` records `x/0`, `x/1`, ...

export interface Position { line: number; col: number }

export interface PositionIndex {
  /** Exact position of a path, or undefined. */
  get (path: readonly string[]): Position | undefined
  /** Position of the path, else of its nearest recorded ancestor (the enclosing table), else 1:1. */
  find (path: readonly string[]): Position
  /** Whether this exact path was written in this text (a key, header or array element). */
  has (path: readonly string[]): boolean
}

/** A-Z a-z 0-9 _ - */
function isBareKeyChar (c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 45
}

/** , ] } # \n \r */
function isValueEnd (c: number): boolean {
  return c === 44 || c === 93 || c === 125 || c === 35 || c === 10 || c === 13
}

const SEP = '\u0000'
export const pathKey = (path: readonly string[]): string => path.join(SEP)

export function buildPositionIndex (text: string): PositionIndex {
  const positions = new Map<string, Position>()
  const arrayTableCounts = new Map<string, number>()
  let i = 0
  let line = 1
  let lineStart = 0

  const here = (): Position => ({ line, col: i - lineStart + 1 })
  const record = (path: readonly string[], pos: Position): void => {
    const key = pathKey(path)
    // The first mention wins: that is where a table or key was introduced.
    if (!positions.has(key)) positions.set(key, pos)
  }
  const advance = (): void => {
    if (text[i] === '\n') { line++; lineStart = i + 1 }
    i++
  }
  const skipSpaces = (): void => { while (text[i] === ' ' || text[i] === '\t') i++ }
  const skipComment = (): void => { if (text[i] === '#') while (i < text.length && text[i] !== '\n') i++ }
  /** Whitespace, newlines and comments: what may sit between array elements or inline-table entries. */
  const skipBlank = (): void => {
    for (;;) {
      skipSpaces(); skipComment()
      if (text[i] === '\n' || text[i] === '\r') { advance(); continue }
      return
    }
  }

  /** Skips a string value starting at `i` (its content is not needed: no copy is built). */
  const skipString = (): void => {
    const quote = text[i]
    const q = quote.charCodeAt(0)
    const triple = quote === '"' ? '"""' : "'''"
    if (text.startsWith(triple, i)) {
      i += 3
      for (;;) {
        const end = text.indexOf(triple, i)
        const stop = end < 0 ? text.length : end
        // Count the newlines (positions after the string) and, in basic strings, skip escapes (an escaped quote).
        for (; i < stop; i++) {
          const c = text.charCodeAt(i)
          if (c === 10) { line++; lineStart = i + 1 } else if (c === 92 && q === 34) { i++; if (text.charCodeAt(i) === 10) { line++; lineStart = i + 1 } }
        }
        if (i > stop) continue // an escape straddled the delimiter: search again from here
        if (end < 0) { i = text.length; return }
        let close = i + 3
        while (text.charCodeAt(close) === q && close - i < 5) close++
        i = close
        return
      }
    }
    i++
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (c === q || c === 10) break
      if (c === 92 && q === 34) i++
    }
    i++ // closing quote
  }

  /** Skips a string starting at `i` and returns its value (only needed for quoted keys). */
  const readString = (): string => {
    const quote = text[i]
    const multi = text.startsWith(quote.repeat(3), i)
    let out = ''
    if (multi) {
      i += 3
      while (i < text.length) {
        if (text.startsWith(quote.repeat(3), i)) {
          // A closing delimiter may be followed by up to two more quotes that belong to the content.
          let end = i + 3
          while (text[end] === quote && end - i < 5) end++
          out += text.slice(i, end - 3)
          i = end
          return out
        }
        if (quote === '"' && text[i] === '\\') { out += text[i]; advance() }
        out += text[i]; advance()
      }
      return out
    }
    i++
    while (i < text.length && text[i] !== quote && text[i] !== '\n') {
      if (quote === '"' && text[i] === '\\') {
        const esc = text[i + 1]
        const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', e: '\x1b', '"': '"', '\\': '\\' }
        if (esc === 'u' || esc === 'U' || esc === 'x') {
          const len = esc === 'u' ? 4 : esc === 'U' ? 8 : 2
          out += String.fromCodePoint(parseInt(text.slice(i + 2, i + 2 + len), 16))
          i += 2 + len
        } else {
          out += simple[esc] ?? esc
          i += 2
        }
        continue
      }
      out += text[i]; i++
    }
    i++ // closing quote
    return out
  }

  /** A dotted key; returns each segment with the position where it starts. */
  const readKey = (): Array<{ name: string; pos: Position }> => {
    const segments: Array<{ name: string; pos: Position }> = []
    for (;;) {
      skipSpaces()
      const pos = here()
      let name: string
      if (text[i] === '"' || text[i] === "'") {
        name = readString()
      } else {
        const start = i
        while (i < text.length && isBareKeyChar(text.charCodeAt(i))) i++
        name = text.slice(start, i)
      }
      segments.push({ name, pos })
      skipSpaces()
      if (text[i] === '.') { i++; continue }
      return segments
    }
  }

  const readValue = (path: string[]): void => {
    skipSpaces()
    const c = text[i]
    if (c === '"' || c === "'") { skipString(); return }
    if (c === '{') {
      i++
      for (;;) {
        skipBlank()
        if (i >= text.length) return
        if (text[i] === '}') { i++; return }
        if (text[i] === ',') { i++; continue }
        readKeyValue(path)
      }
    }
    if (c === '[') {
      i++
      let index = 0
      for (;;) {
        skipBlank()
        if (i >= text.length) return
        if (text[i] === ']') { i++; return }
        if (text[i] === ',') { i++; continue }
        const elementPath = [...path, String(index++)]
        record(elementPath, here())
        readValue(elementPath)
      }
    }
    // Bare value (number, boolean, date/time; a date may contain a space): runs to a delimiter.
    while (i < text.length && !isValueEnd(text.charCodeAt(i))) i++
  }

  const readKeyValue = (table: string[]): void => {
    const segments = readKey()
    const path = [...table]
    for (const seg of segments) {
      path.push(seg.name)
      record(path, seg.pos)
    }
    skipSpaces()
    if (text[i] === '=') i++
    readValue(path)
  }

  let table: string[] = []
  while (i < text.length) {
    skipBlank()
    if (i >= text.length) break
    if (text[i] === '[') {
      const arrayOfTables = text[i + 1] === '['
      i += arrayOfTables ? 2 : 1
      const segments = readKey()
      const path: string[] = []
      for (const seg of segments) {
        path.push(seg.name)
        record(path, seg.pos)
      }
      if (arrayOfTables) {
        const key = pathKey(path)
        const n = arrayTableCounts.get(key) ?? 0
        arrayTableCounts.set(key, n + 1)
        path.push(String(n))
        record(path, segments[segments.length - 1].pos)
      }
      table = path
      while (i < text.length && text[i] !== '\n') i++ // `]`, `]]`, trailing comment
      continue
    }
    const before = i
    readKeyValue(table)
    if (i === before) advance() // never loop on something unexpected
  }

  return {
    get: (path) => positions.get(pathKey(path)),
    has: (path) => positions.has(pathKey(path)),
    find (path) {
      for (let n = path.length; n > 0; n--) {
        const pos = positions.get(pathKey(path.slice(0, n)))
        if (pos) return pos
      }
      return { line: 1, col: 1 }
    },
  }
}
