import { validateConfigFiles } from '/work/main/src/config/load.ts'
import { formatDiagnostic } from '/work/main/src/config/diagnostics.ts'
const r = await validateConfigFiles({ configFile: process.argv[2], sidecarConfig: process.argv[3], env: { } })
for (const d of r.diagnostics) console.log(formatDiagnostic(d, process.cwd()))
if (r.config) console.dir(r.config, { depth: 6 })
