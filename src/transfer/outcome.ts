/** What a transfer amounted to on one member. */
export const outcomes = [
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
] as const

export type Outcome = (typeof outcomes)[number]

export interface HostOutcome {
  readonly host: string
  readonly address: string
  readonly outcome: Outcome
  readonly detail?: string
  /** The member's errno, when it reported one. */
  readonly errno?: number
  /** Blocks the member reported missing and received again (absent when none). */
  readonly missed?: number
}
