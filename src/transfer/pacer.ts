/**
 * The DATA rate of one daemon's sending, shared by all its transfers (they share its uplink and its members).
 * Without I/O: the time is passed in. The algorithm, in short: send at what the slowest member takes, measured,
 * not at what it loses; probe above it now and then.
 *
 * What the sender knows. Protocol v7 has no ACK per datagram, and a member's NAK comes late: its socket buffer
 * (8 MiB) holds tens to hundreds of milliseconds of data, so the news of an overflow arrives after that much more
 * was sent. But an answer also says how far the member has got. Each datagram has a position in the daemon's DATA
 * stream (bytes handed to `take` before it, `sent`) and a send time; a member's answer is a *point*: it has taken
 * the stream up to a position sent at a time. The send machine makes points of (sendMachine.ts):
 * - the answers to the MARKs it sends during DATA now and then (one at a time, every 10 ms at most): the member
 *   answers once it has taken everything sent before the MARK, naming the blocks it lost; this is the regular
 *   news, and it comes before any loss;
 * - NAKs (the block after the gap has just arrived), until a member's first MARK answer;
 * - the answers to the MARK rounds at the end of a file;
 * and every first answer to another round (STAT, OPEN, CLOSE, LAST) is a round trip for the least one.
 * Per member, two points a span of at least `SAMPLE_MS` apart give (BBR's delivery-rate samples):
 * - its delivery rate: the stream bytes it took over the span, less those it named lost, per millisecond of the
 *   span's answers or of their sending, whichever took longer (BBR: a member that held its answers back and then
 *   sent them at once has not taken the stream faster than it was sent); its estimate is the best sample of the
 *   last `BW_WINDOW_MS` (a max filter: a member the scheduler paused for a moment does not drag it down). A span in which the sender sent less than its rate let it (its bucket full
 *   at a send: it paused, a file hashed, a manifest or MARK round; or it is slower than the rate, a daemon
 *   warming up: BBR's "application limited") measures the sender, not the member: such a sample only counts
 *   when it raises the estimate;
 * - the share of the span it lost;
 * and every point its queue: the round trip of that point less the least round trip seen (how long the datagram
 * waited in the member's buffer) — the news of an overflow before it happens.
 *
 * Rules. A token bucket at `rate` bytes/ms releases DATA bursts; a burst that overdraws it by more than ~2 ms of
 * sending waits (one timer, never a busy loop).
 * - Congestion is a member queueing more than `QUEUE_MS`, or more than `QUEUE_BYTES` at the rate (a CPU-bound
 *   member at hundreds of MB/s overflows its socket buffer before its queue is `QUEUE_MS` long), or losing more
 *   of a span than random loss explains (`RANDOM_LOSS` of it, and more than a few blocks): an overflowing buffer
 *   drops runs of datagrams, a lossy link single ones, so 1 % random loss never lowers the rate.
 * - Congestion takes the rate straight down to what that member takes: `DRAIN_GAIN` of its delivery-rate
 *   estimate (and at least `BACKOFF` lower; with no estimate yet, by the share lost, down to half), and holds it
 *   there while the queue drains (its length over 1 − `DRAIN_GAIN`, or until every member is calm again on
 *   datagrams sent since the decrease: its queue has drained). Whichever member is slowest sets the pace
 *   (TFMCC's rule for multicast, RFC 4654). One overflow is one decrease however many members report it: only
 *   loss of datagrams sent after the last decrease, or a queue of datagrams sent after its hold once the rate has
 *   held the sender back again, lowers it again; older news only keeps the rate at or below what that member takes.
 *   A sender slower than its rate (small files, CPU-bound) is not paced by it: a member's queue then lowers the
 *   rate one step, not a step per hold (on a loaded lab one 2000-file send took it from 50 to 2.3 MB/s unseen,
 *   where the next transfer would have started).
 * - While the rate holds the sender back it grows (the probe upward): doubling every `DOUBLING_MS` before any
 *   congestion, below the rate congestion last left, or while fresh points show every member calm (queueing less
 *   than `CALM_QUEUE_MS`: they take more than is sent — a member warming up, or freed of other work); otherwise,
 *   just above where the path was full, one doubling per `PROBE_DOUBLING_MS`, and a member that cannot take more
 *   answers with a queue, not yet with loss. A sender slower than its rate (CPU or disk bound, or paused by a
 *   MARK round) does not raise it: it never runs away from what is really sent.
 * - Once every member heard of in the last `BW_WINDOW_MS` has answered calm on datagrams sent since the last
 *   decrease (its queue drained), the hold ends and the rate goes back up at once to what the slowest of them
 *   has been seen to take (its delivery-rate estimate; nothing while one has none), growing on from there. The
 *   first such answer ends it, not a calm spell after it: a member whose queue has drained idles below the rate
 *   it takes (each decrease held a member at its CPU's pace for ~50 ms more). A
 *   member's warm-up (its first file opened, its code compiled) shows a long queue at a delivery rate far below
 *   what it takes a moment later: the decrease it causes is undone once the queue has drained, not by doublings
 *   from the warm-up's rate.
 * `--rate` is a hard cap; the floor keeps a transfer moving whatever the loss. The rate a transfer ends with is
 * where the next one starts, so a daemon learns its path once.
 */

/** Bytes per millisecond: 1 MB/s ≈ 8 Mbit/s. */
export type BytesPerMs = number

const FLOOR: BytesPerMs = 1_000
const START: BytesPerMs = 50_000 // 400 Mbit/s
/**
 * A member's warm-up (a fresh daemon's code still interpreted: tens of MB/s for its first few hundred ms) leaves
 * the rate low once its queue has drained; the growth from there is most of a big file's start (docs/performance.md).
 */
const DOUBLING_MS = 50
/** Above the rate congestion last left (members not all calm), the probe is slower: the path was full just above it. */
const PROBE_DOUBLING_MS = 400
/** After congestion the rate is at most this share of the congested member's delivery rate: its queue drains. */
const DRAIN_GAIN = 0.75
/** A decrease lowers the rate at least this much; without a delivery rate, by the share lost, down to `MAX_BACKOFF`. */
const BACKOFF = 0.8
const MAX_BACKOFF = 0.5
/** Share of a span's datagrams a member may lose before it counts as congestion, and a number of blocks more. */
const RANDOM_LOSS = 0.03
const RANDOM_LOSS_BYTES = 4 * 1066
/** Sends that found the bucket full remembered (their positions), to tell an application-limited span. */
const UNHURRIED_KEPT = 256
/** The shortest span a delivery rate is measured over: shorter ones are the jitter of batches and event-loop turns. */
const SAMPLE_MS = 20
/** A member whose newest datagram waited longer than this in its buffer is falling behind: congestion, before loss. */
const QUEUE_MS = 20
/**
 * Or whose queue holds more than this at the rate: a quarter of a member's default receive buffer (`recv-buffer`,
 * 8 MiB), half of what a kernel whose `rmem_max` is 4 MiB grants it: at 250 MB/s, 8 ms.
 */
const QUEUE_BYTES = 2 * 1024 * 1024
/**
 * Fresh news (points of the last `CALM_MS`) with no member queueing more than `CALM_QUEUE_MS`: the members take
 * more than is sent, and the rate grows fast whatever the ceiling (a member warming up, or freed of other work).
 */
const CALM_MS = 50
const CALM_QUEUE_MS = 5
/** How long a delivery-rate sample counts in a member's estimate. */
const BW_WINDOW_MS = 1_000
/** How long the least round trip stands before a newer sample replaces it (a path changes). */
const MIN_RTT_WINDOW_MS = 10_000
/** The hold after a decrease (the member's queue drains at 1 − `DRAIN_GAIN` of its rate), within these bounds. */
const HOLD_MIN_MS = 5
const HOLD_MAX_MS = 500
/** Sending may run this far ahead of the rate before a burst waits (timers have millisecond resolution). */
const AHEAD_MS = 2
/** Unused rate saved up while idle, at most. */
const SAVED_MS = 10
/** Members remembered at most (their estimates); the one heard of longest ago is forgotten first. */
const MAX_MEMBERS = 1_024

/** A point of a member's progress through the daemon's DATA stream. */
export interface Delivery {
  /** The member has taken the datagram that ends here: bytes handed to `take` until it was sent (`Pacer.sent`). */
  readonly position: number
  /** When that datagram was sent. */
  readonly sentAt: number
  /** Bytes the member reports missing with this point (sent before `position`, never taken). */
  readonly lost: number
}

export interface Pacer {
  /** Milliseconds to wait before sending `bytes` more (0: send now); `now` in ms. Counts the bytes as sent. */
  readonly take: (bytes: number, now: number) => number
  /** Bytes counted as sent so far: the position the next datagram starts at. */
  readonly sent: () => number
  /** `member` has got this far (a MARK answer, a NAK), at `now`. */
  readonly delivered: (member: string, point: Delivery, now: number) => void
  /** `member` answered a request sent at `sentAt`: a round trip. */
  readonly answered: (member: string, sentAt: number, now: number) => void
  readonly rate: () => BytesPerMs
}

interface Member {
  /** Where the current span starts, when that datagram was sent and when the member got there. */
  from: { readonly position: number; readonly sentAt: number; readonly at: number } | undefined
  /** Bytes reported missing since `from`. */
  lost: number
  /** Delivery-rate samples of the last `BW_WINDOW_MS`, oldest first. */
  readonly samples: Array<{ readonly rate: BytesPerMs; readonly at: number }>
  minRtt: number
  minRttAt: number
  /** The queue the newest point showed: its round trip less the least one. */
  queue: number
  /** When its newest point came, and when the datagram it ends with was sent. */
  heardAt: number
  heardSentAt: number
}

export const makePacer = (cap: BytesPerMs | undefined, start: BytesPerMs = START): Pacer => {
  const limit = cap ?? Number.POSITIVE_INFINITY
  let rate = Math.min(start, limit)
  let sent = 0
  /** When the rate was last lowered: only the loss of datagrams sent since may lower it again. */
  let loweredAt = Number.NEGATIVE_INFINITY
  let tokens = 0
  let last: number | undefined
  let limited = false
  /** The positions of the latest sends that found the bucket full (the sender slower than its rate), oldest first. */
  const unhurried: Array<number> = []
  /** Where fast growth ends: the delivery rate congestion last measured (none before any congestion). */
  let ceiling = Number.POSITIVE_INFINITY
  let holdUntil = Number.NEGATIVE_INFINITY
  /** A decrease not yet undone by every member answering calm (`recover`). */
  let recovering = false
  /**
   * The rate has held the sender back since the last decrease (a send overdrew the bucket). Until it has, a queue
   * does not lower it again: the sender is slower than its rate (CPU-bound on small files), so the rate is not
   * what a member queues, and a decrease per hold would compound unseen into the next transfer's start.
   */
  let bound = true
  /** The last point of any member, and until when one showed a queue: growth is fast only when all are calm. */
  let heardAt = Number.NEGATIVE_INFINITY
  let queuedUntil = Number.NEGATIVE_INFINITY
  const members = new Map<string, Member>()

  const memberOf = (address: string): Member => {
    let m = members.get(address)
    if (m !== undefined) {
      // the map keeps insertion order: heard of now, it goes last
      members.delete(address)
    } else {
      m = { from: undefined, lost: 0, samples: [], minRtt: Number.POSITIVE_INFINITY, minRttAt: 0, queue: 0, heardAt: Number.NEGATIVE_INFINITY, heardSentAt: Number.NEGATIVE_INFINITY }
      if (members.size >= MAX_MEMBERS) members.delete(members.keys().next().value!)
    }
    members.set(address, m)
    return m
  }

  const roundTrip = (m: Member, rtt: number, now: number) => {
    if (rtt <= m.minRtt || now - m.minRttAt > MIN_RTT_WINDOW_MS) (m.minRtt = rtt), (m.minRttAt = now)
  }

  /** The member's delivery-rate estimate: the best sample of the window, undefined without one. */
  const bandwidth = (m: Member, now: number): BytesPerMs | undefined => {
    while (m.samples.length > 0 && now - m.samples[0]!.at > BW_WINDOW_MS) m.samples.shift()
    return m.samples.length === 0 ? undefined : Math.max(...m.samples.map((s) => s.rate))
  }

  /** A send in [from, to) of the stream found the bucket full. */
  const unhurriedWithin = (from: number, to: number) => {
    for (let i = unhurried.length - 1; i >= 0 && unhurried[i]! >= from; i--) if (unhurried[i]! < to) return true
    return false
  }

  /**
   * Every member heard of in the last `BW_WINDOW_MS` answered calm on datagrams sent since the last decrease:
   * the queue has drained. The hold ends and the rate goes straight back up to what the slowest of them has been
   * seen to take (its delivery-rate estimate: BBR's cruise at the delivery rate), not by doublings from the low
   * rate the decrease left — a member's warm-up queue (its first file opened, its code compiled) measures a
   * delivery rate far below what it takes a moment later. Nothing while one of them has no estimate yet.
   */
  const recover = (now: number) => {
    let takes = Number.POSITIVE_INFINITY
    for (const m of members.values()) {
      if (now - m.heardAt > BW_WINDOW_MS) continue
      const bw = bandwidth(m, now)
      if (bw === undefined || m.queue >= CALM_QUEUE_MS || m.heardSentAt < loweredAt) return
      takes = Math.min(takes, bw)
    }
    recovering = false
    holdUntil = Math.min(holdUntil, now)
    rate = Math.max(rate, Math.min(limit, takes))
  }

  /**
   * The member is congested: it lost more of a span than chance (`lostShare`), or its queue is long. The rate
   * drops to what it takes, once per overflow: the later news of the same one only keeps it there.
   */
  const congested = (m: Member, lostShare: number, fresh: boolean, now: number) => {
    const bw = bandwidth(m, now)
    const takes = bw === undefined ? Number.POSITIVE_INFINITY : bw * DRAIN_GAIN
    if (!fresh) return void (rate = Math.max(FLOOR, Math.min(rate, takes)))
    const backoff = bw === undefined ? Math.min(BACKOFF, Math.max(MAX_BACKOFF, 1 - lostShare)) : BACKOFF
    rate = Math.max(FLOOR, Math.min(limit, rate * backoff, takes))
    ceiling = rate
    loweredAt = now
    recovering = true
    bound = false
    holdUntil = now + Math.min(HOLD_MAX_MS, Math.max(HOLD_MIN_MS, m.queue / (1 - DRAIN_GAIN)))
  }

  return {
    take: (bytes, now) => {
      const elapsed = last === undefined ? 0 : now - last
      // the time since the last burst was spent held back by the rate (its own short wait: a longer pause is
      // the sender's, a MARK round, not the rate's): it grows by that much
      if (limited && now >= holdUntil) {
        const calm = now - heardAt < CALM_MS && now >= queuedUntil
        const doubling = rate < ceiling || calm ? DOUBLING_MS : PROBE_DOUBLING_MS
        const grown = rate * 2 ** (Math.min(elapsed, SAVED_MS) / doubling)
        // fast growth stops at the ceiling; beyond it the probe goes on slowly
        rate = Math.min(limit, rate < ceiling && grown > ceiling ? ceiling : grown)
      }
      // the first send counts too when a member was heard before it: that point (a manifest's answer) waited for it
      const full = last === undefined ? heardAt > Number.NEGATIVE_INFINITY : tokens + elapsed * rate >= rate * SAVED_MS
      if (full && unhurried.push(sent) > UNHURRIED_KEPT) unhurried.shift()
      tokens = last === undefined ? rate * AHEAD_MS : Math.min(tokens + elapsed * rate, rate * SAVED_MS)
      last = now
      tokens -= bytes
      sent += bytes
      limited = tokens < 0
      if (limited) bound = true
      return tokens >= -rate * AHEAD_MS ? 0 : Math.ceil(-tokens / rate)
    },
    sent: () => sent,
    delivered: (member, { lost, position, sentAt }, now) => {
      const m = memberOf(member)
      m.lost += lost
      roundTrip(m, now - sentAt, now)
      m.queue = Math.max(0, now - sentAt - m.minRtt)
      heardAt = m.heardAt = now
      m.heardSentAt = sentAt
      if (m.queue >= CALM_QUEUE_MS) queuedUntil = now + CALM_MS
      const from = m.from
      let lostShare = 0
      if (from === undefined) (m.from = { position, sentAt, at: now }), (m.lost = 0)
      else if (position > from.position && now - from.at >= SAMPLE_MS) {
        const streamed = position - from.position
        const lostBytes = Math.min(m.lost, streamed)
        // over the longer of the answers' interval and the sends' (BBR): answers held back and then sent at once
        // (a member paused, or a key holder's trick) take a span of sending in the time of one answer
        const sample = (streamed - lostBytes) / Math.max(now - from.at, sentAt - from.sentAt)
        const appLimited = unhurriedWithin(from.position, position)
        const bw = appLimited ? bandwidth(m, now) : undefined
        if (!appLimited || (bw !== undefined && sample > bw)) m.samples.push({ rate: sample, at: now })
        m.from = { position, sentAt, at: now }
        m.lost = 0
        if (lostBytes > RANDOM_LOSS_BYTES && lostBytes > RANDOM_LOSS * streamed) lostShare = lostBytes / streamed
        // only the loss of datagrams sent since the last decrease is news
        if (lostShare > 0) return congested(m, lostShare, from.sentAt >= loweredAt, now)
      }
      // a queue built before the last decrease drains during its hold: only one built since is news, and only once
      // the rate has held the sender back since (`bound`)
      if (m.queue > QUEUE_MS || m.queue * rate > QUEUE_BYTES) congested(m, lostShare, sentAt >= holdUntil && bound, now)
      else if (recovering) recover(now)
    },
    answered: (member, sentAt, now) => roundTrip(memberOf(member), now - sentAt, now),
    rate: () => rate
  }
}
