/**
 * Hostile datagrams, for the fuzz test and `npm run soak`: what anyone who reaches the group could send a daemon.
 */
import * as fs from "node:fs"
import { join } from "node:path"
import { Flag, Opcode, SendState } from "../../src/protocol/v7/constants.js"
import type { Payload } from "../../src/protocol/v7/message.js"
import { encode } from "../../src/protocol/v7/codec.js"
import { type Ipv4, type ReqId } from "../../src/protocol/fields.js"

/** The datagrams of makuosan's captures (`test/vectors/`): the seeds of the mutations. */
export const capturedDatagrams = (dir: string): ReadonlyArray<Uint8Array> => fs.readdirSync(dir).filter((f) => f.endsWith(".json")).flatMap((f) =>
    (JSON.parse(fs.readFileSync(join(dir, f), "utf8")) as ReadonlyArray<{ readonly hex?: string }>)
      .filter((v) => typeof v.hex === "string")
      .map((v) => Uint8Array.from(Buffer.from(v.hex!, "hex")))
  )

interface Forged {
  readonly opcode: number
  readonly nstate: number
  readonly reqid: number
  readonly seqno?: number
  readonly flags?: number
  readonly payload: Payload
}

/** The datagram of a forged request to a daemon of `group`:`port`, or undefined when the codec refuses it. */
const encodeForged = (r: Forged, group: string, port: number): Uint8Array | undefined => {
  const encoded = encode({
    header: {
      opcode: r.opcode, nstate: r.nstate, ostate: 0, flags: r.flags ?? 0, reqid: r.reqid as ReqId, seqno: r.seqno ?? 0, maddr: group as Ipv4, mport: port,
      error: 0, hash: new Uint8Array(16)
    },
    payload: r.payload
  })
  return encoded._tag === "Right" ? encoded.right : undefined
}

/** A well-formed request of a forged transfer to a daemon of `group`:`port`: the datagram's bytes. */
export const forgedRequest = (r: Forged, group = "224.0.0.108", port = 5000): Uint8Array => {
  const bytes = encodeForged(r, group, port)
  if (bytes === undefined) throw new Error(`forged request ${r.opcode}/${r.nstate} does not encode`)
  return bytes
}

/**
 * A DSYNC that floods its member with exclude patterns: OPEN, then `batches` DATA datagrams of 341 one-byte
 * patterns each (as many as fit one payload), numbered in order, then the terminator.
 */
export const patternFlood = (reqid: number, batches: number, group?: string, port?: number): Array<Uint8Array> => {
  const patterns = Array.from({ length: 341 }, (_, i) => String.fromCharCode(33 + (i % 90)))
  const request = (nstate: number, seqno: number, payload: Payload) =>
    forgedRequest({ opcode: Opcode.DSYNC, nstate, reqid, seqno, flags: Flag.RECURS, payload }, group, port)
  return [
    request(SendState.OPEN, 0, { _tag: "DsyncPath", path: "." }),
    ...Array.from({ length: batches }, (_, i) => request(SendState.DATA, (i + 1) * patterns.length, { _tag: "ExcludePatterns", patterns })),
    request(SendState.DATA, batches * patterns.length + 1, { _tag: "ExcludePatterns", patterns: [] })
  ]
}

const hostilePaths = ["/etc/evil", "../outside/evil", "a/../../outside/evil", "link/evil", "./../evil", "x\u0000y", "a//b/../../../evil"]

/** A well-formed SEND STAT/OPEN for a hostile path: what the codec accepts and the receiver must refuse. */
const hostileRequest = (path: string, nstate: number, reqid: number): Uint8Array | undefined =>
  encodeForged({
    opcode: Opcode.SEND, nstate, reqid,
    payload: { _tag: "Mstat", mode: 0o104755, uid: 0, gid: 0, size: 5, mtime: 1, ctime: 1, path, linkTarget: "", rdevHigh: 0, rdevLow: 0 }
  }, "224.0.0.108", 5000)

/**
 * The `i`-th datagram of a flood: one in 50 random bytes, one in 50 a well-formed SEND STAT/OPEN for a hostile
 * path, the rest a captured datagram mutated (bytes flipped, cut short, grown, its payload length, opcode,
 * state and flags or the counts and lengths inside its payload replaced).
 */
export const hostileDatagram = (random: () => number, seeds: ReadonlyArray<Uint8Array>, i: number): Uint8Array => {
  const pick = (n: number) => Math.floor(random() * n)
  if (i % 50 === 0) return Uint8Array.from({ length: pick(1500) }, () => pick(256))
  if (i % 50 === 1) return hostileRequest(hostilePaths[pick(hostilePaths.length)]!, pick(2) === 0 ? SendState.STAT : SendState.OPEN, pick(1000)) ?? new Uint8Array(0)
  const seed = seeds[pick(seeds.length)]!
  const out = new Uint8Array(seed)
  switch (pick(6)) {
    case 0:
      // bytes flipped anywhere
      for (let k = pick(4) + 1; k > 0; k--) out[pick(out.length)] = pick(256)
      return out
    case 1:
      return out.subarray(0, pick(out.length))
    case 2: {
      const grown = new Uint8Array(out.length + pick(200) + 1)
      grown.set(out)
      for (let k = out.length; k < grown.length; k++) grown[k] = pick(256)
      return grown
    }
    case 3:
      // the payload length (szdata) replaced
      if (out.length >= 6) new DataView(out.buffer, out.byteOffset).setUint16(4, pick(4) === 0 ? 0xffff : pick(2048))
      return out
    case 4:
      // opcode, state, flags replaced (requests for unknown transfers, ACKs for unknown request ids)
      if (out.length >= 4) (out[1] = pick(8)), (out[2] = pick(20)), (out[3] = pick(256))
      return out
    default:
      // counts and lengths inside the payload: the bytes after the header
      for (let k = 42; k < out.length; k += 1 + pick(6)) out[k] = pick(4) === 0 ? 0xff : pick(256)
      return out
  }
}
