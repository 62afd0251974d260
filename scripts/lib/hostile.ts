/**
 * Hostile datagrams, for the fuzz test and `npm run soak`: what anyone who reaches the group could send a daemon.
 */
import * as fs from "node:fs"
import { join } from "node:path"
import { Opcode, SendState } from "../../src/protocol/constants.js"
import type { Ipv4, ReqId } from "../../src/protocol/message.js"
import { encode } from "../../src/protocol/v7.js"

/** The datagrams of makuosan's captures (`test/vectors/`): the seeds of the mutations. */
export const capturedDatagrams = (dir: string): ReadonlyArray<Uint8Array> => fs.readdirSync(dir).filter((f) => f.endsWith(".json")).flatMap((f) =>
    (JSON.parse(fs.readFileSync(join(dir, f), "utf8")) as ReadonlyArray<{ readonly hex?: string }>)
      .filter((v) => typeof v.hex === "string")
      .map((v) => Uint8Array.from(Buffer.from(v.hex!, "hex")))
  )

const hostilePaths = ["/etc/evil", "../outside/evil", "a/../../outside/evil", "link/evil", "./../evil", "x\u0000y", "a//b/../../../evil"]

/** A well-formed SEND STAT/OPEN for a hostile path: what the codec accepts and the receiver must refuse. */
const hostileRequest = (path: string, nstate: number, reqid: number): Uint8Array | undefined => {
  const r = encode({
    header: {
      opcode: Opcode.SEND, nstate, ostate: 0, flags: 0, reqid: reqid as ReqId, seqno: 0, maddr: "224.0.0.108" as Ipv4, mport: 5000, error: 0,
      hash: new Uint8Array(16)
    },
    payload: { _tag: "Mstat", mode: 0o104755, uid: 0, gid: 0, size: 5, mtime: 1, ctime: 1, path, linkTarget: "", rdevHigh: 0, rdevLow: 0 }
  })
  return r._tag === "Right" ? r.right : undefined
}

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
