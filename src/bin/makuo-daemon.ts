// `makuo daemon` alone, bundled as dist/makuo-daemon.js, which the entry (makuo.ts) loads for a daemon: without the
// CLI's modules (@effect/cli, the client commands) that dist/makuo-cli.js also holds, of which V8 would keep the
// source, ~0.6 MB, for as long as the daemon runs. Loaded with import() for the reason makuo-cli.ts gives.
export const { startDaemon } = await import("../cli/daemonArgv.js")
