// The CLI is loaded with import() so that the bundle wraps every module in a function compiled when it first runs:
// V8 then never compiles the whole bundle (2 MB) as one top-level function, whose ~24 MiB of parser memory the C heap
// keeps resident after it is freed (8 MiB this way): a daemon holds ~10 MiB less for as long as it runs.
// Bundled as dist/makuo-cli.js, which the entry (makuo.ts) loads.
export {}

const { run } = await import("../cli/main.js")
run()
