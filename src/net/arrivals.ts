/**
 * Between a transport's sockets and the daemon's one consumer: each batch of datagrams (a system call's, or an
 * event-loop turn's) goes to the consumer at once, synchronously, from the socket's callback — no queue, fiber or
 * Effect per wake-up. Until a consumer is set (daemon start-up), batches wait, bounded in datagrams; what does
 * not fit is dropped and counted as `overflowed`, like a full socket buffer. A batch's bytes may be views of the
 * transport's receive buffers, read into again once `offer` returns: what waits is a copy.
 */
import type { Datagram } from "./Transport.js"

export type Consumer = (batch: ReadonlyArray<Datagram>) => void

export const makeArrivals = (capacity: number) => {
  let consumer: Consumer | undefined
  let waiting: Array<ReadonlyArray<Datagram>> = []
  let queued = 0
  let overflowed = 0
  return {
    offer: (batch: ReadonlyArray<Datagram>) => {
      if (batch.length === 0) return
      if (consumer !== undefined) return consumer(batch)
      if (queued + batch.length > capacity) return void (overflowed += batch.length)
      queued += batch.length
      waiting.push(batch.map((d) => ({ ...d, bytes: d.bytes.slice() })))
    },
    /** Sets (or, with undefined, removes) the consumer; what waited goes to it first. */
    consume: (next: Consumer | undefined) => {
      consumer = next
      if (next === undefined) return
      const earlier = waiting
      waiting = []
      queued = 0
      for (const batch of earlier) next(batch)
    },
    overflowed: () => overflowed
  }
}
