import { Chunk, Effect, Stream } from "effect"
import type { Datagram, TransportShape } from "../../src/net/Transport.js"

/** A transport's arrivals as a stream, for tests that take a few of them. */
export const incoming = (t: TransportShape): Stream.Stream<Datagram> =>
  Stream.repeatEffectChunk(Effect.map(t.receive, Chunk.unsafeFromArray))
