import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { paddedLength, swapHalves } from "../../../src/protocol/v7/crypt.js"
import type { Message } from "../../../src/protocol/v7/message.js"
import { decode, encode } from "../../../src/protocol/v7/codec.js"

interface Vector {
  readonly hex: string
  readonly decoded: {
    readonly opcode: { readonly number: number }
    readonly nstate: { readonly number: number }
    readonly ostate: number
    readonly szdata: number
    readonly flags: { readonly value: number }
    readonly reqid: number
    readonly seqno: number
    readonly maddr: string
    readonly mport: number
    readonly error: number
    readonly hash: string
    readonly payload: Record<string, any> & { readonly kind: string }
  }
}

const dir = join(import.meta.dirname, "..", "..", "vectors")
const files = readdirSync(dir).filter((f) => f.endsWith(".json"))
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")

/** What an encoder can reproduce of a -k datagram: its pad bytes are stale memory, so they are zeroed. */
const withZeroPad = (bytes: Uint8Array, szdata: number): Uint8Array => {
  const out = bytes.slice()
  const body = out.subarray(42)
  swapHalves(body, body)
  body.fill(0, szdata, paddedLength(szdata))
  swapHalves(body, body)
  return out
}

const expectPayload = (m: Message, want: Vector["decoded"]["payload"], szdata: number) => {
  const p = m.payload
  switch (want.kind) {
    case "mping":
      expect(p).toMatchObject({ _tag: "Mping", hostname: want.hostname, version: want.version })
      break
    case "mstat":
      expect(p).toMatchObject({
        _tag: "Mstat", mode: want.mode, uid: want.uid, gid: want.gid, size: want.size, mtime: want.mtime,
        ctime: want.ctime, path: want.path, linkTarget: want.link_target, rdevHigh: want.rdev_high,
        rdevLow: want.rdev_low
      })
      break
    case "data_block":
      expect(p._tag).toBe("DataBlock")
      expect(m.header.seqno).toBe(want.block)
      expect(p._tag === "DataBlock" && p.bytes.length).toBe(want.length)
      break
    case "ranges":
      expect(p).toEqual({ _tag: "Ranges", ranges: want.ranges_half_open })
      break
    case "mhash":
      expect(p._tag).toBe("Mhash")
      expect(p._tag === "Mhash" && [hex(p.digest), p.path]).toEqual([want.md5, want.path])
      break
    case "dsync_path":
      expect(p).toEqual({ _tag: "DsyncPath", path: want.path })
      break
    case "exclude_patterns":
      expect(p).toEqual({ _tag: "ExcludePatterns", patterns: want.patterns })
      break
    case "del_records":
      expect(p._tag).toBe("DelRecords")
      expect(p._tag === "DelRecords" && p.records.map((r) => ({ L: Buffer.byteLength(r.path) + 4, X: r.value, path: r.path })))
        .toEqual(want.records)
      break
    case "stale":
      expect(p._tag).toBe("Opaque")
      expect(p._tag === "Opaque" && p.bytes.length).toBe(szdata)
      break
    case "empty":
      expect(szdata).toBe(0)
      break
    default:
      throw new Error(`vector payload kind ${want.kind} has no check`)
  }
}

describe("makuosan 1.3.6 captures", () => {
  for (const file of files) {
    const vectors = JSON.parse(readFileSync(join(dir, file), "utf8")) as ReadonlyArray<Vector>
    it(`${file}: ${vectors.length} datagrams decode to their fields and encode to the same bytes`, () => {
      expect(vectors.length).toBeGreaterThan(0)
      vectors.forEach((vector, index) => {
        const bytes = new Uint8Array(Buffer.from(vector.hex, "hex"))
        const d = vector.decoded
        const result = decode(bytes)
        if (Either.isLeft(result)) throw new Error(`${file}[${index}]: ${result.left.message}`)
        const m = result.right
        expect({ ...m.header, hash: hex(m.header.hash) }, `${file}[${index}] header`).toEqual({
          opcode: d.opcode.number, nstate: d.nstate.number, ostate: d.ostate, flags: d.flags.value,
          reqid: d.reqid, seqno: d.seqno, maddr: d.maddr, mport: d.mport, error: d.error, hash: d.hash
        })
        expectPayload(m, d.payload, d.szdata)
        const encoded = Either.getOrThrow(encode(m))
        const want = (d.flags.value & 2) !== 0 && d.szdata > 0 ? withZeroPad(bytes, d.szdata) : bytes
        expect(hex(encoded), `${file}[${index}] re-encoding`).toBe(hex(want))
      })
    })
  }
})
