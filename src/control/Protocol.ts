/**
 * What the CLI and its daemon say to each other over the control socket: one JSON line with a request, then
 * JSON lines of events for that request, ending with `Done` (or `Failed`). Every line is a Schema codec, so
 * both sides validate what they read.
 */
import { Schema } from "effect"
import { FileReport, JobProgress, MAX_PARALLEL, SkippedFiles, SourceError } from "../domain/job.js"
import { Member } from "../domain/member.js"
import { ClientOperation } from "../domain/operation.js"
import { SendSummary } from "../domain/summary.js"
import { refusalReasons } from "./errors.js"

export const MembersRequest = Schema.TaggedStruct("Members", {})
export const StatusRequest = Schema.TaggedStruct("Status", {})
/** PING the group and wait this long for the PONGs (`makuo doctor`). */
export const ProbeRequest = Schema.TaggedStruct("Probe", { waitMs: Schema.Int.pipe(Schema.between(1, 10_000)) })
export const SendRequest = Schema.TaggedStruct("Send", {
  paths: Schema.Array(Schema.String),
  /**
   * The client's current directory: a relative PATH starts there when it lies inside the base. Absent from
   * requests of CLIs before it (their PATHs start at the base).
   */
  cwd: Schema.optional(Schema.String),
  recursive: Schema.Boolean,
  dryRun: Schema.Boolean,
  operation: ClientOperation,
  delete: Schema.Boolean,
  targets: Schema.Array(Schema.String),
  excludes: Schema.Array(Schema.String),
  parallel: Schema.Int.pipe(Schema.between(1, MAX_PARALLEL)),
  /** `--checksum`; absent from requests of CLIs before it. */
  checksum: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Absent from requests of CLIs before `--verbose`: they listed every skip. */
  reportSkipped: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** Without `reportSkipped`, such files as `Skipped` counts (`SendJob.countSkipped`); absent from requests of CLIs before it. */
  countSkipped: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  rateMbit: Schema.NullOr(Schema.Number.pipe(Schema.positive())),
  timeoutMs: Schema.Int.pipe(Schema.positive()),
  /** A live display wants `Progress` events. */
  progress: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** `send --all-or-nothing`; absent from requests of CLIs before it. */
  allOrNothing: Schema.optionalWith(Schema.Boolean, { default: () => false })
})
export type SendRequest = typeof SendRequest.Type

export const ControlRequest = Schema.Union(MembersRequest, StatusRequest, ProbeRequest, SendRequest)
export type ControlRequest = typeof ControlRequest.Type

export const Counters = Schema.Struct({
  datagramsIn: Schema.Number,
  datagramsOut: Schema.Number,
  malformed: Schema.Number,
  foreign: Schema.Number,
  sendErrors: Schema.Number,
  overflowed: Schema.Number,
  /** Dropped by the kernel on the daemon's sockets, their receive buffers full; null: unknown (absent from daemons before it). */
  kernelDrops: Schema.optionalWith(Schema.NullOr(Schema.Number), { default: () => null }),
  refusedSessions: Schema.Number,
  refusedDescriptors: Schema.Number,
  refusedPatterns: Schema.Number,
  unknownTransfers: Schema.Number,
  refusedPaths: Schema.Number,
  setidDropped: Schema.Number,
  diskFull: Schema.Number,
  retransmittedBlocks: Schema.Number,
  resentBytes: Schema.Number,
  membersLost: Schema.Number
})

export const Outgoing = Schema.Struct({
  path: Schema.String,
  operation: Schema.String,
  startedAt: Schema.Number,
  blocks: Schema.Number,
  sent: Schema.Number,
  hosts: Schema.Array(Schema.Struct({ host: Schema.String, state: Schema.String }))
})

export const Incoming = Schema.Struct({
  path: Schema.String,
  from: Schema.String,
  phase: Schema.String,
  blocks: Schema.Number,
  missing: Schema.Number
})

export const StatusInfo = Schema.Struct({
  version: Schema.String,
  host: Schema.String,
  pid: Schema.Number,
  base: Schema.String,
  group: Schema.String,
  port: Schema.Number,
  bind: Schema.String,
  interface: Schema.String,
  ttl: Schema.Number,
  /** SO_RCVBUF asked for (the kernel caps it at net.core.rmem_max). */
  recvBuffer: Schema.Number,
  readonly: Schema.Boolean,
  /** Whether the daemon, as the user it runs as, may write to its base. */
  baseWritable: Schema.Boolean,
  /** How datagrams reach the kernel (`IoMode`). */
  io: Schema.Literal("gso", "sendmmsg", "dgram", "memory"),
  /** Epoch milliseconds. */
  startedAt: Schema.Number,
  now: Schema.Number,
  members: Schema.Number,
  counters: Counters,
  /** The daemon's memory in bytes: resident, and the JavaScript heap in use and reserved (a flood's leftovers show in `heapUsed`). */
  memory: Schema.Struct({ rss: Schema.Number, heapUsed: Schema.Number, heapTotal: Schema.Number, external: Schema.Number }),
  outgoing: Schema.Array(Outgoing),
  incoming: Schema.Array(Incoming),
  /** Native mode (sealed, key id) or protocol v7 (unauthenticated), and the datagrams the secure layer refused, by reason. */
  secure: Schema.optional(Schema.Struct({
    mode: Schema.Literal("native", "v7"),
    keyId: Schema.optional(Schema.String),
    engine: Schema.optional(Schema.String),
    refused: Schema.Record({ key: Schema.String, value: Schema.Number }),
    epochs: Schema.optional(Schema.Number),
    challengesSent: Schema.optional(Schema.Number),
    answersSent: Schema.optional(Schema.Number),
    admitted: Schema.optional(Schema.Number)
  }))
})
export type StatusInfo = typeof StatusInfo.Type

export const ControlEvent = Schema.Union(
  FileReport,
  SkippedFiles,
  SourceError,
  JobProgress,
  Schema.TaggedStruct("Summary", { summary: SendSummary, dryRun: Schema.Boolean, operation: ClientOperation }),
  Schema.TaggedStruct("MemberList", { members: Schema.Array(Member), now: Schema.Number }),
  Schema.TaggedStruct("Status", { status: StatusInfo }),
  Schema.TaggedStruct("ProbeResult", {
    answers: Schema.Array(Schema.Struct({ host: Schema.String, address: Schema.String, rttMs: Schema.Number, offsetMs: Schema.optional(Schema.Number) })),
    waitedMs: Schema.Number
  }),
  Schema.TaggedStruct("Failed", { reason: Schema.Literal(...refusalReasons), message: Schema.String }),
  Schema.TaggedStruct("Done", {})
)
export type ControlEvent = typeof ControlEvent.Type

export const RequestLine = Schema.parseJson(ControlRequest)
export const EventLine = Schema.parseJson(ControlEvent)

/** A request line longer than this is refused: nothing legitimate comes close. */
export const MAX_REQUEST_LINE = 1 << 20
