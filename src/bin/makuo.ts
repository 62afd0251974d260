#!/usr/bin/env node
// `makuo`'s entry, a bundle of its own (dist/makuo.js) that sets what must be set before the CLI's bundle
// (dist/makuo-cli.js) loads. Reading and compiling that 2 MB bundle is itself a burst of allocation, which grew V8's
// young generation to twice its initial size before any of the bundle's code ran, and a daemon kept it (3 MiB).
import { holdYoungGeneration } from "../daemon/settle.js"

if (process.argv[2] === "daemon") holdYoungGeneration()
await import("./makuo-cli.js")
