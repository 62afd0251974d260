/**
 * The pacer's rules against simulated members, with a simulated clock (one step per millisecond): a member takes
 * at most `capacity` bytes a millisecond from a socket buffer of `buffer` bytes, drops what does not fit (and,
 * if told so, a share of everything at random), and answers the sender's probes (a MARK sent now and then during
 * DATA, one at a time) once it has taken everything sent before them, naming the bytes it lost since its last
 * answer — the two things protocol v7 tells a sender (and a transaction's Probe and Progress).
 */
import { describe, expect, it } from "@effect/vitest"
import { makePacer, type Pacer } from "../../src/transfer/pacer.js"

const DATAGRAM = 1066
const BURST = 60
const PROBE_MS = 10

interface SimMember {
  readonly name: string
  /** Bytes per millisecond it takes, at `now`. */
  readonly capacity: (now: number) => number
  readonly buffer: number
  /** Share of datagrams lost at random (a lossy link). */
  readonly randomLoss: number
}

interface Queued {
  readonly bytes: number
  /** Where the datagram ends in the stream. */
  readonly position: number
  /** A probe: where the stream was and when it was sent. */
  readonly probe?: { readonly position: number; readonly sentAt: number }
}

/**
 * Sends as fast as `pacer` lets it for `ms` milliseconds; what was sent and lost, and the rate every millisecond.
 * Probes go one at a time (v7's MARK), or with `everyProbe` every `PROBE_MS` whatever came back (a transaction's).
 */
const simulate = (pacer: Pacer, members: ReadonlyArray<SimMember>, ms: number, everyProbe = false) => {
  // a fixed linear congruential generator: the "random" loss is the same on every run
  let seed = 12345
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  // `lost`: the positions of the datagrams lost and not yet named (an answer names those sent before its probe)
  const state = members.map((m) => ({ m, queue: [] as Array<Queued>, queued: 0, budget: 0, lost: [] as Array<number>, lostTotal: 0, answered: true }))
  const sentAt: Array<number> = []
  const rates: Array<number> = []
  let nextSend = 0
  let lastProbe = Number.NEGATIVE_INFINITY
  const arrive = (s: typeof state[number], q: Queued) => {
    if (q.probe === undefined && (s.queued + q.bytes > s.m.buffer || random() < s.m.randomLoss)) {
      s.lost.push(q.position)
      s.lostTotal += q.bytes
      return
    }
    s.queue.push(q)
    s.queued += q.bytes
  }
  for (let now = 0; now < ms; now++) {
    if (now - lastProbe >= PROBE_MS && (everyProbe || state.every((s) => s.answered))) {
      lastProbe = now
      for (const s of state) (s.answered = false), arrive(s, { bytes: 0, position: pacer.sent(), probe: { position: pacer.sent(), sentAt: now } })
    }
    for (let bursts = 0; nextSend <= now && bursts < 20; bursts++) {
      const bytes = BURST * DATAGRAM
      const start = pacer.sent()
      for (const s of state) for (let i = 0; i < BURST; i++) arrive(s, { bytes: DATAGRAM, position: start + (i + 1) * DATAGRAM })
      sentAt.push(now)
      nextSend = now + pacer.take(bytes, now)
    }
    for (const s of state) {
      s.budget += s.m.capacity(now)
      while (s.queue.length > 0 && s.queue[0]!.bytes <= s.budget) {
        const q = s.queue.shift()!
        s.budget -= q.bytes
        s.queued -= q.bytes
        if (q.probe !== undefined) {
          const named = s.lost.filter((p) => p <= q.probe!.position)
          s.lost = s.lost.filter((p) => p > q.probe!.position)
          pacer.delivered(s.m.name, { position: q.probe.position, sentAt: q.probe.sentAt, lost: named.length * DATAGRAM }, now + 1)
          s.answered = true
        }
      }
      if (s.queue.length === 0) s.budget = 0
    }
    rates.push(pacer.rate())
  }
  /** Bytes sent in [from, to). */
  const sentBetween = (from: number, to: number) => sentAt.filter((t) => t >= from && t < to).length * BURST * DATAGRAM
  return { sent: sentAt.length * BURST * DATAGRAM, lost: state.map((s) => s.lostTotal), rates, sentBetween }
}

const member = (name: string, capacity: (now: number) => number, randomLoss = 0): SimMember => ({ name, capacity, buffer: 4_000_000, randomLoss })

describe("pacer", () => {
  it("a slow member: the rate converges near what it takes, and it loses little", () => {
    const pacer = makePacer(undefined)
    const slow = 20_000 // 20 MB/s, the pacer starts at 50
    const { lost, sent, sentBetween } = simulate(pacer, [member("fast", () => 200_000), member("slow", () => slow)], 6_000)
    // what went out in the last three seconds: near what the slowest member takes, not far below it
    const rate = sentBetween(3_000, 6_000) / 3_000
    expect(rate).toBeGreaterThan(0.7 * slow)
    expect(rate).toBeLessThan(1.1 * slow)
    expect(lost[1]! / sent).toBeLessThan(0.05)
    expect(lost[0]).toBe(0)
  })

  it("the first overflow takes the rate down to what the member takes in one step, not by halves", () => {
    const pacer = makePacer(undefined, 200_000)
    const { rates } = simulate(pacer, [member("slow", () => 10_000)], 400)
    // within the first feedback the rate is near 10 MB/s, not 100 (what halving would leave)
    expect(Math.min(...rates)).toBeLessThan(15_000)
  })

  it("a sender slower than its rate (warming up, paused) is not what a member takes: a queue then lowers the rate a step, not to what was sent", () => {
    const pacer = makePacer(undefined, 50_000)
    let now = 0
    // one burst every 20 ms, ~3 MB/s while 50 are allowed; each answered at once
    for (let i = 0; i < 20; i++, now += 20) {
      pacer.take(BURST * DATAGRAM, now)
      pacer.delivered("m", { position: pacer.sent(), sentAt: now, lost: 0 }, now + 2)
    }
    // then an answer that waited 50 ms in the member's buffer
    pacer.take(BURST * DATAGRAM, now)
    pacer.delivered("m", { position: pacer.sent(), sentAt: now, lost: 0 }, now + 52)
    expect(pacer.rate()).toBeGreaterThanOrEqual(0.8 * 50_000)
  })

  it("a sender slower than its rate for long, its members queueing all along (descheduled on a loaded host): the rate is lowered once, not a step per hold", () => {
    const pacer = makePacer(undefined, 50_000)
    let now = 0
    // 3 s of one burst every 10 ms (~6 MB/s while 50 are allowed), every answer 60-240 ms late: the lab's small-file
    // send with other work on its two cores
    for (let i = 0; i < 300; i++, now += 10) {
      pacer.take(BURST * DATAGRAM, now)
      pacer.delivered("m", { position: pacer.sent(), sentAt: now, lost: 0 }, now + 60 + (i % 4) * 60)
    }
    // one step down (as above), not 0.8^n: the next transfer starts from here
    expect(pacer.rate()).toBeGreaterThanOrEqual(0.8 * 50_000)
  })

  it("a CPU-bound sender whose member takes everything but answers late (short of CPU, not of buffer): the rate does not fall step by step below what is sent", () => {
    const pacer = makePacer(undefined, 50_000)
    // the sender as fast as the rate lets it, and CPU-bound itself: two bursts back to back, then 20 ms (~6 MB/s,
    // the lab's K = 2 small-file send); each burst's answer 60-240 ms late
    const answers: Array<{ readonly at: number; readonly position: number; readonly sentAt: number }> = []
    let next = 0
    for (let now = 0, i = 0; now < 6_000; now++) {
      while (answers.length > 0 && answers[0]!.at <= now) {
        const a = answers.shift()!
        pacer.delivered("m", { position: a.position, sentAt: a.sentAt, lost: 0 }, now)
      }
      if (now < next) continue
      const wait = pacer.take(BURST * DATAGRAM, now)
      answers.push({ at: now + 60 + (i++ % 4) * 60, position: pacer.sent(), sentAt: now })
      answers.sort((x, y) => x.at - y.at)
      next = now + Math.max(wait, i % 2 === 0 ? 20 : 1)
    }
    // one decrease, not one per hold: before, 3.5 MB/s after 6 s, below the sender's own pace, which it then held
    expect(pacer.rate()).toBeGreaterThan(20_000)
  })

  it("once the rate holds the sender back again, a queue lowers it again", () => {
    const pacer = makePacer(undefined, 50_000)
    let now = 0
    // answered at once (the least round trip), then after 50 ms in the member's buffer
    for (const late of [2, 52]) {
      pacer.take(BURST * DATAGRAM, now)
      pacer.delivered("m", { position: pacer.sent(), sentAt: now, lost: 0 }, now + late)
      now += 20
    }
    const once = pacer.rate()
    expect(once).toBeLessThan(50_000)
    // past the hold, the sender now faster than the rate: bursts back to back overdraw the bucket
    now += 1_000
    for (let i = 0; i < 10; i++) pacer.take(BURST * DATAGRAM, now)
    pacer.delivered("m", { position: pacer.sent(), sentAt: now, lost: 0 }, now + 50)
    expect(pacer.rate()).toBeLessThan(once)
  })

  it("the first data after a pause (a transaction's files hashed after its manifest was answered) is not the member's rate either", () => {
    const pacer = makePacer(undefined, 50_000)
    // the manifest's answer, before any data; the data starts 800 ms later
    pacer.delivered("m", { position: 0, sentAt: 0, lost: 0 }, 5)
    pacer.take(BURST * DATAGRAM, 800)
    // its first probe answered after 45 ms in the member's buffer
    pacer.delivered("m", { position: pacer.sent(), sentAt: 800, lost: 0 }, 850)
    expect(pacer.rate()).toBeGreaterThanOrEqual(0.8 * 50_000)
  })

  it("a member that speeds up: the rate probes up and follows it", () => {
    const pacer = makePacer(undefined)
    const { lost, sent, sentBetween } = simulate(pacer, [member("m", (now) => (now < 3_000 ? 20_000 : 80_000))], 9_000)
    expect(sentBetween(1_000, 3_000) / 2_000).toBeLessThan(1.1 * 20_000)
    expect(sentBetween(6_000, 9_000) / 3_000).toBeGreaterThan(0.7 * 80_000)
    expect(lost[0]! / sent).toBeLessThan(0.05)
  })

  it("a member's warm-up queue: once it drains the rate is back at what the member takes, not climbing from the warm-up's rate", () => {
    const pacer = makePacer(undefined)
    const fast = 250_000
    // its first 100 ms (a file opened, code compiled) it takes 15 MB/s; then 250
    const { lost, sent, sentBetween } = simulate(pacer, [member("m", (now) => (now < 100 ? 15_000 : fast))], 1_000)
    // the warm-up's queue takes the rate down to ~11 MB/s; the 350 ms after it drained go out near 250, not
    // climbing back by doublings from 11
    expect(sentBetween(150, 500) / 350).toBeGreaterThan(0.4 * fast)
    expect(lost[0]! / sent).toBeLessThan(0.05)
  })

  it("a fast member's socket buffer (a kernel's rmem_max: ~16 ms at 250 MB/s) does not overflow before its queue tells", () => {
    const fast = 250_000
    const { lost, sent, sentBetween } = simulate(makePacer(undefined), [member("m", () => fast)], 2_000, true)
    // a queue of QUEUE_MS at this rate is more than the buffer holds: loss would be the first news
    expect(lost[0]! / sent).toBeLessThan(0.01)
    expect(sentBetween(1_000, 2_000) / 1_000).toBeGreaterThan(0.7 * fast)
  })

  it("a member that stalls, then takes and answers all it queued at once, is not taken for a fast one", () => {
    const pacer = makePacer(undefined)
    const takes = 10_000
    // it takes 10 MB/s, but nothing for 300 ms, then all that waited at once (a pause, or a key holder's trick)
    const stall = { from: 2_000, to: 2_300 }
    const capacity = (now: number) => (now < stall.from || now > stall.to ? takes : now === stall.to ? takes * (stall.to - stall.from) : 0)
    const { rates, sentBetween } = simulate(pacer, [member("m", capacity)], 3_500, true)
    // the answers after it span 300 ms of sending, but come over the span of a few probes: a delivery rate of the
    // answers' interval alone would be ~15× what it takes, and the rate would go straight there once it drained
    expect(Math.max(...rates.slice(stall.to))).toBeLessThan(2 * takes)
    expect(sentBetween(stall.to, 3_500) / (3_500 - stall.to)).toBeLessThan(1.2 * takes)
  })

  it("a decrease ends at the first answer that shows the queue drained, not a while after it", () => {
    const pacer = makePacer(undefined, 100_000)
    let now = 0
    /** Sends at the rate each millisecond until `t`; a probe (where the stream is, when) at `t`. */
    const sendUntil = (t: number) => {
      for (; now < t; now++) pacer.take(pacer.rate(), now)
      return { position: pacer.sent(), sentAt: now, lost: 0 }
    }
    for (let t = 10; t <= 300; t += 10) pacer.delivered("m", sendUntil(t), t + 1)
    const before = pacer.rate()
    // a queue of 30 ms (a member's pause), then answers of data sent since: 15 ms, 8 ms, and drained
    pacer.delivered("m", sendUntil(310), 341)
    sendUntil(341)
    const lowered = pacer.rate()
    expect(lowered).toBeLessThan(0.8 * before)
    for (const [sent, queue] of [[350, 15], [360, 8]] as const) pacer.delivered("m", sendUntil(sent), sent + 1 + queue)
    pacer.delivered("m", sendUntil(370), 371)
    // back at what it was measured to take (~`before`), at once: a drained queue is no reason to send less
    expect(pacer.rate()).toBeGreaterThan(0.9 * before)
  })

  it("1 % random loss does not collapse the rate", () => {
    const pacer = makePacer(undefined)
    const capacity = 50_000
    const { sentBetween } = simulate(pacer, [member("lossy", () => capacity, 0.01), member("clean", () => capacity)], 6_000)
    const lossFree = simulate(makePacer(undefined), [member("a", () => capacity), member("b", () => capacity)], 6_000)
    expect(sentBetween(2_000, 6_000)).toBeGreaterThan(0.85 * lossFree.sentBetween(2_000, 6_000))
  })

  it("--rate is a hard cap, whatever the members take", () => {
    const cap = 10_000
    const pacer = makePacer(cap, 50_000)
    const { rates, sentBetween } = simulate(pacer, [member("fast", () => 500_000)], 3_000)
    expect(Math.max(...rates)).toBeLessThanOrEqual(cap)
    // a burst may run ~2 ms of sending ahead of the rate
    expect(sentBetween(1_000, 3_000)).toBeLessThanOrEqual(cap * 2_000 + 3 * BURST * DATAGRAM)
  })
})
