// Builds dist/ (npm run build) only when a source is newer than the bundle: `npm ci` has just built it, and the
// demo, bench and soak need not wait for tsc again. Plain JavaScript, run before anything is built.
import { execFileSync } from "node:child_process"
import { readdirSync, statSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dirname, "..")
const mtime = (path) => {
  try {
    return statSync(path).mtimeMs
  } catch {
    return -1
  }
}
const newest = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((n, e) => Math.max(n, e.isDirectory() ? newest(join(dir, e.name)) : e.name.endsWith(".ts") ? mtime(join(dir, e.name)) : -1), -1)

const built = mtime(join(root, "dist", "makuo.js"))
const sources = Math.max(...["src", "scripts"].map((d) => newest(join(root, d))), ...["package.json", "tsconfig.json", "tsconfig.build.json"].map((f) => mtime(join(root, f))))
if (built < sources) execFileSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" })
