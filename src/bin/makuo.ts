#!/usr/bin/env node
import { setFlagsFromString } from "node:v8"

// The daemon's young generation stays at V8's initial semi-spaces instead of growing to 16 MiB: what it allocates
// (datagrams, batches) dies within a scavenge, and the growth costs ~14 MiB of resident memory for as long as it
// runs. The growth factor is read at each growth, so setting it now is sound (the maximum is not: the heap fixes it
// at start-up); startup is what would grow it, so it is set before the CLI is loaded.
if (process.argv[2] === "daemon") setFlagsFromString("--semi-space-growth-factor=1")

// Loaded with import() so that the bundle wraps every module in a function compiled when it first runs: V8 then
// never compiles the whole 2.5 MB as one top-level function, whose ~24 MiB of parser memory the C heap keeps
// resident after it is freed (8 MiB this way).
const { run } = await import("../cli/main.js")
run()
