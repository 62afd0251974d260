/**
 * `--checksum` for send and sync: a regular file some member skipped (its size, mtime, mode and owner equal
 * ours) is held back from the job's report until everything is sent; then those members compare its content
 * (MD5) with ours, and where it differs (or is gone) it is sent to them again.
 */
import { Effect, Stream } from "effect"
import type { HostOutcome } from "../domain/outcome.js"
import { Wire } from "../net/Wire.js"
import { FileStore } from "../store/FileStore.js"
import { mapEffectUnordered } from "../mapEffectUnordered.js"
import { checkFile } from "./check/checkFile.js"
import type { RoundContext } from "./engine/rounds.js"
import { Sessions } from "./engine/Sessions.js"
import type { Progress } from "./progress.js"
import { End, type EngineJob, type FileToSend, SendEngine } from "./send/SendEngine.js"
import { isRegular } from "./send/receiveMachine.js"
import { type Target } from "./engine/rtt.js"

/** Runs one check with its progress visible in `status` while it lasts. */
export type Tracked = <A>(path: string, operation: Progress["operation"], f: (p: Progress) => Effect.Effect<A>) => Effect.Effect<A>

/** What of a send job the pass needs. */
export interface ChecksumJob {
  readonly operation: EngineJob["operation"]
  readonly dryRun: boolean
  readonly parallel: number
  /** The job's members at its start: those of them that skipped a file compare it. */
  readonly targets: ReadonlyArray<Target>
  readonly rounds: RoundContext
  readonly context: EngineJob["context"]
}

/** A file's report: its hosts' outcomes. */
export interface FileReport {
  readonly file: FileToSend
  readonly hosts: ReadonlyArray<HostOutcome>
}

export interface ChecksumPass {
  /** Takes a finished file's report for comparison when it is a regular file some member skipped (true); else it is the job's to report now. */
  readonly hold: (report: FileReport) => boolean
  /** The held files once compared (and repaired), `parallel` at a time: the skipped hosts' outcomes replaced by the comparison's. */
  readonly compared: Stream.Stream<FileReport>
}

/** The pass of one job, on the daemon's engine. */
export const makeChecksumPass = (tracked: Tracked) =>
  Effect.gen(function*() {
    const wire = yield* Wire
    const store = yield* FileStore
    const sessions = yield* Sessions
    const engine = yield* SendEngine

    return (job: ChecksumJob): ChecksumPass => {
      const held: Array<FileReport> = []

      /** One file to the `targets` in it, unicast, as a job of its own: the outcome per host. */
      const sendOnce = (file: FileToSend) =>
        Effect.async<ReadonlyArray<HostOutcome>>((resume) => {
          let hosts: ReadonlyArray<HostOutcome> = []
          let given = false
          const running = engine.start({
            operation: job.operation,
            unicast: true,
            window: 1,
            context: job.context,
            next: () => (given ? End : ((given = true), file)),
            finished: (_, outcome) => void (hosts = outcome),
            ended: () => resume(Effect.succeed(hosts))
          })
          return Effect.sync(running.cancel)
        })

      /**
       * Sends `file` again to `targets`, whose copy has its size, mtime, mode and owner but not its content. A v7
       * member takes a file only when one of those differs, and the STAT must announce the file's own (they are
       * what the member applies): so the file goes twice, unicast to those members alone — first announced with
       * an mtime one second off (each takes it: the right content, an mtime off by one second), then as it is
       * (each takes it again, for the mtime). No wire extension: makuosan members are repaired the same way.
       */
      const repair = (file: FileToSend, targets: ReadonlyArray<Target>) =>
        Effect.gen(function*() {
          const first = yield* sendOnce({ ...file, mstat: { ...file.mstat, mtime: (file.mstat.mtime ^ 1) >>> 0 }, targets })
          const took = targets.filter((t) => first.some((h) => h.address === t.address && h.outcome === "updated"))
          const second = took.length === 0 ? [] : yield* sendOnce({ ...file, targets: took })
          return first.map((h): HostOutcome => {
            const last = second.find((x) => x.address === h.address) ?? h
            return last.outcome === "updated"
              ? { ...last, detail: "content differed" }
              : { ...last, detail: `content differs; ${last.detail ?? last.outcome}` }
          })
        })

      /** The members that skipped `file` compare its content (MD5) with ours; where it differs (or is gone), it is sent again. */
      const compareContent = ({ file, hosts }: FileReport) =>
        Effect.gen(function*() {
          const rel = file.mstat.path
          const skipped = job.targets.filter((t) => hosts.some((h) => h.outcome === "skipped" && h.address === t.address))
          const digest = yield* Effect.either(store.digest(rel))
          const compared: ReadonlyArray<HostOutcome> = digest._tag === "Left"
            ? skipped.map((t) => ({ host: t.host, address: t.address, outcome: "failed", detail: `content not compared: unreadable here: ${digest.left.message}` }))
            : yield* tracked(rel, "check", (p) =>
              checkFile(sessions, job.rounds, { reqid: wire.nextReqIdNow(), path: rel, digest: digest.right, targets: skipped, unicast: true }, p))
          const differing = compared.filter((h) => h.outcome === "different" || h.outcome === "missing")
          const repaired: ReadonlyArray<HostOutcome> = differing.length === 0
            ? []
            : job.dryRun
            ? differing.map((h) => ({ host: h.host, address: h.address, outcome: "would-update", detail: "content differs" }))
            : yield* repair(file, skipped.filter((t) => differing.some((h) => h.address === t.address)))
          const final = hosts.map((h) => {
            if (h.outcome !== "skipped") return h
            const now = repaired.find((x) => x.address === h.address) ?? compared.find((x) => x.address === h.address)
            return now === undefined || now.outcome === "same" ? h : now
          })
          return { file, hosts: final }
        })

      return {
        hold: (report) => {
          if (!isRegular(report.file.mstat.mode) || !report.hosts.some((h) => h.outcome === "skipped")) return false
          held.push(report)
          return true
        },
        compared: Stream.suspend(() => Stream.fromIterable(held)).pipe(
          mapEffectUnordered(Math.max(1, job.parallel), compareContent)
        )
      }
    }
  })
