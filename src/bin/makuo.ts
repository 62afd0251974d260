#!/usr/bin/env node
// `makuo`'s entry, a bundle of its own (dist/makuo.js) that sets what must be set before the bundle that runs the
// command loads: the daemon's (dist/makuo-daemon.js) when daemonArgv.ts reads its command line, else the CLI's
// (dist/makuo-cli.js), which reads, refuses or explains any command line as it always did. Reading and compiling
// such a bundle is itself a burst of allocation, which grew V8's young generation to twice its initial size before
// any of the bundle's code ran, and a daemon kept it (3 MiB). A daemon loads the native addon here too, first thing:
// loading it limits the C heap's arenas (native/makuo_mem.c), which only holds for the threads that allocate after.
import { holdForStartUp } from "../daemon/settle.js"
import { loadNative } from "../net/native.js"

const daemon = process.argv[2] === "daemon"
if (daemon) holdForStartUp(), loadNative()
if (!daemon || !(await import("./makuo-daemon.js")).startDaemon(process.argv.slice(3))) await import("./makuo-cli.js")
