/**
 * A real network on one machine: K network namespaces ("hosts") joined by veth pairs to a Linux bridge in a
 * namespace of its own, addresses in 10.77.0.0/24 (which exists only inside the lab), MTU 1500, multicast
 * flooded to every port (snooping off, so no querier is needed). Each host runs a real `makuo daemon` with the
 * production defaults: port 5000, group 224.0.0.108, bound to 0.0.0.0, the kernel's multicast route.
 *
 * Impairments change while a test runs: random loss (an nftables `numgen random` drop rule on the host's
 * input), a cut-off (everything dropped both ways) and heal, and a rate limit (`tc tbf` on both ends of the
 * host's link). This kernel has no `netem`, so delay, duplication and reordering stay with the in-memory network.
 *
 * Every command runs inside a lab namespace (`ip -n`, `ip netns exec`): nothing in the root namespace is
 * created or changed. The lab is a scoped resource: its daemons are killed by PID (asked with SIGTERM first when
 * they are profiled) and its namespaces deleted when the scope closes, whatever happened. Names carry the creating
 * process's PID, so namespaces left by a crashed run (whose PID is gone) are recognised and removed at the next start. Needs root, `ip`, `tc`, `nft`.
 */
import { Data, Duration, Effect, type Scope } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { BIN } from "./loopbackCluster.js"
import { cpuProfileFlags, exitOf, PROFILE_GRACE_MS, hasCommand, type RunResult, runCommand, stopChild, stopGently } from "./processes.js"

export class LabError extends Data.TaggedError("LabError")<{ readonly command: string; readonly detail: string }> {
  override get message() {
    return `lab: '${this.command}' failed: ${this.detail}`
  }
}

export const LAB_PREFIX = "makuolab-"
export const SUBNET = "10.77.0"

export interface LabHost {
  readonly name: string
  readonly ns: string
  readonly address: string
  /** The host's port on the bridge (in the bridge's namespace). */
  readonly port: string
  readonly base: string
  readonly control: string
}

export interface Background {
  readonly output: () => string
  /** Resolves with the exit code when the command ends. */
  readonly exited: Effect.Effect<number | null>
}

export interface Lab {
  readonly hosts: ReadonlyArray<LabHost>
  readonly bridge: string
  /** Runs a command inside the host's namespace. */
  readonly exec: (host: LabHost, argv: ReadonlyArray<string>, timeoutMs?: number) => Effect.Effect<RunResult>
  /** Starts a command inside the host's namespace that runs until it exits or the lab goes (killed by PID). */
  readonly background: (host: LabHost, argv: ReadonlyArray<string>) => Effect.Effect<Background, never, Scope.Scope>
  /** The makuo CLI against the host's daemon (through its control socket). */
  readonly makuo: (host: LabHost, args: ReadonlyArray<string>, timeoutMs?: number) => Effect.Effect<RunResult>
  readonly startDaemon: (host: LabHost, extra?: ReadonlyArray<string>) => Effect.Effect<void>
  /** Stops the host's daemon with `signal` and waits for it to exit. */
  readonly stopDaemon: (host: LabHost, signal: NodeJS.Signals) => Effect.Effect<void>
  readonly daemonLog: (host: LabHost) => string
  /** The PID of the host's daemon (for CPU and memory figures), if it runs. */
  readonly daemonPid: (host: LabHost) => number | undefined
  /** Percent of packets dropped on the host's input: 0 none, 100 cuts the host off (both ways). */
  readonly setLoss: (host: LabHost, percent: number) => Effect.Effect<void, LabError>
  /** Caps the host's link both ways (tbf), or lifts the cap. */
  readonly setRate: (host: LabHost, mbit: number | undefined) => Effect.Effect<void, LabError>
  /** Until every host's daemon lists every other host. */
  readonly converged: (within: Duration.DurationInput) => Effect.Effect<boolean>
}

const sh = (command: string, args: ReadonlyArray<string>) =>
  Effect.async<string, LabError>((resume) => {
    execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) =>
      resume(error === null
        ? Effect.succeed(stdout)
        : Effect.fail(new LabError({ command: [command, ...args].join(" "), detail: stderr.trim() || error.message }))))
  })

const ip = (...args: ReadonlyArray<string>) => sh("ip", args)
const inNs = (ns: string, command: string, ...args: ReadonlyArray<string>) => sh("ip", ["netns", "exec", ns, command, ...args])

/** Why the lab cannot run here, or undefined when it can. Synchronous, so a test file can decide to skip. */
export const labUnavailable = (): string | undefined => {
  if (process.platform !== "linux") return "the lab needs Linux network namespaces"
  if (process.getuid?.() !== 0) return "the lab needs root (network namespaces, nftables, tc)"
  const missing = ["ip", "tc", "nft"].find((tool) => !hasCommand(tool))
  return missing === undefined ? undefined : `the lab needs '${missing}' (Debian packages iproute2 and nftables)`
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Kills what still runs in a lab namespace (only lab processes can be there) and deletes it. */
export const removeNamespace = (ns: string) =>
  Effect.gen(function*() {
    const pids = (yield* Effect.orElseSucceed(ip("netns", "pids", ns), () => "")).split("\n").filter((p) => p !== "").map(Number)
    for (const pid of pids) yield* Effect.try(() => process.kill(pid, "SIGKILL")).pipe(Effect.ignore)
    yield* Effect.ignore(ip("netns", "del", ns))
  })

export const labNamespaces = Effect.map(
  Effect.orElseSucceed(ip("netns", "list"), () => ""),
  (out) => out.split("\n").map((l) => l.split(" ")[0]!).filter((n) => n.startsWith(LAB_PREFIX))
)

/** Namespaces of a lab whose creating process is gone. */
const removeStale = Effect.gen(function*() {
  for (const ns of yield* labNamespaces) {
    const owner = /^makuolab-(\d+)-/.exec(ns)
    if (owner !== null && !alive(Number(owner[1]))) yield* removeNamespace(ns)
  }
})

/** Percent of packets (UDP and TCP alike) the host drops on input; 100 cuts it off both ways; 0 heals it. */
export const setLoss = (host: LabHost, percent: number) =>
  Effect.gen(function*() {
    for (const hook of ["input", "output"]) yield* inNs(host.ns, "nft", "flush", "chain", "inet", "lab", hook)
    if (percent >= 100) {
      for (const hook of ["input", "output"]) yield* inNs(host.ns, "nft", "add", "rule", "inet", "lab", hook, "drop")
    } else if (percent > 0) {
      yield* inNs(host.ns, "nft", "add", "rule", "inet", "lab", "input", "numgen", "random", "mod", "100", "<", String(Math.round(percent)), "drop")
    }
  })

/** A tbf rate cap on both ends of the host's link (or none). */
export const setRate = (host: LabHost, bridge: string, mbit: number | undefined) =>
  Effect.forEach([[host.ns, "eth0"], [bridge, host.port]] as const, ([ns, dev]) =>
    mbit === undefined
      ? Effect.ignore(sh("tc", ["-n", ns, "qdisc", "del", "dev", dev, "root"]))
      : Effect.asVoid(sh("tc", ["-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", `${mbit}mbit`, "burst", "64kb", "latency", "100ms"])),
    { discard: true })

const namespace = (ns: string) =>
  Effect.acquireRelease(
    Effect.zipRight(ip("netns", "add", ns), ip("-n", ns, "link", "set", "lo", "up")),
    () => removeNamespace(ns)
  )

export interface LabOptions {
  /** Prefix after `makuolab-`: the owning PID by default, so a crashed run's namespaces are recognised. */
  readonly tag?: string
  /** Extra flags for every daemon (e.g. a shorter --member-timeout). */
  readonly daemonFlags?: ReadonlyArray<string>
  /**
   * Every daemon runs under `node --cpu-prof`, its profile written to `<profileDir>/<host>` when it exits: the lab
   * then stops its daemons with SIGTERM (SIGKILL after `PROFILE_GRACE_MS`) instead of SIGKILL, which would leave none.
   */
  readonly profileDir?: string
  /**
   * Where the hosts' directories are made; the caller removes them (by default a directory of the lab's own,
   * removed when the lab ends). The bench removes its labs' files only at its end: thousands of files removed just
   * before the next row set makes its files would slow that row's creates on ext4 without a journal, which passes
   * over every inode freed within the last minute when it picks one for a new file.
   */
  readonly filesIn?: string
}

export const make = (k: number, options: LabOptions = {}): Effect.Effect<Lab, LabError, Scope.Scope> =>
  Effect.gen(function*() {
    if (k < 1 || k > 200) return yield* Effect.fail(new LabError({ command: `lab ${k}`, detail: "1 to 200 hosts" }))
    yield* removeStale
    const prefix = `${LAB_PREFIX}${options.tag ?? process.pid}-`
    const dir = options.filesIn !== undefined
      ? mkdtempSync(join(options.filesIn, "makuolab-"))
      : yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "makuolab-"))),
        (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
      )
    const bridge = `${prefix}br`
    yield* namespace(bridge)
    yield* ip("-n", bridge, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
    yield* ip("-n", bridge, "link", "set", "br0", "up")

    const hosts: Array<LabHost> = []
    for (let i = 1; i <= k; i++) {
      const name = `h${i}`
      const ns = `${prefix}${name}`
      const port = `p${i}`
      const address = `${SUBNET}.${10 + i}`
      yield* namespace(ns)
      // created inside the host, its peer straight inside the bridge's namespace: the root namespace never sees either
      yield* ip("-n", ns, "link", "add", "eth0", "mtu", "1500", "type", "veth", "peer", "name", port, "netns", bridge)
      yield* ip("-n", ns, "addr", "add", `${address}/24`, "dev", "eth0")
      yield* ip("-n", ns, "link", "set", "eth0", "up")
      // the route a production host's default route would give the group
      yield* ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
      yield* ip("-n", bridge, "link", "set", port, "master", "br0")
      yield* ip("-n", bridge, "link", "set", port, "up")
      yield* inNs(ns, "nft", "add", "table", "inet", "lab")
      for (const hook of ["input", "output"]) {
        yield* inNs(ns, "nft", "add", "chain", "inet", "lab", hook, `{ type filter hook ${hook} priority 0 ; }`)
      }
      const home = join(dir, name)
      mkdirSync(join(home, "base"), { recursive: true })
      hosts.push({ name, ns, address, port, base: join(home, "base"), control: join(home, "control.sock") })
    }

    const daemons = new Map<string, { readonly child: ChildProcess; log: string }>()
    /** Forgets the host's daemon and stops it with `stop`. */
    const release = (host: LabHost, stop: (child: ChildProcess) => Effect.Effect<void>) =>
      Effect.suspend(() => {
        const d = daemons.get(host.name)
        daemons.delete(host.name)
        return d === undefined ? Effect.void : stop(d.child)
      })
    const stopDaemon = (host: LabHost, signal: NodeJS.Signals) => release(host, (child) => stopChild(child, signal))
    const profileDir = options.profileDir
    const stopAtEnd = profileDir === undefined ? (child: ChildProcess) => stopChild(child, "SIGKILL") : (child: ChildProcess) => stopGently(child, PROFILE_GRACE_MS)
    yield* Effect.addFinalizer(() => Effect.forEach(hosts, (h) => release(h, stopAtEnd), { discard: true, concurrency: "unbounded" }))

    const startDaemon = (host: LabHost, extra: ReadonlyArray<string> = []) =>
      Effect.sync(() => {
        if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run 'npm run build' first`)
        // `ip netns exec` execs the daemon: the PID we hold is the daemon's
        const child = spawn("ip", [
          "netns", "exec", host.ns, process.execPath, ...(profileDir === undefined ? [] : cpuProfileFlags(join(profileDir, host.name))), BIN,
          "daemon", "--base", host.base, "--control", host.control,
          "--name", host.name, ...(options.daemonFlags ?? []), ...extra
        ], { stdio: ["ignore", "ignore", "pipe"] })
        const entry = { child, log: "" }
        child.stderr!.on("data", (d: Buffer) => void (entry.log += d.toString()))
        daemons.set(host.name, entry)
      })

    const makuo = (host: LabHost, args: ReadonlyArray<string>, timeoutMs = 300_000) =>
      runCommand([process.execPath, BIN, ...args, "--control", host.control], timeoutMs)

    const memberCount = (host: LabHost) =>
      Effect.map(makuo(host, ["members", "--json"], 10_000), (r) =>
        r.code === 0 ? (JSON.parse(r.stdout) as { members: ReadonlyArray<unknown> }).members.length : -1)

    const lab: Lab = {
      hosts,
      bridge,
      exec: (host, argv, timeoutMs = 60_000) => runCommand(["ip", "netns", "exec", host.ns, ...argv], timeoutMs),
      background: (host, argv) =>
        Effect.map(
          Effect.acquireRelease(
            Effect.sync(() => spawn("ip", ["netns", "exec", host.ns, ...argv], { stdio: ["ignore", "pipe", "pipe"] })),
            (child) => stopChild(child, "SIGKILL")
          ),
          (child): Background => {
            let output = ""
            child.stdout!.on("data", (d: Buffer) => void (output += d.toString()))
            child.stderr!.on("data", (d: Buffer) => void (output += d.toString()))
            return { output: () => output, exited: exitOf(child) }
          }
        ),
      makuo,
      startDaemon,
      stopDaemon,
      daemonLog: (host) => daemons.get(host.name)?.log ?? "",
      daemonPid: (host) => daemons.get(host.name)?.child.pid,
      setLoss,
      setRate: (host, mbit) => setRate(host, bridge, mbit),
      converged: (within) =>
        Effect.gen(function*() {
          const deadline = Date.now() + Duration.toMillis(within)
          // a host that lists every other one is not asked again: each ask starts a CLI process, slow on a loaded machine
          let waiting = hosts
          for (;;) {
            const counts = yield* Effect.forEach(waiting, memberCount)
            waiting = waiting.filter((_, i) => counts[i] !== hosts.length - 1)
            if (waiting.length === 0) return true
            if (Date.now() > deadline) return false
            yield* Effect.sleep("200 millis")
          }
        })
    }
    return lab
  })

/** A lab with a daemon on every host, all of them members of each other. */
export const withDaemons = (k: number, options: LabOptions = {}) =>
  Effect.gen(function*() {
    const lab = yield* make(k, options)
    yield* Effect.forEach(lab.hosts, (h) => lab.startDaemon(h), { discard: true })
    // nine daemons starting on two loaded cores took over 20 s to list each other
    const within = 20 + 2 * k
    if (!(yield* lab.converged(Duration.seconds(within)))) {
      return yield* Effect.fail(new LabError({ command: "makuo members", detail: `the ${k} daemons did not find each other within ${within} s` }))
    }
    return lab
  })
