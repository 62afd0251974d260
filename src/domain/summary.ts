import { Schema } from "effect"

/** The totals of a job, reported last. */
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
