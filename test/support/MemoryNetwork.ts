/**
 * An in-memory multicast network for many nodes in one process. Impairments are seeded and per run: loss,
 * duplication, delay (hence reordering) and partitions. Delays sleep on the Effect clock, so under `TestClock`
 * nothing moves until the test advances time.
 */
import { Chunk, Effect, Fiber, FiberSet, Layer, Queue, Runtime, type Scope } from "effect"
import { type Datagram, type Destination, eachDatagram, type Endpoint, type Layout, Transport } from "../../src/net/Transport.js"

export interface Impairments {
  /** Probability that a datagram is lost on one link. */
  readonly loss: number
  /** Probability that a delivered datagram is delivered a second time. */
  readonly duplicate: number
  /** Each delivery is delayed uniformly in [0, maxDelayMs]; distinct delays reorder. */
  readonly maxDelayMs: number
}

export const perfect: Impairments = { loss: 0, duplicate: 0, maxDelayMs: 0 }

interface Node {
  readonly endpoint: Endpoint
  readonly queue: Queue.Queue<Datagram>
}

/** mulberry32: small, fast and seedable, so a failing property run replays exactly. */
const prng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface MemoryNetwork {
  readonly transport: (address: string) => Layer.Layer<Transport>
  readonly setImpairments: (impairments: Impairments) => Effect.Effect<void>
  /** Cuts every link between a node of `a` and a node of `b`, both ways. */
  readonly partition: (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => Effect.Effect<void>
  readonly heal: Effect.Effect<void>
  /** Datagrams put on the wire, by source address. */
  readonly sent: (address: string) => number
  /** Cuts `address` off from everyone once `after` more datagrams have been sent on the network: a crash. */
  readonly crashAfter: (address: string, after: number) => Effect.Effect<void>
  /** Calls `f` with each datagram `address` sends, before it is delivered (a test acting at a precise point). */
  readonly onSend: (address: string, f: (bytes: Uint8Array) => void) => void
}

export const make = (options: { readonly seed: number; readonly port?: number; readonly impairments?: Impairments }): Effect.Effect<MemoryNetwork, never, Scope.Scope> =>
  Effect.gen(function*() {
    const port = options.port ?? 5000
    const group: Endpoint = { address: "224.0.0.108", port }
    const nodes = new Map<string, Node>()
    const cut = new Set<string>()
    const sentBy = new Map<string, number>()
    const random = prng(options.seed)
    let total = 0
    const crashes: Array<{ readonly address: string; readonly at: number }> = []
    const watchers = new Map<string, (bytes: Uint8Array) => void>()
    const isolate = (address: string) => {
      for (const other of nodes.keys()) if (other !== address) cut.add(`${address}|${other}`), cut.add(`${other}|${address}`)
    }
    let impairments = options.impairments ?? perfect
    const delays = yield* FiberSet.make()
    const runFork = yield* FiberSet.runtime(delays)<never>()

    const deliver = (to: Node, d: Datagram) => {
      if (cut.has(`${d.from.address}|${to.endpoint.address}`)) return
      if (random() < impairments.loss) return
      const copies = random() < impairments.duplicate ? 2 : 1
      for (let i = 0; i < copies; i++) {
        const delay = Math.floor(random() * (impairments.maxDelayMs + 1))
        if (delay === 0) to.queue.unsafeOffer(d)
        else runFork(Effect.sleep(delay).pipe(Effect.andThen(() => to.queue.unsafeOffer(d))))
      }
    }

    const transport = (address: string) =>
      Layer.scoped(
        Transport,
        Effect.gen(function*() {
          const queue = yield* Effect.acquireRelease(Queue.unbounded<Datagram>(), Queue.shutdown)
          const self: Node = { endpoint: { address, port }, queue }
          // arrivals reach the consumer from a fiber of their own, never from inside the sender's `send`
          let consumer: ((batch: ReadonlyArray<Datagram>) => void) | undefined
          let pump: Fiber.RuntimeFiber<never> | undefined
          const runFork = Runtime.runFork(yield* Effect.runtime<never>())
          yield* Effect.addFinalizer(() => (pump === undefined ? Effect.void : Fiber.interrupt(pump)))
          yield* Effect.acquireRelease(Effect.sync(() => nodes.set(address, self)), () => Effect.sync(() => nodes.delete(address)))
          const sendOne = (to: Destination, bytes: Uint8Array) => {
            sentBy.set(address, (sentBy.get(address) ?? 0) + 1)
            total++
            for (const c of crashes) if (c.at === total) isolate(c.address)
            watchers.get(address)?.(bytes)
            const d: Datagram = { bytes: bytes.slice(), from: self.endpoint }
            if (to._tag === "Group") {
              // each member's socket has its own copy, as from the kernel: a receiver may work on its bytes in place
              for (const node of nodes.values()) if (node !== self) deliver(node, { ...d, bytes: d.bytes.slice() })
            } else {
              const node = nodes.get(to.address)
              if (node !== undefined && node !== self && to.port === port) deliver(node, d)
            }
          }
          const send = (to: Destination, bytes: Uint8Array, layout?: Layout) => eachDatagram(bytes, layout, (datagram) => sendOne(to, datagram))
          return Transport.of({
            local: self.endpoint,
            group,
            send,
            sendSegments: (to, bytes, segment) => Effect.sync(() => send(to, bytes, segment)),
            consume: (next) => {
              consumer = next
              if (next === undefined || pump !== undefined) return
              pump = runFork(Effect.forever(Effect.flatMap(Queue.takeBetween(queue, 1, Number.POSITIVE_INFINITY), (batch) =>
                Effect.sync(() => consumer?.(Chunk.toReadonlyArray(batch))))))
            },
            stats: Effect.succeed({ io: "memory", overflowed: 0, kernelDrops: null, sendErrors: 0 })
          })
        })
      )

    return {
      transport,
      setImpairments: (next) => Effect.sync(() => void (impairments = next)),
      partition: (a, b) =>
        Effect.sync(() => {
          for (const x of a) for (const y of b) cut.add(`${x}|${y}`), cut.add(`${y}|${x}`)
        }),
      heal: Effect.sync(() => cut.clear()),
      sent: (address) => sentBy.get(address) ?? 0,
      crashAfter: (address, after) => Effect.sync(() => void crashes.push({ address, at: total + after })),
      onSend: (address, f) => void watchers.set(address, f)
    }
  })
