// `npm run build` after tsc: bundles the compiled sources (dist/src) into what the package runs, each self-contained
// but for node's own modules. dist/makuo.js is the entry (src/bin/makuo.ts), which loads dist/makuo-daemon.js for a
// daemon and dist/makuo-cli.js for anything else: a daemon holds none of the CLI's code. Plain JavaScript.
import { build } from "esbuild"
import { join } from "node:path"

const dist = join(import.meta.dirname, "..", "dist")
const common = { bundle: true, platform: "node", format: "esm", target: "node20", minifyWhitespace: true, minifySyntax: true, logLevel: "warning" }

await Promise.all(["makuo-cli", "makuo-daemon"].map((name) =>
  build({
    ...common,
    entryPoints: [join(dist, "src", "bin", `${name}.js`)],
    outfile: join(dist, `${name}.js`),
    sourcemap: true,
    sourcesContent: false,
    // the dependencies' CommonJS modules require node's
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" }
  })))
await build({ ...common, entryPoints: [join(dist, "src", "bin", "makuo.js")], outfile: join(dist, "makuo.js"), external: ["./makuo-cli.js", "./makuo-daemon.js"] })
