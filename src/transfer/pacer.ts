/**
 * The DATA rate of one daemon's sending, shared by all its transfers (they share its uplink and its members).
 *
 * Two mechanisms keep the fastest sender from drowning the slowest member:
 * - The sender's own link paces itself: the socket's send buffer is small (`--send-buffer`, 256 KiB), so the
 *   kernel refuses more (EAGAIN, the transport waits for writable) before the interface's queue overflows.
 * - Beyond it (a member's slower link or CPU, a full receive buffer), the members' NAKs steer this rate. A
 *   token bucket at `rate` bytes/ms releases DATA bursts; a burst that overdraws it by more than ~2 ms of sending
 *   waits (one timer, never a busy loop). While the rate holds the sender back, it doubles every `DOUBLING_MS`
 *   up to the rate congestion last left it at, ten times slower above it (a sender slower than its rate, CPU or
 *   disk bound, does not raise it: it never runs away from what is really sent). Congestion lowers it by
 *   `BACKOFF`, or by the share of the epoch's blocks that were lost when that is more (down to half), and begins
 *   a new epoch.
 *
 * What counts as congestion: one member reporting missing (a NAK names a gap at once) more of the blocks sent in
 * the current epoch than random loss explains (`RANDOM_LOSS` of the blocks sent in the epoch, plus a few). An overflowing queue drops runs of datagrams, a lossy link single ones: 1 % random loss never
 * lowers the rate, a full buffer at once. NAKs for blocks sent before the last change (still in flight then, or
 * repeated by makuosan members, which re-send older NAK ranges) are repaired but never lower the rate again, so
 * every member's NAK for the same lost burst is one decrease, however many members there are.
 * `--rate` is a hard cap; the floor keeps a transfer moving whatever the loss. The rate a transfer ends with is
 * where the next one starts, so a daemon learns its path once.
 */

/** Bytes per millisecond: 1 MB/s ≈ 8 Mbit/s. */
export type BytesPerMs = number

const FLOOR: BytesPerMs = 1_000
const START: BytesPerMs = 50_000 // 400 Mbit/s
const DOUBLING_MS = 100
/** Above the rate congestion last left, the probe is ten times slower: the path was full just above it. */
const PROBING_DOUBLING_MS = 1_000
const BACKOFF = 0.8
const MAX_BACKOFF = 0.5
/** Share of the blocks sent in an epoch that may go missing before it counts as congestion, and a few more. */
const RANDOM_LOSS = 0.03
const RANDOM_LOSS_BLOCKS = 4
/** Sending may run this far ahead of the rate before a burst waits (timers have millisecond resolution). */
const AHEAD_MS = 2
/** Unused rate saved up while idle, at most. */
const SAVED_MS = 10
const BLOCK_DATAGRAM = 1066

export interface Pacer {
  /** Milliseconds to wait before sending `bytes` more (0: send now); `now` in ms. Counts the bytes as sent. */
  readonly take: (bytes: number, now: number) => number
  /** The current epoch: bumped by every decrease. */
  readonly epoch: () => number
  /** One member has reported `blocks` of those sent in `epoch` missing so far. */
  readonly loss: (epoch: number, blocks: number) => void
  readonly rate: () => BytesPerMs
}

export const makePacer = (cap: BytesPerMs | undefined, start: BytesPerMs = START): Pacer => {
  const limit = cap ?? Number.POSITIVE_INFINITY
  let rate = Math.min(start, limit)
  let epoch = 0
  let sentInEpoch = 0
  let tokens = 0
  let last: number | undefined
  let limited = false
  let congested = Number.POSITIVE_INFINITY
  return {
    take: (bytes, now) => {
      const elapsed = last === undefined ? 0 : now - last
      // the time since the last burst was spent held back by the rate: it grows by that much
      if (limited) rate = Math.min(limit, rate * 2 ** (elapsed / (rate < congested ? DOUBLING_MS : PROBING_DOUBLING_MS)))
      tokens = last === undefined ? rate * AHEAD_MS : Math.min(tokens + elapsed * rate, rate * SAVED_MS)
      last = now
      tokens -= bytes
      sentInEpoch += bytes / BLOCK_DATAGRAM
      limited = tokens < 0
      return tokens >= -rate * AHEAD_MS ? 0 : Math.ceil(-tokens / rate)
    },
    epoch: () => epoch,
    loss: (e, lostInEpoch) => {
      if (e !== epoch || lostInEpoch <= RANDOM_LOSS_BLOCKS + RANDOM_LOSS * sentInEpoch) return
      // heavy loss (a member far slower than the rate) backs off further, down to half
      const backoff = Math.min(BACKOFF, Math.max(MAX_BACKOFF, 1 - lostInEpoch / Math.max(1, sentInEpoch)))
      epoch++
      sentInEpoch = 0
      rate = Math.max(FLOOR, Math.min(limit, rate * backoff))
      congested = rate
    },
    rate: () => rate
  }
}
