/**
 * When an idle daemon gives memory back: a pure step (a sample of the heap, the clock and the daemon's work in, an
 * action out), run by `settle.ts` on a timer. Two rules:
 *
 * - After work, once quiet for `QUIET_MS`: `Settle`, the collection start-up gets (compacting, dropping the code the
 *   work compiled), the young generation shrunk, the compilers held off again. The young generation is what a
 *   transfer grows (to its 8 MiB ceiling) and V8 shrinks it only in a full collection that finds allocation slow
 *   over the last 5 s (its allocation-throughput window): so quiet longer than that, measured before the collection.
 * - Settled (no work since), once the old space has grown `CREEP_BYTES` past what the last collection left:
 *   `Collect`, a plain full collection. An idle daemon's timers (the receive sessions' sweep,
 *   the members' keep-alives) leave garbage that scavenges promote to the old space, ~0.25 MiB a minute, and V8
 *   starts a full collection only at the old generation's limit, MiBs above (docs/performance.md, Memory): one
 *   collection of a ~10 MiB heap (milliseconds) every few minutes. Between works V8's own collections keep up: not then.
 *
 * Work is a count (`wake` adds one per datagram of a transfer, or send asked of the daemon) and the sends running:
 * a sender scanning a tree receives nothing for a while, yet works.
 */

/** Quiet this long after work, the daemon settles: past V8's 5 s allocation-throughput window, with a margin. */
export const QUIET_MS = 6_000

/** The old space grown this much past what the last collection left, an idle daemon collects: every ~8 minutes. */
export const CREEP_BYTES = 2 << 20

/** How often the timer samples: a fraction of `QUIET_MS`, rare enough to cost nothing. */
export const SAMPLE_MS = 2_000

export interface Sample {
  readonly now: number
  /** Bytes in use in V8's old space. */
  readonly oldSpaceUsed: number
  /** Work so far (a count that only grows). */
  readonly work: number
  /** Sends running now. */
  readonly running: number
}

export interface SettleState {
  readonly work: number
  /** When the daemon was last seen working (or started). */
  readonly quietSince: number
  /** Nothing to give back since the last `Settle` (or start-up's collection). */
  readonly settled: boolean
  /** Old-space bytes in use after the last collection. */
  readonly collectedAt: number
}

export type Action = "None" | "Settle" | "Collect"

/** Right after start-up's collection, which is the first settle. */
export const initial = (s: Sample): SettleState => ({ work: s.work, quietSince: s.now, settled: true, collectedAt: s.oldSpaceUsed })

export const step = (state: SettleState, s: Sample): { readonly state: SettleState; readonly action: Action } => {
  if (s.work !== state.work || s.running > 0) {
    return { state: { ...state, work: s.work, quietSince: s.now, settled: false }, action: "None" }
  }
  if (!state.settled) return { state, action: s.now - state.quietSince >= QUIET_MS ? "Settle" : "None" }
  return { state, action: s.oldSpaceUsed - state.collectedAt >= CREEP_BYTES ? "Collect" : "None" }
}

/** After the action's collection: what it left is the new baseline; a `Settle` done. */
export const collected = (state: SettleState, oldSpaceUsed: number): SettleState => ({ ...state, settled: true, collectedAt: oldSpaceUsed })
