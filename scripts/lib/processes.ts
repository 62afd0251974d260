/** Child processes and ports for the demo, the tests, the lab and the benchmark: started, awaited, stopped. */
import { Effect } from "effect"
import { type ChildProcess, execFile, execFileSync } from "node:child_process"
import * as net from "node:net"

export interface RunResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Who runs a command: another uid/gid (tests of a root daemon's local security), more environment variables. */
export interface RunAs {
  readonly uid?: number
  readonly gid?: number
  readonly env?: Readonly<Record<string, string>>
  readonly cwd?: string
}

/** Runs `argv` to completion (killed after `timeoutMs`); its exit code and output. */
export const runCommand = (argv: ReadonlyArray<string>, timeoutMs: number, as: RunAs = {}) =>
  Effect.async<RunResult>((resume) => {
    const options = { timeout: timeoutMs, maxBuffer: 64 << 20, ...(as.uid === undefined ? {} : { uid: as.uid }), ...(as.gid === undefined ? {} : { gid: as.gid }), ...(as.env === undefined ? {} : { env: { ...process.env, ...as.env } }), ...(as.cwd === undefined ? {} : { cwd: as.cwd }) }
    execFile(argv[0]!, argv.slice(1), options, (error, stdout, stderr) =>
      resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })))
  })

/** The child's exit code (null when a signal ended it), also when it has already exited before this runs. */
export const exitOf = (child: ChildProcess) =>
  Effect.async<number | null>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed(child.exitCode))
    child.once("exit", (code) => resume(Effect.succeed(code)))
  })

/** Sends `signal` to a child we started (unless it has ended) and waits until it has exited. */
export const stopChild = (child: ChildProcess, signal: NodeJS.Signals) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
    child.kill(signal)
  })

/** How long a profiled daemon gets to exit and write its profile before it is killed. */
export const PROFILE_GRACE_MS = 20_000

/** node's flags that make the process write a CPU profile into `dir` when it exits (a SIGKILL leaves none). */
export const cpuProfileFlags = (dir: string): ReadonlyArray<string> => ["--cpu-prof", "--cpu-prof-dir", dir]

/**
 * Stops a child we started with SIGTERM, so that it can finish what it does at exit (write its profile), and
 * waits for it; SIGKILL if it has not exited within `graceMs`.
 */
export const stopGently = (child: ChildProcess, graceMs: number) =>
  stopChild(child, "SIGTERM").pipe(Effect.timeout(graceMs), Effect.orElse(() => stopChild(child, "SIGKILL")))

/** Whether `tool` is on the PATH. */
export const hasCommand = (tool: string): boolean => {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/** A TCP port on 127.0.0.1 that nobody listens on right now. */
export const freeTcpPort = Effect.async<number>((resume) => {
  const probe = net.createServer().listen(0, "127.0.0.1", () => {
    const { port } = probe.address() as net.AddressInfo
    probe.close(() => resume(Effect.succeed(port)))
  })
})
