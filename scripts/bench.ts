/**
 * `npm run bench`: figures, not a test. As root it builds the namespace lab (one sender host and K receiver
 * hosts on a bridge, production defaults) for K = 1, 2, 4, 8 and random loss 0 % and 1 % on every receiver, in
 * two scenarios: link-bound (every port shaped to 100 Mbit/s with tbf, the operator's reality) and CPU-bound
 * (no shaping). Beside makuo, on the same hosts and data: the raw ceilings (node:dgram, one call per datagram,
 * and makuo's native batched path), rsync to every receiver
 * one after another and all at once, and UFTP at a fixed rate; each makuo row prints its ratio to them. Without root it runs makuo alone
 * on loopback (no loss: loopback cannot drop) and says so. Per row: seconds, goodput or files/s, datagrams sent
 * per second, blocks (v7) or bytes (native) sent again, ACK/NAK datagrams per MiB, CPU seconds of the sender and of the busiest
 * receiver (also per GiB for big files, per file for the many-file workloads), peak RSS, and beside the seconds of
 * the job (the daemon's summary) those of the whole `makuo send` as an operator waits for it ("cli s": the CLI's own
 * start is ~0.4 s; rsync's and UFTP's seconds, which the ratios divide by the job's, are end to end). Workloads: one big file
 * (50 MiB link-bound, 200 MiB CPU-bound), 2000 files of 1-4 KiB, a tree of 20 000 files every receiver already
 * has (copied there with `cp -a`: all skipped), and one 1 GiB file at K = 1 for memory; for a fresh tree (its
 * directories made empty on the receivers first) the switch spread: from the first to the last file put in place
 * on any receiver (ctimes), how long a mix was served, and the filesystem's own CPU per new file beside a receiver
 * right after the send (`scripts/lib/fsFloor.ts`: on the lab's disk it varies several-fold). Per row set, the
 * resident set of the sender's daemon and of the largest receiver's: idle 10 s after start, at peak and idle after
 * the transfers, against the targets (<= 60 MiB idle, <= 100 MiB with a transfer). Results also go to bench/results/<date>.json. `--quick`: K = 1, 2, small sizes.
 * `--key` runs each row set in protocol v7 and in native mode (sealed, a send as one tree transaction), labelled
 * so, beside the v7 rows of the same run: on the lab and on loopback alike.
 * To measure one change, narrow the run: `--k 1,4` (receiver counts), `--scenario cpu|link`, `--loss 0`,
 * `--workload big,small,unchanged,huge`; `--parallel N` is passed on to `makuo send`.
 * `--profile DIR`: every daemon runs under `node --cpu-prof` and is stopped with SIGTERM, so each row set leaves one
 * profile per host in DIR/<scenario>-k<K>-loss<L>-<mode>/<host> (h1 the sender); `scripts/profileTop.ts` sums one.
 * Profiling slows the daemons: its rows are for finding where the CPU goes, not for comparing with other runs; the
 * bench prints the busiest functions of the sender and of the first receiver.
 * At the end, the open issues' targets the rows measure, each met or missed by how much (`scripts/lib/targets.ts`).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, type Scope } from "effect"
import * as fs from "node:fs"
import { cpus } from "node:os"
import { dirname, join } from "node:path"
import * as Lab from "./lib/lab.js"
import { benchUsage, parseBenchArgs } from "./lib/benchArgs.js"
import { freePort, makuo, type RunResult, startDaemon, tempDir } from "./lib/loopbackCluster.js"
import { formatKeyLine } from "../src/secure/keyFile.js"
import { generateKey } from "../src/secure/keys.js"
import { loadNative } from "../src/net/native.js"
import { type Ceiling, dgramCeiling, type Rsync, rsyncPeers, uftpPeers } from "./lib/peers.js"
import { hasCommand, runCommand } from "./lib/processes.js"
import { creationFloor } from "./lib/fsFloor.js"
import { describeTree, differences, makeSampleTree } from "./lib/trees.js"
import * as Targets from "./lib/targets.js"
import { profilesUnder, topOfFile } from "./lib/cpuProfile.js"

const parsed = parseBenchArgs(process.argv.slice(2), process.cwd())
if (parsed._tag === "Help") {
  console.log(benchUsage)
  process.exit(0)
}
if (parsed._tag === "Invalid") {
  console.error(`bench: ${parsed.message}\n${benchUsage}`)
  process.exit(2)
}
const { quick, lists, profile } = parsed
const smallFiles = quick ? 300 : 2000
const unchangedFiles = quick ? 2000 : 20_000
const receiverCounts = lists.k?.map(Number) ?? (quick ? [1, 2] : [1, 2, 4, 8])
const lossPercents = lists.loss?.map(Number) ?? [0, 1]
const workloadNames = new Set(lists.workload ?? ["big", "small", "unchanged", "huge"])
const scenarioNames = lists.scenario
/** `--parallel N`: passed on to every `makuo send` (the default is the CLI's). */
const sendFlags = lists.parallel?.flatMap((n) => ["--parallel", n]) ?? []

interface Scenario {
  /** What `--scenario` calls it. */
  readonly key: Targets.ScenarioKey
  readonly name: string
  /** tbf rate on every lab port, Mbit/s; undefined = unshaped. */
  readonly linkMbit: number | undefined
  readonly bigMiB: number
  /** UFTP's fixed rate (it needs one): 95 % of the link, or 400 Mbit/s unshaped. */
  readonly uftpKbps: number
}

const scenarios: ReadonlyArray<Scenario> = ([
  { key: "link", name: "link-bound (every port 100 Mbit/s)", linkMbit: 100, bigMiB: quick ? 10 : 50, uftpKbps: 95_000 },
  { key: "cpu", name: "CPU-bound (no shaping)", linkMbit: undefined, bigMiB: quick ? 20 : 200, uftpKbps: 400_000 }
] satisfies ReadonlyArray<Scenario>).filter((s) => scenarioNames === undefined || scenarioNames.includes(s.key))

interface Ceilings {
  readonly dgram: Ceiling
  /** Undefined where the addon is not built. */
  readonly native: Ceiling | undefined
}

interface Node {
  readonly name: string
  readonly base: string
  readonly pid: () => number | undefined
}

/** What makuo is compared with, where the lab can run it. */
interface Peers {
  readonly ceilings: Effect.Effect<Ceilings>
  /** Undefined when rsync is not installed. */
  readonly rsync: Rsync | undefined
  /** Seconds UFTP takes to send the directory to every receiver (fresh); undefined when uftp is not installed. */
  readonly uftp: ((dir: string) => Effect.Effect<number, string>) | undefined
}

const haveRsync = hasCommand("rsync")
const haveUftp = hasCommand("uftp") && hasCommand("uftpd")

/** One sender and K receivers, on the lab or on loopback. */
interface Cluster {
  readonly where: string
  readonly sender: Node
  readonly receivers: ReadonlyArray<Node>
  readonly makuo: (args: ReadonlyArray<string>) => Effect.Effect<RunResult>
  /** Sets random loss on every receiver; undefined where the cluster cannot drop. */
  readonly setLoss: ((percent: number) => Effect.Effect<void, Lab.LabError>) | undefined
  readonly peers: Peers | undefined
}

/** The daemons' flags for `mode`: native mode gets a key file of its own, written into `dir`. */
const modeFlags = (mode: Mode, dir: string): ReadonlyArray<string> => {
  if (mode === "v7") return []
  const keyFile = join(dir, "cluster.key")
  fs.writeFileSync(keyFile, formatKeyLine(generateKey()) + "\n", { mode: 0o600 })
  return ["--key-file", keyFile]
}

/** `profileDir`: each daemon is profiled into `<profileDir>/<host>` (`--profile`); the hosts' files go under `filesIn`. */
const labCluster = (k: number, scenario: Scenario, mode: Mode, profileDir: string | undefined, filesIn: string): Effect.Effect<Cluster, Lab.LabError, Scope.Scope> =>
  Effect.gen(function*() {
    const lab = yield* Lab.withDaemons(k + 1, { daemonFlags: modeFlags(mode, yield* tempDir), filesIn, ...(profileDir === undefined ? {} : { profileDir }) })
    const [sender, ...receivers] = lab.hosts as [Lab.LabHost, ...Array<Lab.LabHost>]
    if (scenario.linkMbit !== undefined) yield* Effect.forEach(lab.hosts, (h) => lab.setRate(h, scenario.linkMbit), { discard: true })
    const node = (h: Lab.LabHost): Node => ({ name: h.name, base: h.base, pid: () => lab.daemonPid(h) })
    const ceilingDatagrams = scenario.linkMbit === undefined ? 100_000 : Math.round((scenario.linkMbit * 1_000_000 / 8 / 1066) * 3)
    return {
      where: `namespace lab: 1 + K hosts on a bridge, daemons with production defaults`,
      sender: node(sender),
      receivers: receivers.map(node),
      makuo: (args) => lab.makuo(sender, args, 1_800_000),
      setLoss: (percent) => Effect.forEach(receivers, (h) => lab.setLoss(h, percent), { discard: true }),
      peers: {
        ceilings: Effect.all({
          dgram: dgramCeiling(lab, sender, receivers[0]!, ceilingDatagrams, "dgram"),
          native: typeof loadNative() === "string" ? Effect.succeed(undefined) : dgramCeiling(lab, sender, receivers[0]!, ceilingDatagrams, "native")
        }),
        rsync: haveRsync ? yield* rsyncPeers(lab, sender, receivers) : undefined,
        uftp: haveUftp ? yield* uftpPeers(lab, sender, receivers, scenario.uftpKbps) : undefined
      }
    }
  })

/** `--key`: every row set runs twice, protocol v7 and native mode (a key file shared by the daemons). */
const modes: ReadonlyArray<Mode> = parsed.key ? ["v7", "native"] : ["v7"]
type Mode = "v7" | "native"

const loopbackCluster = (k: number, mode: Mode, profileDir: string | undefined): Effect.Effect<Cluster, never, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const addresses = Array.from({ length: k + 1 }, (_, i) => `127.0.0.${i + 2}`)
    const port = yield* freePort(addresses)
    const extra = modeFlags(mode, dir)
    const daemons = yield* Effect.forEach(addresses, (_, i) => startDaemon(dir, i + 1, port, extra, profileDir === undefined ? {} : { profileDir }))
    const node = (d: (typeof daemons)[number]): Node => ({ name: d.name, base: d.base, pid: () => d.process.pid })
    const [sender, ...receivers] = daemons
    const cluster: Cluster = {
      where: `loopback: 1 + K daemons on 127.0.0.x, group on interface 127.0.0.1 (no lab: no loss, no peers)`,
      sender: node(sender!),
      receivers: receivers.map(node),
      makuo: (args) => makuo([...args, "--control", sender!.control], 1_800_000),
      setLoss: undefined,
      peers: undefined
    }
    for (let i = 0; i < 100; i++) {
      const r = yield* cluster.makuo(["members", "--json"])
      if (r.code === 0 && (JSON.parse(r.stdout) as { members: ReadonlyArray<unknown> }).members.length === k) return cluster
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.die(new Error("loopback daemons did not find each other"))
  })

/** CPU seconds (user + system) a process has used, its resident set and its peak resident set in MiB, from /proc. */
const usage = (pid: number | undefined) => {
  if (pid === undefined) return { cpu: 0, rssMiB: 0, peakMiB: 0 }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const ticks = Number(fields[11]) + Number(fields[12])
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
    const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0)
    return { cpu: ticks / 100, rssMiB: kib("VmRSS") / 1024, peakMiB: kib("VmHWM") / 1024 }
  } catch {
    return { cpu: 0, rssMiB: 0, peakMiB: 0 }
  }
}

/** The issue's targets for one daemon's resident set. */
const IDLE_TARGET_MIB = 60
const TRANSFER_TARGET_MIB = 100

/** Resident sets of a row set's daemons, each end apart (the receivers' largest): settled after start, after its transfers, peak. */
interface Memory {
  readonly scenario: string
  readonly receivers: number
  readonly mode: Mode
  readonly sender: EndMemory
  readonly receiver: EndMemory
}

interface EndMemory {
  readonly idleAfterStartMiB: number
  readonly idleAfterTransfersMiB: number
  readonly peakMiB: number
}

/** How long a row set's daemons idle before their resident set is read, after start and after the transfers: long enough to settle (`src/daemon/settlePolicy.ts`). */
const SETTLE = "10 seconds"

const largestRss = (nodes: ReadonlyArray<Node>) => Math.max(...nodes.map((n) => usage(n.pid()).rssMiB))
const largestPeak = (nodes: ReadonlyArray<Node>) => Math.max(...nodes.map((n) => usage(n.pid()).peakMiB))

const printMemory = (m: Memory) => {
  const verdict = (x: number, target: number) => `${x.toFixed(0)} MiB (<= ${target}: ${x <= target ? "met" : "missed"})`
  const line = (end: string, e: EndMemory) =>
    Console.log(`    memory${modes.length > 1 ? ` ${m.mode}` : ""}, ${end}: idle ${verdict(e.idleAfterStartMiB, IDLE_TARGET_MIB)}, peak ${verdict(e.peakMiB, TRANSFER_TARGET_MIB)}, ` +
      `idle after the transfers ${e.idleAfterTransfersMiB.toFixed(0)} MiB`)
  return Effect.zipRight(line("sender", m.sender), line(`largest receiver of ${m.receivers}`, m.receiver))
}

interface Row {
  readonly scenario: string
  /** What `--scenario`, `--workload` and `--key` call the row's scenario, workload and protocol (the targets read them). */
  readonly scenarioKey: Targets.ScenarioKey
  readonly workloadKey: Targets.WorkloadKey
  readonly mode: Mode
  readonly receivers: number
  readonly lossPercent: number
  readonly workload: string
  /** The daemon's own time for the job (the send's summary): what the ratios to rsync and UFTP are of. */
  readonly seconds: number
  /**
   * From starting `makuo send` to its exit, what an operator waits for: the job, the CLI's own start (node and its
   * bundle, ~0.4 s here) and the report. rsync's and UFTP's seconds are theirs end to end, their start included.
   */
  readonly cliSeconds: number
  readonly mbPerSecond: number
  readonly filesPerSecond: number
  /** Datagrams the sender put on the wire per second. */
  readonly datagramsPerSecond: number
  readonly retransmittedPercent: number
  /** Datagrams the sender received (ACKs and NAKs of every receiver) per MiB sent; big files only. */
  readonly acksPerMiB: number | undefined
  readonly senderCpuSecondsPerGiB: number | undefined
  /** The busiest receiver's. */
  readonly receiverCpuSecondsPerGiB: number | undefined
  /** CPU microseconds per file (user + system) for the many-file workloads: what the transfer engine costs. */
  readonly senderCpuMicrosPerFile: number | undefined
  readonly receiverCpuMicrosPerFile: number | undefined
  readonly senderCpuSeconds: number
  readonly receiverCpuSeconds: number
  readonly senderPeakMiB: number
  readonly receiverPeakMiB: number
  /** How the sender's datagrams reach the kernel (`makuo status`'s io). */
  readonly io: string
  /** makuo's goodput over the raw node:dgram ceiling, and over the raw batched (native) ceiling (big files). */
  readonly ofCeiling: number | undefined
  readonly ofBatchedCeiling: number | undefined
  /** rsync's seconds over makuo's: one receiver after another, and all at once. */
  readonly rsyncSequentialRatio: number | undefined
  readonly rsyncAllAtOnceRatio: number | undefined
  /** UFTP's seconds over makuo's. */
  readonly uftpRatio: number | undefined
  /**
   * Seconds between the first and the last file put in place on any receiver (their ctimes: a rename sets it), for
   * a fresh tree: how long the cluster served a mix of the old and the new release.
   */
  readonly switchSpreadSeconds: number | undefined
  /**
   * CPU microseconds per new file the filesystem itself took beside the first receiver's base right after the
   * send (`scripts/lib/fsFloor.ts`): what its CPU per file is to be read against. Fresh many-file trees only.
   */
  readonly filesystemFloorMicrosPerFile: number | undefined
}

/** The earliest and the latest ctime (ms) of the regular files under `dir`. */
const ctimeRange = (dir: string): { min: number; max: number } => {
  const range = { min: Infinity, max: -Infinity }
  const visit = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const path = join(d, e.name)
      if (e.isDirectory()) visit(path)
      else if (e.isFile()) {
        const t = fs.lstatSync(path).ctimeMs
        range.min = Math.min(range.min, t)
        range.max = Math.max(range.max, t)
      }
    }
  }
  visit(dir)
  return range
}

/**
 * The directories of the sender's `dir`, made empty on every receiver: each file of a fresh tree is then put in
 * place by a rename of its own, in both modes (in native mode a new directory is put in place whole, in one
 * rename, and the files' ctimes inside it would tell when they were staged, not when they appeared).
 */
const directoriesOnReceivers = (c: Cluster, dir: string) => {
  const visit = (rel: string) => {
    for (const r of c.receivers) fs.mkdirSync(join(r.base, rel), { recursive: true })
    for (const e of fs.readdirSync(join(c.sender.base, rel), { withFileTypes: true })) if (e.isDirectory()) visit(join(rel, e.name))
  }
  visit(dir)
}

/** How long the receivers' files of `dir` took to be put in place, all receivers together, in seconds. */
const switchSpread = (c: Cluster, dir: string): number => {
  const ranges = c.receivers.map((r) => ctimeRange(join(r.base, dir)))
  return (Math.max(...ranges.map((r) => r.max)) - Math.min(...ranges.map((r) => r.min))) / 1000
}

const counters = (c: Cluster) =>
  Effect.map(c.makuo(["status", "--json"]), (r) => {
    const s = JSON.parse(r.stdout) as { io: string; counters: { retransmittedBlocks: number; resentBytes: number; datagramsOut: number; datagramsIn: number } }
    return { ...s.counters, io: s.io }
  })

interface Workload {
  readonly label: string
  /** Also the workload's name in `--workload`. */
  readonly dir: Targets.WorkloadKey
  readonly blocks: number
  readonly big: boolean
  /** rsync copies from scratch (false: the tree is already there, as for makuo's skips). */
  readonly fresh: boolean
}

const measure = (c: Cluster, scenario: Scenario, mode: Mode, loss: number, w: Workload, ceiling: Ceilings | undefined) =>
  Effect.gen(function*() {
    if (w.fresh) directoriesOnReceivers(c, w.dir)
    const before = { sender: usage(c.sender.pid()), receivers: c.receivers.map((r) => usage(r.pid())), counters: yield* counters(c) }
    const cliStarted = performance.now()
    const r = yield* c.makuo(["send", "--json", "-r", ...sendFlags, w.dir])
    const cliSeconds = (performance.now() - cliStarted) / 1000
    if (r.code !== 0) return yield* Effect.fail(`send -r ${w.dir} exited ${r.code}: ${r.stderr}${r.stdout.slice(-500)}`)
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as { files: number; bytes: number; milliseconds: number }
    const after = { sender: usage(c.sender.pid()), receivers: c.receivers.map((x) => usage(x.pid())), counters: yield* counters(c) }
    // before rsync and uftp write the same files again
    const switchSpreadSeconds = w.fresh ? switchSpread(c, w.dir) : undefined
    // before rsync and uftp replace the files, at the moment the members worked in
    const filesystemFloorMicrosPerFile = w.fresh && !w.big && c.receivers[0] !== undefined
      ? creationFloor(join(fs.mkdtempSync(join(dirname(c.receivers[0].base), "fs-floor-")), w.dir), summary.files)
      : undefined
    const seconds = summary.milliseconds / 1000
    const peers = c.peers
    const rsync = peers?.rsync === undefined ? undefined : {
      sequential: w.fresh ? yield* peers.rsync.sequential(w.dir) : undefined,
      allAtOnce: yield* peers.rsync.allAtOnce(w.dir)
    }
    const uftp = peers?.uftp === undefined || !w.fresh ? undefined : yield* peers.uftp(w.dir)
    const senderCpu = after.sender.cpu - before.sender.cpu
    const receiverCpu = Math.max(...after.receivers.map((a, i) => a.cpu - before.receivers[i]!.cpu))
    const mbPerSecond = summary.bytes / 1_000_000 / seconds
    const gib = summary.bytes / (1 << 30)
    return {
      scenario: scenario.name,
      scenarioKey: scenario.key,
      workloadKey: w.dir,
      mode,
      receivers: c.receivers.length,
      lossPercent: loss,
      workload: w.label,
      seconds,
      cliSeconds,
      mbPerSecond,
      filesPerSecond: summary.files / seconds,
      datagramsPerSecond: (after.counters.datagramsOut - before.counters.datagramsOut) / seconds,
      // v7 counts the blocks it sends again, the native mode the bytes: one of the two is zero in a row
      retransmittedPercent: (w.blocks === 0 ? 0 : (100 * (after.counters.retransmittedBlocks - before.counters.retransmittedBlocks)) / w.blocks) +
        (summary.bytes === 0 ? 0 : (100 * (after.counters.resentBytes - before.counters.resentBytes)) / summary.bytes),
      acksPerMiB: w.big ? (after.counters.datagramsIn - before.counters.datagramsIn) / (gib * 1024) : undefined,
      senderCpuSecondsPerGiB: w.big ? senderCpu / gib : undefined,
      receiverCpuSecondsPerGiB: w.big ? receiverCpu / gib : undefined,
      senderCpuMicrosPerFile: w.big ? undefined : (senderCpu * 1e6) / summary.files,
      receiverCpuMicrosPerFile: w.big ? undefined : (receiverCpu * 1e6) / summary.files,
      senderCpuSeconds: senderCpu,
      receiverCpuSeconds: receiverCpu,
      senderPeakMiB: after.sender.peakMiB,
      receiverPeakMiB: Math.max(...after.receivers.map((a) => a.peakMiB)),
      io: after.counters.io,
      ofCeiling: w.big && ceiling !== undefined ? mbPerSecond / ceiling.dgram.mbPerSecond : undefined,
      ofBatchedCeiling: w.big && ceiling?.native !== undefined ? mbPerSecond / ceiling.native.mbPerSecond : undefined,
      rsyncSequentialRatio: rsync?.sequential === undefined ? undefined : rsync.sequential / seconds,
      rsyncAllAtOnceRatio: rsync === undefined ? undefined : rsync.allAtOnce / seconds,
      uftpRatio: uftp === undefined ? undefined : uftp / seconds,
      switchSpreadSeconds,
      filesystemFloorMicrosPerFile
    } satisfies Row
  })

const f = (x: number, digits = 1) => x.toFixed(digits).padStart(7)
const ratio = (x: number | undefined, suffix: string) => (x === undefined ? "".padStart(8 + suffix.length) : `${f(x, 2)}${suffix} `)

const perGiB = (x: number | undefined) => (x === undefined ? "".padStart(7) : f(x))

const printRow = (r: Row) =>
  Effect.zipRight(Console.log(
    `${String(r.receivers).padStart(2)} ${String(r.lossPercent).padStart(3)}%  ${r.workload.padEnd(22)} ${f(r.seconds, 2)} s ${f(r.cliSeconds, 2).slice(1)} ` +
      `${r.workload.startsWith("one") ? `${f(r.mbPerSecond)} MB/s    ` : `${f(r.filesPerSecond, 0)} files/s `} ` +
      `${f(r.datagramsPerSecond, 0)} ${f(r.retransmittedPercent)} % ${perGiB(r.acksPerMiB)} ` +
      `${f(r.senderCpuSeconds, 2)} ${f(r.receiverCpuSeconds, 2)} ${perGiB(r.senderCpuSecondsPerGiB ?? r.senderCpuMicrosPerFile)} ${perGiB(r.receiverCpuSecondsPerGiB ?? r.receiverCpuMicrosPerFile)} ` +
      `${f(r.senderPeakMiB, 0)} ${f(r.receiverPeakMiB, 0)}  ` +
      `${r.io.padEnd(8)} ${ratio(r.ofCeiling === undefined ? undefined : r.ofCeiling * 100, "%")}` +
      `${ratio(r.ofBatchedCeiling === undefined ? undefined : r.ofBatchedCeiling * 100, "%")}${ratio(r.rsyncSequentialRatio, "x")}` +
      `${ratio(r.rsyncAllAtOnceRatio, "x")}${ratio(r.uftpRatio, "x")}` +
      `${r.switchSpreadSeconds === undefined ? "" : f(r.switchSpreadSeconds, 3)}`
  ), r.filesystemFloorMicrosPerFile === undefined || r.receiverCpuMicrosPerFile === undefined ? Effect.void : Console.log(
    `    the filesystem beside a receiver, right after: ${r.filesystemFloorMicrosPerFile.toFixed(0)} µs of CPU per new file ` +
      `(the busiest receiver's ${r.receiverCpuMicrosPerFile.toFixed(0)} µs: ${(r.receiverCpuMicrosPerFile / r.filesystemFloorMicrosPerFile).toFixed(1)}× it)`
  ))

/** A row as the targets read it (`scripts/lib/targets.ts`): its share of the link is its share of the raw batched ceiling. */
const measured = (r: Row): Targets.Measured => ({
  scenario: r.scenarioKey,
  receivers: r.receivers,
  lossPercent: r.lossPercent,
  workload: r.workloadKey,
  mode: r.mode,
  seconds: r.seconds,
  mbPerSecond: r.mbPerSecond,
  retransmittedPercent: r.retransmittedPercent,
  linkShare: r.ofBatchedCeiling ?? r.ofCeiling,
  senderCpuSecondsPerGiB: r.senderCpuSecondsPerGiB,
  receiverCpuSecondsPerGiB: r.receiverCpuSecondsPerGiB,
  senderCpuMicrosPerFile: r.senderCpuMicrosPerFile,
  receiverCpuMicrosPerFile: r.receiverCpuMicrosPerFile,
  rsyncAllAtOnceRatio: r.rsyncAllAtOnceRatio
})

/** Functions of each profiled end the bench prints (`--profile`). */
const PROFILE_TOP = 8

const verify = (c: Cluster) =>
  Effect.suspend(() => {
    const want = describeTree(c.sender.base)
    for (const r of c.receivers) {
      const diff = differences(want, describeTree(r.base))
      if (diff.length > 0) return Effect.fail(`${r.name} differs from the sender: ${diff.slice(0, 5).join("; ")}`)
    }
    return Effect.void
  })

const bigTree = (c: Cluster, dir: string, mib: number) => {
  makeSampleTree(join(c.sender.base, dir), 0, mib)
  for (const extra of ["empty", "link"]) fs.rmSync(join(c.sender.base, dir, extra))
}

/** A tree every receiver already has (copied with `cp -a`, so nothing differs): the skip path alone. */
const unchangedTree = (c: Cluster, dir: string, files: number) =>
  Effect.gen(function*() {
    makeSampleTree(join(c.sender.base, dir), files, 0)
    for (const r of c.receivers) {
      const copied = yield* runCommand(["cp", "-a", join(c.sender.base, dir), join(r.base, dir)], 120_000)
      if (copied.code !== 0) return yield* Effect.fail(`cp -a to ${r.name}: ${copied.stderr}`)
    }
  })

const bench = Effect.gen(function*() {
  const unavailable = Lab.labUnavailable()
  // every row set's files, removed when the bench ends (`LabOptions.filesIn`: why not after each row set)
  const filesIn = yield* tempDir
  const rows: Array<Row> = []
  let where = ""
  const ceilings: Array<{ scenario: string; receivers: number } & Ceilings> = []
  const memory: Array<Memory> = []
  yield* Console.log(`makuo bench, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), node ${process.version}${quick ? ", --quick" : ""}`)
  if (unavailable !== undefined) yield* Console.log(`no namespace lab (${unavailable}): makuo alone, on loopback`)
  else if (!haveRsync || !haveUftp) {
    yield* Console.log(`without ${[haveRsync ? "" : "rsync", haveUftp ? "" : "uftp"].filter((t) => t !== "").join(" and ")}: those columns stay empty (Debian: apt-get install rsync uftp)`)
  }
  if (workloadNames.has("huge")) {
    // said once, not skipped silently: a 1 GiB file at a link's pace, or once per K, would take minutes a row
    yield* Console.log(quick ? `--quick: no "huge" row (the 1024 MiB file)` : `the "huge" row (one 1024 MiB file) runs only CPU-bound, at K = 1, without loss`)
  }
  for (const scenario of unavailable === undefined ? scenarios : scenarios.filter((s) => s.key === "cpu")) {
    yield* Console.log(`\n== ${unavailable === undefined ? scenario.name : "loopback"}`)
    yield* Console.log(
      ` K loss  workload               seconds  cli s  rate               dgram/s  retx % ACK/MiB snd CPU rcv CPU s/GiB|µs/file snd MiB rcv MiB  io       of dgram  of batched rsync 1by1 rsync all  uftp  spread s`
    )
    for (const k of receiverCounts) {
      for (const [loss, mode] of (unavailable === undefined ? lossPercents : [0]).flatMap((l) => modes.map((m) => [l, m] as const))) {
        const profileDir = profile === undefined ? undefined : join(profile, `${unavailable === undefined ? scenario.key : "loopback"}-k${k}-loss${loss}-${mode}`)
        yield* Effect.scoped(Effect.gen(function*() {
          const c = yield* (unavailable === undefined ? labCluster(k, scenario, mode, profileDir, filesIn) : loopbackCluster(k, mode, profileDir))
          where = c.where
          yield* Effect.sleep(SETTLE)
          const idleAfterStart = { sender: largestRss([c.sender]), receiver: largestRss(c.receivers) }
          const ceiling = c.peers === undefined || loss > 0 ? undefined : yield* c.peers.ceilings
          if (ceiling !== undefined) ceilings.push({ scenario: scenario.name, receivers: k, ...ceiling })
          if (c.setLoss !== undefined) yield* c.setLoss(loss)
          if (workloadNames.has("big")) bigTree(c, "big", scenario.bigMiB)
          if (workloadNames.has("small")) makeSampleTree(join(c.sender.base, "small"), smallFiles, 0)
          if (workloadNames.has("unchanged")) yield* unchangedTree(c, "unchanged", unchangedFiles)
          const workloads: ReadonlyArray<Workload> = ([
            { label: `one ${scenario.bigMiB} MiB file`, dir: "big", blocks: scenario.bigMiB * 1024, big: true, fresh: true },
            { label: `${smallFiles} files of 1-4 KiB`, dir: "small", blocks: smallFiles * 3, big: false, fresh: true },
            { label: `${unchangedFiles} unchanged (skip)`, dir: "unchanged", blocks: 0, big: false, fresh: false }
          ] satisfies ReadonlyArray<Workload>).map((w) => (modes.length > 1 ? { ...w, label: `${w.label} ${mode}` } : w)).filter((w) => workloadNames.has(w.dir))
          for (const w of workloads) {
            const row = yield* measure(c, scenario, mode, loss, w, ceiling)
            yield* printRow(row)
            rows.push(row)
          }
          if (!quick && workloadNames.has("huge") && k === 1 && loss === 0 && scenario.linkMbit === undefined) {
            bigTree(c, "huge", 1024)
            const row = yield* measure(c, scenario, mode, loss, { label: "one 1024 MiB file", dir: "huge", blocks: 1 << 20, big: true, fresh: false }, ceiling)
            yield* printRow(row)
            rows.push(row)
          }
          yield* verify(c)
          // the big files' space back at once: a few inodes, unlike the many-file trees left to the end (`filesIn`)
          for (const n of [c.sender, ...c.receivers]) for (const d of ["big", "huge"]) fs.rmSync(join(n.base, d), { recursive: true, force: true })
          // idle again (the daemons give memory back once quiet for a few seconds: src/daemon/settlePolicy.ts)
          yield* Effect.sleep(SETTLE)
          const m: Memory = {
            scenario: scenario.name,
            receivers: k,
            mode,
            sender: { idleAfterStartMiB: idleAfterStart.sender, idleAfterTransfersMiB: largestRss([c.sender]), peakMiB: largestPeak([c.sender]) },
            receiver: { idleAfterStartMiB: idleAfterStart.receiver, idleAfterTransfersMiB: largestRss(c.receivers), peakMiB: largestPeak(c.receivers) }
          }
          yield* printMemory(m)
          memory.push(m)
          for (const [name, x] of [["node:dgram", ceiling?.dgram], ["batched (native)", ceiling?.native]] as const) {
            if (x === undefined) continue
            yield* Console.log(`    raw ${name} ceiling, 1 sender -> 1 receiver: ${x.mbPerSecond.toFixed(1)} MB/s, ` +
              `${x.datagramsPerSecond.toFixed(0)} datagrams/s, ${(100 * x.delivered).toFixed(1)} % delivered`)
          }
        }))
        // written as the row set's daemons exited, when its scope closed
        if (profileDir !== undefined) {
          yield* Console.log(`    CPU profiles: ${profileDir}/h1 (sender), ${k === 1 ? "h2 (receiver)" : `h2..h${k + 1} (receivers)`}; all functions: node dist/scripts/profileTop.js ${profileDir}`)
          for (const [host, end] of [["h1", "sender"], ["h2", "first receiver"]] as const) {
            for (const file of fs.existsSync(join(profileDir, host)) ? profilesUnder(join(profileDir, host)) : []) {
              yield* Console.log(`    what the profile says, ${end}:${topOfFile(file, PROFILE_TOP).map((l) => `\n      ${l}`).join("")}`)
            }
          }
        }
      }
    }
  }
  yield* Console.log(`\nwhere: ${where}; every receiver verified identical to the sender after each row set`)
  yield* Console.log(`ratios: "of dgram" / "of batched" = makuo goodput / raw node:dgram / raw native goodput; "rsync", "uftp" = their seconds, end to end / makuo's "seconds", the daemon's job without the CLI's start ("cli s": from starting makuo send to its exit) (above 1: makuo is faster); ` +
    `"spread" = seconds from the first to the last file put in place on any receiver (a fresh tree; target for 2000 files: <= 0.1 s)`)
  const verdicts = Targets.judge(rows.map(measured))
  yield* Console.log(verdicts.length === 0
    ? `\nno issue target is measured by these rows`
    : `\nthe issues' targets these rows measure (${verdicts.filter((v) => v.met).length} of ${verdicts.length} met${quick ? "; --quick: smaller workloads than the targets are set for" : ""}):${verdicts.map((v) => `\n  ${Targets.formatVerdict(v)}`).join("")}`)
  const out = join("bench", "results", `${new Date().toISOString().slice(0, 19).replace(/:/g, "-")}.json`)
  fs.mkdirSync(join("bench", "results"), { recursive: true })
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), where, quick, cpus: cpus().length, node: process.version, ceilings, memory, rows, verdicts }, null, 2) + "\n")
  yield* Console.log(`figures written to ${out}`)
})

NodeRuntime.runMain(Effect.scoped(bench))
