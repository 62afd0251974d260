/**
 * A simulated network and clock for the engine's machines, with no I/O at all: datagrams are dropped,
 * duplicated and delayed (hence reordered) by a seeded generator, events a node schedules for itself (a hash
 * that completes, a deadline) are delivered reliably, and the clock jumps to whatever comes next. A failing
 * case replays from fast-check's seed alone.
 */
import { FastCheck as fc } from "effect"
import { prng } from "../../scripts/lib/prng.js"

export interface NetworkSpec {
  readonly loss: number
  readonly duplicate: number
  readonly maxDelay: number
  readonly seed: number
}

export const networkSpecs = fc.record({
  loss: fc.constantFrom(0, 0.05, 0.2, 0.5),
  duplicate: fc.constantFrom(0, 0.1),
  maxDelay: fc.constantFrom(0, 3, 40),
  seed: fc.integer({ min: 1, max: 0x7fff_ffff })
})

export const perfect = (seed: number): NetworkSpec => ({ loss: 0, duplicate: 0, maxDelay: 0, seed })


export interface Simulation<D> {
  readonly random: () => number
  readonly now: () => number
  /** Over the network: maybe lost, maybe twice, after a random delay. */
  readonly post: (d: D) => void
  /** Reliably, `ms` from now. */
  readonly schedule: (ms: number, d: D) => void
  /**
   * Runs until `done`: delivers what is due first — a datagram or a scheduled event, or the deadline (`expire`)
   * when it comes before them. Returns the datagrams still in flight at the end.
   */
  readonly run: (
    deliver: (d: D) => void,
    deadline: () => number,
    expire: () => void,
    done: () => boolean
  ) => ReadonlyArray<D>
}

export const simulation = <D>(spec: NetworkSpec): Simulation<D> => {
  const random = prng(spec.seed)
  let now = 0
  let seq = 0
  const queue: Array<{ readonly at: number; readonly seq: number; readonly d: D }> = []
  return {
    random,
    now: () => now,
    post: (d) => {
      if (random() < spec.loss) return
      const copies = random() < spec.duplicate ? 2 : 1
      for (let i = 0; i < copies; i++) queue.push({ at: now + Math.floor(random() * (spec.maxDelay + 1)), seq: seq++, d })
    },
    schedule: (ms, d) => void queue.push({ at: now + ms, seq: seq++, d }),
    run: (deliver, deadline, expire, done) => {
      for (let turns = 0; !done() && turns < 1_000_000; turns++) {
        queue.sort((a, b) => a.at - b.at || a.seq - b.seq)
        const next = queue[0]
        if (next !== undefined && next.at <= deadline()) {
          queue.shift()
          now = Math.max(now, next.at)
          deliver(next.d)
          continue
        }
        if (deadline() === Infinity) break
        now = Math.max(now, deadline())
        expire()
      }
      return queue.map((q) => q.d)
    }
  }
}
