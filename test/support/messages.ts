/** fast-check generators for v7 messages whose payload kind matches their header (the encodable ones). */
import { Arbitrary, FastCheck as fc } from "effect"
import { Flag } from "../../src/protocol/v7/constants.js"
import { md5 } from "../../src/protocol/v7/crypt.js"
import * as M from "../../src/protocol/v7/message.js"
import { payloadKind } from "../../src/protocol/v7/payloadKind.js"
import { serializePayload } from "../../src/protocol/v7/payloadCodec.js"

const payloadArbitraries: { readonly [K in M.PayloadTag]: fc.Arbitrary<M.PayloadOf<K>> } = {
  Mping: Arbitrary.make(M.Mping),
  Mstat: Arbitrary.make(M.Mstat),
  DataBlock: Arbitrary.make(M.DataBlock),
  Ranges: Arbitrary.make(M.Ranges),
  Mhash: Arbitrary.make(M.Mhash),
  DsyncPath: Arbitrary.make(M.DsyncPath),
  ExcludePatterns: Arbitrary.make(M.ExcludePatterns),
  DelRecords: Arbitrary.make(M.DelRecords),
  Opaque: Arbitrary.make(M.Opaque)
}

const header = Arbitrary.make(M.Header).chain((h) =>
  // opcodes 0-5 and 6-7 (unknown) and the real state numbers are where the interesting layouts are
  fc.record({ opcode: fc.integer({ min: 0, max: 7 }), nstate: fc.oneof(fc.integer({ min: 0, max: 13 }), fc.constant(90)) })
    .map(({ opcode, nstate }) => ({ ...h, opcode, nstate }))
)

/** A message as the decoder returns it: with CRYPT the header hash is the MD5 of the payload (zero if empty). */
export const message: fc.Arbitrary<M.Message> = header.chain((h) =>
  (payloadArbitraries[payloadKind(h.opcode, h.flags, h.nstate)] as fc.Arbitrary<M.Payload>).map((payload) => {
    if ((h.flags & Flag.CRYPT) === 0) return { header: h, payload }
    const body = serializePayload(payload)!
    return { header: { ...h, hash: body.length > 0 ? md5(body) : new Uint8Array(16) }, payload }
  })
)
