/**
 * `npm run bench`: figures, not a test. As root it builds the namespace lab (one sender host and K receiver
 * hosts on a bridge, production defaults) for K = 1, 2, 4, 8 and random loss 0 % and 1 % on every receiver;
 * otherwise it runs on loopback (K receivers on 127.0.0.x, no loss: loopback cannot drop) and says so. Per row:
 * seconds, goodput or files/s, blocks retransmitted, CPU seconds of the sender and of the busiest receiver, peak
 * RSS. Workloads: one big file (200 MiB), 2000 files of 1-4 KiB, the same 2000 again (all skipped). Results
 * also go to bench/results/<date>.json. `--quick`: K = 1, 2, 20 MiB and 300 files.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, type Scope } from "effect"
import * as fs from "node:fs"
import { cpus } from "node:os"
import { join } from "node:path"
import * as Lab from "./lib/lab.js"
import { freePort, makuo, type RunResult, startDaemon, tempDir } from "./lib/loopbackCluster.js"
import { describeTree, differences, makeSampleTree } from "./lib/trees.js"

const quick = process.argv.includes("--quick")
const bigMiB = quick ? 20 : 200
const smallFiles = quick ? 300 : 2000
const receiverCounts = quick ? [1, 2] : [1, 2, 4, 8]

interface Node {
  readonly name: string
  readonly base: string
  readonly pid: () => number | undefined
}

/** One sender and K receivers, on the lab or on loopback. */
interface Cluster {
  readonly where: string
  readonly sender: Node
  readonly receivers: ReadonlyArray<Node>
  readonly makuo: (args: ReadonlyArray<string>) => Effect.Effect<RunResult>
  /** Sets random loss on every receiver; undefined where the cluster cannot drop. */
  readonly setLoss: ((percent: number) => Effect.Effect<void, Lab.LabError>) | undefined
}

const labCluster = (k: number): Effect.Effect<Cluster, Lab.LabError, Scope.Scope> =>
  Effect.map(Lab.withDaemons(k + 1), (lab) => {
    const [sender, ...receivers] = lab.hosts
    const node = (h: Lab.LabHost): Node => ({ name: h.name, base: h.base, pid: () => lab.daemonPid(h) })
    return {
      where: `namespace lab: ${k + 1} hosts on a bridge, daemons with production defaults`,
      sender: node(sender!),
      receivers: receivers.map(node),
      makuo: (args) => lab.makuo(sender!, args, 1_800_000),
      setLoss: (percent) => Effect.forEach(receivers, (h) => lab.setLoss(h, percent), { discard: true })
    }
  })

const loopbackCluster = (k: number): Effect.Effect<Cluster, never, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const addresses = Array.from({ length: k + 1 }, (_, i) => `127.0.0.${i + 2}`)
    const port = yield* freePort(addresses)
    const daemons = yield* Effect.forEach(addresses, (_, i) => startDaemon(dir, i + 1, port))
    const node = (d: (typeof daemons)[number]): Node => ({ name: d.name, base: d.base, pid: () => d.process.pid })
    const [sender, ...receivers] = daemons
    const cluster: Cluster = {
      where: `loopback: ${k + 1} daemons on 127.0.0.2-${k + 2}, group on interface 127.0.0.1 (not root: no lab, no loss)`,
      sender: node(sender!),
      receivers: receivers.map(node),
      makuo: (args) => makuo([...args, "--control", sender!.control], 1_800_000),
      setLoss: undefined
    }
    for (let i = 0; i < 100; i++) {
      const r = yield* cluster.makuo(["members", "--json"])
      if (r.code === 0 && (JSON.parse(r.stdout) as { members: ReadonlyArray<unknown> }).members.length === k) return cluster
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.die(new Error("loopback daemons did not find each other"))
  })

/** CPU seconds (user + system) a process has used, and its peak resident set in MiB, from /proc. */
const usage = (pid: number | undefined) => {
  if (pid === undefined) return { cpu: 0, peakMiB: 0 }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const ticks = Number(fields[11]) + Number(fields[12])
    const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return { cpu: ticks / 100, peakMiB: hwm === null ? 0 : Number(hwm[1]) / 1024 }
  } catch {
    return { cpu: 0, peakMiB: 0 }
  }
}

interface Row {
  readonly receivers: number
  readonly lossPercent: number
  readonly workload: string
  readonly seconds: number
  readonly mbPerSecond: number
  readonly filesPerSecond: number
  readonly retransmittedPercent: number
  readonly senderCpuSeconds: number
  readonly receiverCpuSeconds: number
  readonly senderPeakMiB: number
  readonly receiverPeakMiB: number
}

const retransmitted = (c: Cluster) =>
  Effect.map(c.makuo(["status", "--json"]), (r) => (JSON.parse(r.stdout) as { counters: { retransmittedBlocks: number } }).counters.retransmittedBlocks)

const measure = (c: Cluster, loss: number, workload: string, args: ReadonlyArray<string>, blocks: number) =>
  Effect.gen(function*() {
    const before = { sender: usage(c.sender.pid()), receivers: c.receivers.map((r) => usage(r.pid())) }
    const repairedBefore = yield* retransmitted(c)
    const r = yield* c.makuo(["send", "--json", ...args])
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as { files: number; bytes: number; milliseconds: number; failed: number; lost: number }
    if (r.code !== 0) return yield* Effect.fail(`send ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout.slice(-500)}`)
    const repaired = (yield* retransmitted(c)) - repairedBefore
    const after = { sender: usage(c.sender.pid()), receivers: c.receivers.map((x) => usage(x.pid())) }
    const seconds = summary.milliseconds / 1000
    return {
      receivers: c.receivers.length,
      lossPercent: loss,
      workload,
      seconds,
      mbPerSecond: summary.bytes / 1_000_000 / seconds,
      filesPerSecond: summary.files / seconds,
      retransmittedPercent: blocks === 0 ? 0 : (100 * repaired) / blocks,
      senderCpuSeconds: after.sender.cpu - before.sender.cpu,
      receiverCpuSeconds: Math.max(...after.receivers.map((a, i) => a.cpu - before.receivers[i]!.cpu)),
      senderPeakMiB: after.sender.peakMiB,
      receiverPeakMiB: Math.max(...after.receivers.map((a) => a.peakMiB))
    } satisfies Row
  })

const f = (x: number, digits = 1) => x.toFixed(digits).padStart(7)

const printRow = (r: Row) =>
  Console.log(
    `${String(r.receivers).padStart(2)}  ${String(r.lossPercent).padStart(3)}%  ${r.workload.padEnd(22)} ${f(r.seconds, 2)} s ` +
      `${r.workload.startsWith("one") ? `${f(r.mbPerSecond)} MB/s    ` : `${f(r.filesPerSecond, 0)} files/s `} ` +
      `${f(r.retransmittedPercent)} % ${f(r.senderCpuSeconds, 2)} ${f(r.receiverCpuSeconds, 2)} ${f(r.senderPeakMiB, 0)} ${f(r.receiverPeakMiB, 0)}`
  )

const verify = (c: Cluster) =>
  Effect.suspend(() => {
    const want = describeTree(c.sender.base)
    for (const r of c.receivers) {
      const diff = differences(want, describeTree(r.base))
      if (diff.length > 0) return Effect.fail(`${r.name} differs from the sender: ${diff.slice(0, 5).join("; ")}`)
    }
    return Effect.void
  })

const bench = Effect.gen(function*() {
  const useLab = Lab.labUnavailable() === undefined
  const rows: Array<Row> = []
  let where = ""
  yield* Console.log(`makuo bench, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), node ${process.version}${quick ? ", --quick" : ""}`)
  if (!useLab) yield* Console.log(`no namespace lab here (${Lab.labUnavailable()}): loopback instead`)
  yield* Console.log(`\n K  loss  workload               seconds  rate             retx %  snd CPU rcv CPU snd MiB rcv MiB`)
  for (const k of receiverCounts) {
    for (const loss of useLab ? [0, 1] : [0]) {
      yield* Effect.scoped(Effect.gen(function*() {
        const c = yield* (useLab ? labCluster(k) : loopbackCluster(k))
        where = c.where.replace(/\d+ (hosts|daemons)/, "1 + K $1")
        if (c.setLoss !== undefined) yield* c.setLoss(loss)
        makeSampleTree(join(c.sender.base, "big"), 0, bigMiB)
        for (const extra of ["big/empty", "big/link"]) fs.rmSync(join(c.sender.base, extra))
        const measured = [yield* measure(c, loss, `one ${bigMiB} MiB file`, ["-r", "big"], bigMiB * 1024)]
        makeSampleTree(join(c.sender.base, "small"), smallFiles, 0)
        measured.push(yield* measure(c, loss, `${smallFiles} files of 1-4 KiB`, ["-r", "small"], smallFiles * 3))
        measured.push(yield* measure(c, loss, `${smallFiles} unchanged (skip)`, ["-r", "small"], 0))
        yield* verify(c)
        for (const r of measured) yield* printRow(r)
        rows.push(...measured)
      }))
    }
  }
  yield* Console.log(`\nwhere: ${where}; every receiver verified identical to the sender`)
  const out = join("bench", "results", `${new Date().toISOString().slice(0, 19).replace(/:/g, "-")}.json`)
  fs.mkdirSync(join("bench", "results"), { recursive: true })
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), where, quick, cpus: cpus().length, node: process.version, rows }, null, 2) + "\n")
  yield* Console.log(`figures written to ${out}`)
})

NodeRuntime.runMain(bench)
