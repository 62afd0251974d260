/**
 * Real makuo daemons as child processes of the built CLI, on loopback only: each binds its own 127.0.0.N on a
 * shared port and joins the group on interface 127.0.0.1. Every child is killed by PID when the scope closes,
 * whether the caller succeeded or not. Used by the demo and the end-to-end tests.
 */
import { Duration, Effect, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as dgram from "node:dgram"
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { cpuProfileFlags, PROFILE_GRACE_MS, type RunAs, runCommand, stopChild, stopGently } from "./processes.js"

export type { RunResult } from "./processes.js"

const packageRoot = (from: string): string =>
  existsSync(join(from, "package.json")) || dirname(from) === from ? from : packageRoot(dirname(from))

/** The built CLI, as package.json's `bin` names it (this file runs from `scripts/lib/` and `dist/scripts/lib/`). */
export const BIN = ((root) => join(root, JSON.parse(readFileSync(join(root, "package.json"), "utf8")).bin.makuo))(
  packageRoot(import.meta.dirname)
)

export interface Daemon {
  readonly name: string
  readonly address: string
  readonly base: string
  readonly control: string
  readonly process: ChildProcess
  readonly log: () => string
}

/** Runs the CLI (`bin`, by default the built one) to completion (bounded by `timeoutMs`). */
export const makuo = (args: ReadonlyArray<string>, timeoutMs = 20_000, as: RunAs = {}, bin = BIN) =>
  runCommand([process.execPath, bin, ...args], timeoutMs, as)

/**
 * A copy of the built CLI under `dir` that any user can run, for tests that run it as another user: the checkout
 * may lie in a private directory (root's home, mode 0700). The bundle (the entry and the daemon or the CLI it loads) is
 * self-contained but for node's own modules; it finds the native addon beside its package.json, so both come along.
 * Returns the copy's path, to pass as `bin`.
 */
export const portableBin = (dir: string): string => {
  const root = packageRoot(import.meta.dirname)
  const copy = join(dir, "makuo-cli")
  const files = [...["makuo.js", "makuo-daemon.js", "makuo-cli.js"].map((f) => join("dist", f)), "package.json", join("build", "Release", "makuo_udp.node")]
  for (const file of files.filter((f) => existsSync(join(root, f)))) {
    mkdirSync(dirname(join(copy, file)), { recursive: true, mode: 0o755 })
    copyFileSync(join(root, file), join(copy, file))
    chmodSync(join(copy, file), 0o644)
  }
  return join(copy, "dist", "makuo.js")
}

export const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "makuo-test-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const bindable = (address: string, port: number) =>
  Effect.async<boolean>((resume) => {
    const s = dgram.createSocket("udp4")
    s.once("error", () => (s.close(), resume(Effect.succeed(false))))
    s.bind(port, address, () => s.close(() => resume(Effect.succeed(true))))
  })

/** A port free on every given loopback address (and on the group), picked at random per run. */
export const freePort = (addresses: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = 20_000 + Math.floor(Math.random() * 40_000)
      const ok = yield* Effect.forEach([...addresses, "224.0.0.108"], (a) => bindable(a, port))
      if (ok.every(Boolean)) return port
    }
    return yield* Effect.die(new Error("no free UDP port found on loopback"))
  })

/**
 * Starts daemon `index` on 127.0.0.`index+1`; `openFiles` runs it under that RLIMIT_NOFILE (through `prlimit`,
 * which execs it: the PID is the daemon's); `node` are flags for node itself, before the CLI; `profileDir` runs it
 * under `node --cpu-prof` into `<profileDir>/h<index>` and stops it with SIGTERM (SIGKILL after
 * `PROFILE_GRACE_MS`), so that it writes the profile, where others are killed.
 */
export const startDaemon = (
  dir: string,
  index: number,
  port: number,
  extra: ReadonlyArray<string> = [],
  options: { readonly bin?: string; readonly openFiles?: number; readonly node?: ReadonlyArray<string>; readonly profileDir?: string } = {}
): Effect.Effect<Daemon, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const bin = options.bin ?? BIN
      if (!existsSync(bin)) throw new Error(`${bin} is missing: run 'npm run build' first`)
      const name = `h${index}`
      const address = `127.0.0.${index + 1}`
      const base = join(dir, name, "base")
      mkdirSync(base, { recursive: true })
      const control = join(dir, name, "sock")
      const argv = [
        process.execPath, ...(options.node ?? []), ...(options.profileDir === undefined ? [] : cpuProfileFlags(join(options.profileDir, name))), bin, "daemon", "--base", base, "--bind", address, "--port", String(port), "--interface", "127.0.0.1",
        "--control", control, "--name", name, ...extra
      ]
      const [command, ...args] = options.openFiles === undefined ? argv : ["prlimit", `--nofile=${options.openFiles}:${options.openFiles}`, ...argv]
      const child = spawn(command!, args, { stdio: ["ignore", "ignore", "pipe"] })
      let log = ""
      child.stderr!.on("data", (d: Buffer) => void (log += d.toString()))
      return { name, address, base, control, process: child, log: () => log }
    }),
    (d) => (options.profileDir === undefined ? stopChild(d.process, "SIGKILL") : stopGently(d.process, PROFILE_GRACE_MS))
  )

/** Polls `check` every 100 ms until it holds or `within` has passed; returns whether it held. */
export const eventually = (check: Effect.Effect<boolean>, within: Duration.DurationInput) =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(within)
    while (Date.now() < deadline) {
      if (yield* check) return true
      yield* Effect.sleep("100 millis")
    }
    return yield* check
  })

export const memberNames = (d: Daemon) =>
  Effect.map(makuo(["members", "--json", "--control", d.control]), (r) =>
    r.code === 0 ? (JSON.parse(r.stdout) as { members: Array<{ host: string }> }).members.map((m) => m.host).sort() : [])

export const stopped = (d: Daemon, signal: NodeJS.Signals) =>
  Effect.async<number | null>((resume) => {
    d.process.once("exit", (code) => resume(Effect.succeed(code)))
    d.process.kill(signal)
  })
