/**
 * The in-place DATA layout agrees with the v7 codec: a datagram laid out by `writeDataHeader` is byte for byte
 * what `encode` writes for the same message, and `isDataRequest` recognises exactly the DATA requests that the
 * codec decodes as such (for our group), reading the same request id and block.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { Flag, HEADER_SIZE, Opcode, SendState } from "../../../src/protocol/v7/constants.js"
import { dataBlock, dataReqId, isDataRequest, writeDataHeader } from "../../../src/protocol/v7/dataLayout.js"
import { decode, encode } from "../../../src/protocol/v7/codec.js"
import { message } from "../../support/messages.js"
import { type Ipv4, parseIpv4, type ReqId } from "../../../src/protocol/fields.js"

const runs = { fastCheck: { numRuns: Number(process.env.MAKUO_PROP_RUNS ?? 500) } }

const groupBytes = (maddr: string, mport: number) => new Uint8Array([...parseIpv4(maddr)!, mport >>> 8, mport & 0xff])

const dataMessage = fc.record({
  reqid: fc.nat({ max: 0xffff_ffff }),
  seqno: fc.nat({ max: 0xffff_ffff }),
  flags: fc.constantFrom(0, Flag.DRYRUN, Flag.SYNC, Flag.RECURS),
  ostate: fc.nat({ max: 255 }),
  error: fc.nat({ max: 0xffff_ffff }),
  mport: fc.nat({ max: 0xffff }),
  maddr: fc.ipV4(),
  bytes: fc.uint8Array({ maxLength: 1024 })
}).map((f) => ({
  header: {
    opcode: Opcode.SEND, nstate: SendState.DATA, ostate: f.ostate, flags: f.flags, reqid: f.reqid as ReqId, seqno: f.seqno,
    maddr: f.maddr as Ipv4, mport: f.mport, error: f.error, hash: new Uint8Array(16)
  },
  payload: { _tag: "DataBlock" as const, bytes: f.bytes }
}))

describe("DATA datagrams in place", () => {
  it.prop("writeDataHeader + the block is what encode writes", [dataMessage, fc.nat({ max: 64 })], ([m, at]) => {
    const want = Either.getOrThrow(encode(m))
    const template = Either.getOrThrow(encode({ ...m, header: { ...m.header, seqno: 12345 }, payload: { _tag: "DataBlock", bytes: new Uint8Array(0) } }))
    const out = new Uint8Array(at + want.length).fill(0xee)
    writeDataHeader(out, at, template, m.header.seqno, m.payload.bytes.length)
    out.set(m.payload.bytes, at + HEADER_SIZE)
    expect(out.subarray(at)).toEqual(want)
  }, runs)

  it.prop("isDataRequest holds exactly for unencrypted DATA requests of our group; id and block as decoded", [message], ([m]) => {
    const bytes = Either.getOrThrow(encode(m))
    const ours = groupBytes(m.header.maddr, m.header.mport)
    const h = m.header
    const expected = h.opcode === Opcode.SEND && h.nstate === SendState.DATA && (h.flags & (Flag.ACK | Flag.CRYPT)) === 0
    expect(isDataRequest(bytes, ours)).toBe(expected)
    expect(isDataRequest(bytes, groupBytes(m.header.maddr, (m.header.mport + 1) & 0xffff))).toBe(false)
    if (expected) {
      const decoded = Either.getOrThrow(decode(bytes))
      expect([dataReqId(bytes), dataBlock(bytes)]).toEqual([decoded.header.reqid, decoded.header.seqno])
    }
  }, runs)

  it.prop("a DATA request whose length disagrees with szdata is never taken for one", [dataMessage, fc.integer({ min: -3, max: 3 })], ([m, delta]) => {
    const bytes = Either.getOrThrow(encode(m))
    const ours = groupBytes(m.header.maddr, m.header.mport)
    expect(isDataRequest(bytes, ours)).toBe(true)
    const cut = delta < 0 ? bytes.subarray(0, Math.max(0, bytes.length + delta)) : new Uint8Array([...bytes, ...new Uint8Array(delta)])
    expect(isDataRequest(cut, ours)).toBe(delta === 0)
  }, runs)
})
