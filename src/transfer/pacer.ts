/**
 * The DATA rate of one daemon's sending, shared by all its transfers (they share its uplink and its members).
 *
 * Algorithm (loss-driven AIMD over multicast, like TCP's, with NAKs as the loss signal):
 * - A token bucket at `rate` bytes/ms releases DATA bursts; a burst that overdraws it by more than ~2 ms of
 *   sending waits (one timer, never a busy loop), so the average stays at `rate` with millisecond timers.
 * - Every burst that the rate held back raises the rate by `GROWTH` (multiplicative: the probe reaches a fast link
 *   in a few hundred bursts and a slow one without overshooting it by much). A sender slower than its rate (CPU
 *   or disk bound) does not raise it: the rate never runs away from what is really sent.
 * - A member's NAK (a gap in the blocks it received, reported at once) means the path to it is full: the rate
 *   drops by `BACKOFF` and a new epoch begins. Only loss of blocks sent in the current epoch counts: NAKs for
 *   blocks sent before the last change (still in flight then, or repeated by makuosan members, which re-send
 *   older NAK ranges) are repaired but never lower the rate twice. Every member's NAK for the same lost burst
 *   is thus one decrease, however many members there are.
 * - `--rate` is a hard cap; the floor keeps a transfer moving whatever the loss.
 * The rate a transfer ends with is where the next one starts, so a daemon learns its path once.
 */

/** Bytes per millisecond: 1 MB/s ≈ 8 Mbit/s. */
export type BytesPerMs = number

const FLOOR: BytesPerMs = 1_000
const START: BytesPerMs = 12_500 // 100 Mbit/s
const GROWTH = 1.02
const BACKOFF = 0.8
/** Sending may run this far ahead of the rate before a burst waits (timers have millisecond resolution). */
const AHEAD_MS = 2
/** Unused rate saved up while idle, at most (a new transfer starts with one such burst). */
const SAVED_MS = 10

export interface Pacer {
  /** Milliseconds to wait before sending `bytes` more (0: send now); `now` in ms. Counts the bytes as sent. */
  readonly take: (bytes: number, now: number) => number
  /** The current epoch: bumped by every decrease. */
  readonly epoch: () => number
  /** A loss of blocks sent in `epoch`: lowers the rate once per epoch. */
  readonly loss: (epoch: number) => void
  readonly rate: () => BytesPerMs
}

export const makePacer = (cap: BytesPerMs | undefined, start: BytesPerMs = START): Pacer => {
  const limit = cap ?? Number.POSITIVE_INFINITY
  let rate = Math.min(start, limit)
  let epoch = 0
  let tokens = 0
  let last: number | undefined
  return {
    take: (bytes, now) => {
      tokens = last === undefined ? rate * AHEAD_MS : Math.min(tokens + (now - last) * rate, rate * SAVED_MS)
      last = now
      tokens -= bytes
      if (tokens < 0) rate = Math.min(limit, rate * GROWTH)
      return tokens >= -rate * AHEAD_MS ? 0 : Math.ceil(-tokens / rate)
    },
    epoch: () => epoch,
    loss: (e) => {
      if (e !== epoch) return
      epoch++
      rate = Math.max(FLOOR, Math.min(limit, rate * BACKOFF))
    },
    rate: () => rate
  }
}
