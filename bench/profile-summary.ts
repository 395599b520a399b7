// Summarise a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by file/package.
//   node bench/profile-summary.ts <file.cpuprofile> [top=25]
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ROOT } from './procs.ts'

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

function shortUrl (url: string): string {
  if (url === '') return '(native)'
  let p = url.startsWith('file://') ? fileURLToPath(url) : url
  if (p.startsWith(ROOT + '/')) p = p.slice(ROOT.length + 1)
  return p
}

/** Group: a package under node_modules, node's internals, or the project folder (src/…, sidecar/…). */
function groupOf (url: string): string {
  const p = shortUrl(url)
  const nm = p.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = p.slice(nm + 13).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  if (p.startsWith('node:')) return p.split('/').slice(0, 2).join('/')
  if (p === '(native)') return '(native/gc/idle)'
  return p
}

export function summarise (file: string, top = 25): string {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map<number, ProfileNode>()
  for (const n of prof.nodes) byId.set(n.id, n)
  const selfUs = new Map<number, number>()
  for (let i = 0; i < prof.samples.length; i++) {
    selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0))
  }
  const totalUs = prof.endTime - prof.startTime
  let idleUs = 0
  const fns = new Map<string, number>()
  const groups = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const cf = (byId.get(id) as ProfileNode).callFrame
    if (cf.functionName === '(idle)') { idleUs += us; continue }
    const key = `${cf.functionName !== '' ? cf.functionName : '(anonymous)'}  ${shortUrl(cf.url)}:${cf.lineNumber + 1}`
    fns.set(key, (fns.get(key) ?? 0) + us)
    const g = groupOf(cf.url)
    groups.set(g, (groups.get(g) ?? 0) + us)
  }
  const busyUs = totalUs - idleUs
  const pct = (us: number): string => `${((us / busyUs) * 100).toFixed(1).padStart(5)} %`
  const lines: string[] = []
  lines.push(`${file}: ${(totalUs / 1e6).toFixed(1)} s profiled, ${(busyUs / 1e6).toFixed(1)} s busy (${((busyUs / totalUs) * 100).toFixed(0)} %)`)
  lines.push(`-- self time by function (share of busy time), top ${top}`)
  for (const [k, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(us)}  ${k}`)
  lines.push('-- self time by file / package')
  for (const [k, us] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(us)}  ${k}`)
  return lines.join('\n')
}

if (process.argv[1] !== undefined && import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2]
  if (file === undefined) { process.stderr.write('usage: node bench/profile-summary.ts <file.cpuprofile> [top]\n'); process.exit(2) }
  process.stdout.write(summarise(file, Number(process.argv[3] ?? 25)) + '\n')
}
