/**
 * What waits between the sockets and the daemon's consumer: a batch offered before the consumer is set keeps its
 * bytes though the transport reads the next batch into the same buffers.
 */
import { describe, expect, it } from "vitest"
import { makeArrivals } from "../../src/net/arrivals.js"
import type { Datagram } from "../../src/net/Transport.js"

const from = { address: "127.0.0.2", port: 5000 }

describe("arrivals", () => {
  it("a batch that waits for the consumer is a copy: the receive buffer it was read into is read into again", () => {
    const arrivals = makeArrivals(16)
    const slots = new Uint8Array([1, 2, 3, 4])
    arrivals.offer([{ bytes: slots.subarray(0, 2), from }, { bytes: slots.subarray(2, 4), from }])
    slots.fill(9) // the next batch, read into the same slots
    const got: Array<Array<number>> = []
    arrivals.consume((batch) => void got.push(...batch.map((d: Datagram) => [...d.bytes])))
    expect(got).toEqual([[1, 2], [3, 4]])
  })

  it("a batch for a consumer that is set goes to it as it is, synchronously", () => {
    const arrivals = makeArrivals(16)
    const seen: Array<ReadonlyArray<Datagram>> = []
    arrivals.consume((batch) => void seen.push(batch))
    const batch = [{ bytes: new Uint8Array([7]), from }]
    arrivals.offer(batch)
    expect(seen).toEqual([batch])
    expect(seen[0]).toBe(batch)
  })
})
