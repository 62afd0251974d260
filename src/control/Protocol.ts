/**
 * What the CLI and its daemon say to each other over the control socket: one JSON line with a request, then
 * JSON lines of events for that request, ending with `Done` (or `Failed`). Every line is a Schema codec, so
 * both sides validate what they read.
 */
import { Schema } from "effect"
import { outcomes } from "../transfer/outcome.js"
import { refusalReasons } from "./errors.js"

export const MembersRequest = Schema.TaggedStruct("Members", {})
export const StatusRequest = Schema.TaggedStruct("Status", {})
export const SendRequest = Schema.TaggedStruct("Send", {
  paths: Schema.Array(Schema.String),
  recursive: Schema.Boolean,
  dryRun: Schema.Boolean,
  operation: Schema.Literal("send", "sync", "check"),
  delete: Schema.Boolean,
  targets: Schema.Array(Schema.String),
  excludes: Schema.Array(Schema.String),
  parallel: Schema.Int.pipe(Schema.between(1, 64)),
  /** Absent from requests of CLIs before `--verbose`: they listed every skip. */
  reportSkipped: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  rateMbit: Schema.NullOr(Schema.Number.pipe(Schema.positive())),
  timeoutMs: Schema.Int.pipe(Schema.positive())
})
export type SendRequest = typeof SendRequest.Type

export const ControlRequest = Schema.Union(MembersRequest, StatusRequest, SendRequest)
export type ControlRequest = typeof ControlRequest.Type

export const MemberInfo = Schema.Struct({
  host: Schema.String,
  address: Schema.String,
  port: Schema.Number,
  version: Schema.String,
  /** Epoch milliseconds. */
  lastSeen: Schema.Number,
  since: Schema.Number
})
export type MemberInfo = typeof MemberInfo.Type

export const Counters = Schema.Struct({
  datagramsIn: Schema.Number,
  datagramsOut: Schema.Number,
  malformed: Schema.Number,
  foreign: Schema.Number,
  sendErrors: Schema.Number,
  overflowed: Schema.Number,
  retransmittedBlocks: Schema.Number,
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
  /** How datagrams reach the kernel (`IoMode`). */
  io: Schema.Literal("gso", "sendmmsg", "dgram", "memory"),
  /** Epoch milliseconds. */
  startedAt: Schema.Number,
  now: Schema.Number,
  members: Schema.Number,
  counters: Counters,
  outgoing: Schema.Array(Outgoing),
  incoming: Schema.Array(Incoming)
})
export type StatusInfo = typeof StatusInfo.Type

export const Outcome = Schema.Literal(...outcomes)

export const HostOutcome = Schema.Struct({
  host: Schema.String,
  address: Schema.String,
  outcome: Outcome,
  detail: Schema.optional(Schema.String),
  errno: Schema.optional(Schema.Number),
  missed: Schema.optional(Schema.Number)
})

export const SendSummary = Schema.Struct({
  files: Schema.Number,
  bytes: Schema.Number,
  hosts: Schema.Number,
  milliseconds: Schema.Number,
  updated: Schema.Number,
  skipped: Schema.Number,
  deleted: Schema.Number,
  same: Schema.Number,
  different: Schema.Number,
  missing: Schema.Number,
  failed: Schema.Number,
  lost: Schema.Number,
  sourceErrors: Schema.Number
})
export type SendSummary = typeof SendSummary.Type

export const ControlEvent = Schema.Union(
  Schema.TaggedStruct("File", { path: Schema.String, hosts: Schema.Array(HostOutcome) }),
  Schema.TaggedStruct("SourceError", { path: Schema.String, message: Schema.String }),
  Schema.TaggedStruct("Summary", { summary: SendSummary, dryRun: Schema.Boolean, operation: Schema.Literal("send", "sync", "check") }),
  Schema.TaggedStruct("MemberList", { members: Schema.Array(MemberInfo), now: Schema.Number }),
  Schema.TaggedStruct("Status", { status: StatusInfo }),
  Schema.TaggedStruct("Failed", { reason: Schema.Literal(...refusalReasons), message: Schema.String }),
  Schema.TaggedStruct("Done", {})
)
export type ControlEvent = typeof ControlEvent.Type

export const RequestLine = Schema.parseJson(ControlRequest)
export const EventLine = Schema.parseJson(ControlEvent)

/** A request line longer than this is refused: nothing legitimate comes close. */
export const MAX_REQUEST_LINE = 1 << 20
