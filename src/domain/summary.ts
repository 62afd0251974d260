import { Schema } from "effect"

/** The totals of a job, reported last. */
export const SendSummary = Schema.Struct({
  files: Schema.Number,
  bytes: Schema.Number,
  hosts: Schema.Number,
  milliseconds: Schema.Number,
  updated: Schema.Number,
  skipped: Schema.Number,
  /** File outcomes of members running `--readonly`: they answered but did not take the file. */
  readonly: Schema.Number,
  deleted: Schema.Number,
  same: Schema.Number,
  different: Schema.Number,
  missing: Schema.Number,
  failed: Schema.Number,
  lost: Schema.Number,
  sourceErrors: Schema.Number
})
export type SendSummary = typeof SendSummary.Type

/**
 * What the totals mean for a caller: `complete` only when every targeted member took (or already had) every file;
 * `declined` when nothing failed but members running `--readonly` did not take some file, which a deploy must
 * tell from success; `failed` when a host failed, was lost, differs, misses a file, or a source file was unreadable.
 */
export type Verdict = "complete" | "declined" | "failed"

export const verdict = (s: SendSummary): Verdict =>
  s.failed + s.lost + s.sourceErrors + s.different + s.missing > 0 ? "failed" : s.readonly > 0 ? "declined" : "complete"
