import { Duration, Schema } from "effect"
import type { Operation } from "./operation.js"
import { HostOutcome } from "./outcome.js"
import { SendSummary } from "./summary.js"

/** Transfers in flight at once by default: enough to hide round trips, well below what a member takes. */
export const DEFAULT_PARALLEL = 32
/** C makuosan members break past 128 transfers open at once (makuosan-v7.md E20); makuo keeps each member below 64. */
export const MAX_PARALLEL = 64
/** makuosan's 60 s (120 retries of 500 ms) before a silent member is given up for a transfer. */
export const DEFAULT_TIMEOUT = Duration.seconds(60)

/** One `makuo send|sync|check` (or console command), as the daemon runs it. */
export interface SendJob {
  readonly paths: ReadonlyArray<string>
  readonly recursive: boolean
  readonly dryRun: boolean
  readonly operation: Operation
  /** `send --delete`: first delete on the members what we do not have under the paths (DSYNC). */
  readonly delete: boolean
  readonly targets: ReadonlyArray<string>
  readonly excludes: ReadonlyArray<string>
  readonly parallel: number
  /**
   * `--checksum`: a regular file a member skips (its size, mtime, mode and owner equal ours) has its content
   * compared there too (MD5), and is sent again to the members where it differs.
   */
  readonly checksum: boolean
  /**
   * A directory named without `recursive` is reported skipped (`makuo send DIR`, as rsync does) instead of sent as
   * an entry alone (what makuosan's console does).
   */
  readonly skipDirectories?: boolean
  /** Report files that every host skipped; without it they only count in the summary. */
  readonly reportSkipped: boolean
  /**
   * Without `reportSkipped`: count such files as they go, a `Skipped` event per run of them instead of a `File`
   * each (the text report's per-host counts; absent from requests of CLIs before it).
   */
  readonly countSkipped?: boolean
  /** Mbit/s cap on DATA, or undefined. */
  readonly rateMbit: number | undefined
  readonly timeout: Duration.Duration
  /** Report where the job stands every `PROGRESS_EVERY` (a live display asked for it). */
  readonly progress: boolean
  /**
   * `send --all-or-nothing` (a keyed daemon's transaction): a member that fails or is lost before the commit makes
   * every member discard the job, instead of the others committing it.
   */
  readonly allOrNothing?: boolean
}

export const PROGRESS_EVERY = Duration.millis(250)

/** A job with the defaults for what is not given. */
export const sendJob = (job: Pick<SendJob, "paths" | "operation"> & Partial<SendJob>): SendJob => ({
  recursive: false,
  dryRun: false,
  delete: false,
  targets: [],
  excludes: [],
  parallel: DEFAULT_PARALLEL,
  checksum: false,
  reportSkipped: true,
  rateMbit: undefined,
  timeout: DEFAULT_TIMEOUT,
  progress: false,
  ...job
})

/** The outcome on every host of one file. */
export const FileReport = Schema.TaggedStruct("File", {
  path: Schema.String,
  hosts: Schema.Array(HostOutcome),
  /** The file's size, for a regular file: what a host's `missed` blocks are a share of. */
  size: Schema.optional(Schema.Number)
})
/**
 * `files` files that every one of `hosts` skipped (each host's outcome `skipped`), counted, not named: what a
 * report that lists none of them needs (`countSkipped`). 20 000 unchanged files as `File` events cost the daemon
 * ~150 ms and the CLI ~0.4 s of CPU (docs/performance.md, "A text report's unchanged files").
 */
export const SkippedFiles = Schema.TaggedStruct("Skipped", { files: Schema.Number, hosts: Schema.Array(HostOutcome) })
export type SkippedFiles = typeof SkippedFiles.Type

/** A file of ours that could not be sent (unreadable, vanished, not a kind we send). */
export const SourceError = Schema.TaggedStruct("SourceError", {
  path: Schema.String,
  message: Schema.String,
  /** A directory named without `recursive` (`skipDirectories`): not sent. */
  directory: Schema.optional(Schema.Boolean)
})
export const Summary = Schema.TaggedStruct("Summary", { summary: SendSummary })

/** A transfer in flight: its blocks, the DATA datagrams sent so far, each member's state. */
export const InFlight = Schema.Struct({
  path: Schema.String,
  blocks: Schema.Number,
  sent: Schema.Number,
  hosts: Schema.Array(Schema.Struct({ host: Schema.String, state: Schema.String }))
})
export type InFlight = typeof InFlight.Type

/**
 * Where a job stands (only when asked for): files and bytes finished, what the scan has found so far (the totals
 * once `scanning` is false), the transfers in flight.
 */
export const JobProgress = Schema.TaggedStruct("Progress", {
  files: Schema.Number,
  bytes: Schema.Number,
  foundFiles: Schema.Number,
  foundBytes: Schema.Number,
  scanning: Schema.Boolean,
  inFlight: Schema.Array(InFlight)
})
export type JobProgress = typeof JobProgress.Type

/** What a job reports, as it happens; `Summary` last. */
export const SendEvent = Schema.Union(FileReport, SkippedFiles, SourceError, Summary, JobProgress)
export type SendEvent = typeof SendEvent.Type

const sameHosts = (a: ReadonlyArray<HostOutcome>, b: ReadonlyArray<HostOutcome>) =>
  a === b || (a.length === b.length && a.every((h, i) => h.host === b[i]!.host && h.address === b[i]!.address))

/** `events` with each run of `Skipped` events of the same hosts made one (the order of the others kept). */
export const coalesceSkipped = (events: Iterable<SendEvent>): Array<SendEvent> => {
  const out: Array<SendEvent> = []
  for (const e of events) {
    const run = out.at(-1)
    if (e._tag === "Skipped" && run?._tag === "Skipped" && sameHosts(run.hosts, e.hosts)) out[out.length - 1] = { ...run, files: run.files + e.files }
    else out.push(e)
  }
  return out
}
