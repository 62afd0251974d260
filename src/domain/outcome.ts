import { Schema } from "effect"

/** What a transfer amounted to on one member. */
export const Outcome = Schema.Literal(
  "updated",
  "skipped",
  "would-update",
  "readonly",
  "deleted",
  "would-delete",
  "not-deleted",
  "same",
  "different",
  "missing",
  "failed",
  "lost"
)
export type Outcome = typeof Outcome.Type

export const HostOutcome = Schema.Struct({
  host: Schema.String,
  address: Schema.String,
  outcome: Outcome,
  detail: Schema.optional(Schema.String),
  /** The member's errno, when it reported one. */
  errno: Schema.optional(Schema.Number),
  /** Blocks the member reported missing and received again (absent when none). */
  missed: Schema.optional(Schema.Number)
})
export type HostOutcome = typeof HostOutcome.Type
