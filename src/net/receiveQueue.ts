/**
 * Between a live transport's socket and the daemon's one consumer: datagrams are handed over a batch at a time
 * (one queue operation per system call or event-loop turn, not per datagram), bounded in datagrams; what does not
 * fit is dropped and counted as `overflowed`, like a full socket buffer.
 */
import { Chunk, Effect, Queue } from "effect"
import type { Datagram } from "./Transport.js"

export const makeReceiveQueue = (capacity: number) =>
  Effect.gen(function*() {
    const queue = yield* Effect.acquireRelease(Queue.unbounded<ReadonlyArray<Datagram>>(), Queue.shutdown)
    let queued = 0
    let overflowed = 0
    return {
      offer: (batch: ReadonlyArray<Datagram>) => {
        if (batch.length === 0) return
        if (queued + batch.length > capacity) {
          overflowed += batch.length
          return
        }
        queued += batch.length
        queue.unsafeOffer(batch)
      },
      receive: Effect.map(Queue.takeBetween(queue, 1, Number.POSITIVE_INFINITY), (batches): ReadonlyArray<Datagram> => {
        const datagrams = batches.length === 1 ? Chunk.unsafeHead(batches) : Chunk.toReadonlyArray(batches).flat()
        queued -= datagrams.length
        return datagrams
      }),
      overflowed: () => overflowed
    }
  })
