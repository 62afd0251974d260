import { Chunk, Effect, Stream } from "effect"
import type { Datagram, TransportShape } from "../../src/net/Transport.js"

/**
 * A transport's arrivals as a stream, for tests that take a few of them (its consumer while the stream runs). The
 * stream outlives the consumer's call, so each datagram's bytes are copied out of the transport's receive buffers.
 */
export const incoming = (t: TransportShape): Stream.Stream<Datagram> =>
  Stream.asyncPush<Datagram>((emit) =>
    Effect.acquireRelease(
      Effect.sync(() => t.consume((batch) => void emit.chunk(Chunk.unsafeFromArray(batch.map((d) => ({ ...d, bytes: d.bytes.slice() })))))),
      () => Effect.sync(() => t.consume(undefined))
    ), { bufferSize: "unbounded" })
