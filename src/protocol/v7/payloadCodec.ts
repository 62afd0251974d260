/**
 * Byte layouts of the v7 payloads (makuosan-v7.md §2.7). Parsers check every inner length against the bytes that are
 * really there and return a reason string instead of reading past the end.
 */
import { MAX_PAYLOAD, MSTAT_FIXED } from "./constants.js"
import type { DelRecord, Payload, PayloadOf, PayloadTag } from "./message.js"
import { decodeName, utf8Bytes } from "../text.js"
import { MAX_HOSTNAME, MAX_VERSION } from "../fields.js"

export type Parsed = Payload | string

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)

export const isReason = (x: Parsed): x is string => typeof x === "string"

const parseMping = (p: Uint8Array): Parsed => {
  if (p.length < 4) return `mping shorter than 4 bytes (${p.length})`
  const v = view(p)
  const hl = v.getUint16(0)
  const vl = v.getUint16(2)
  if (hl > MAX_HOSTNAME) return `hostname length ${hl} > ${MAX_HOSTNAME}`
  if (vl > MAX_VERSION) return `version length ${vl} > ${MAX_VERSION}`
  if (4 + hl + vl !== p.length) return `mping lengths ${hl}+${vl} do not fill ${p.length - 4} bytes`
  const hostname = decodeName(p.subarray(4, 4 + hl))
  const version = decodeName(p.subarray(4 + hl))
  if (hostname === undefined) return "hostname is not UTF-8 text without NUL"
  if (version === undefined) return "version is not UTF-8 text without NUL"
  return { _tag: "Mping", hostname, version }
}

const parseMstat = (p: Uint8Array): Parsed => {
  if (p.length < MSTAT_FIXED) return `mstat shorter than ${MSTAT_FIXED} bytes (${p.length})`
  const v = view(p)
  const fnLen = v.getUint16(24)
  const lnLen = v.getUint16(26)
  if (MSTAT_FIXED + fnLen + lnLen !== p.length) return `mstat name lengths ${fnLen}+${lnLen} do not fill ${p.length} bytes`
  const sizeHigh = v.getUint32(12)
  if (sizeHigh >= 0x200000) return `file size high word ${sizeHigh} beyond 2^53`
  const path = decodeName(p.subarray(28, 28 + fnLen))
  const linkTarget = decodeName(p.subarray(28 + fnLen, 28 + fnLen + lnLen))
  if (path === undefined) return "path is not UTF-8 text without NUL"
  if (linkTarget === undefined) return "link target is not UTF-8 text without NUL"
  const tail = 28 + fnLen + lnLen
  return {
    _tag: "Mstat",
    mode: v.getUint32(0),
    uid: v.getUint16(4),
    gid: v.getUint16(6),
    size: sizeHigh * 0x1_0000_0000 + v.getUint32(8),
    mtime: v.getUint32(16),
    ctime: v.getUint32(20),
    path,
    linkTarget,
    rdevHigh: v.getUint32(tail),
    rdevLow: v.getUint32(tail + 4)
  }
}

const parseRanges = (p: Uint8Array): Parsed => {
  if (p.length % 8 !== 0) return `range list of ${p.length} bytes is not a multiple of 8`
  const v = view(p)
  const ranges: Array<readonly [number, number]> = []
  for (let o = 0; o < p.length; o += 8) ranges.push([v.getUint32(o), v.getUint32(o + 4)])
  return { _tag: "Ranges", ranges }
}

const parseMhash = (p: Uint8Array): Parsed => {
  if (p.length < 18) return `mhash shorter than 18 bytes (${p.length})`
  const fnLen = view(p).getUint16(16)
  if (18 + fnLen !== p.length) return `mhash name length ${fnLen} does not fill ${p.length - 18} bytes`
  const path = decodeName(p.subarray(18))
  if (path === undefined) return "path is not UTF-8 text without NUL"
  return { _tag: "Mhash", digest: p.slice(0, 16), path }
}

const parseDsyncPath = (p: Uint8Array): Parsed => {
  const path = decodeName(p)
  return path === undefined ? "dsync path is not UTF-8 text without NUL" : { _tag: "DsyncPath", path }
}

const parseExcludePatterns = (p: Uint8Array): Parsed => {
  const v = view(p)
  const patterns: Array<string> = []
  for (let o = 0; o < p.length;) {
    if (o + 2 > p.length) return `exclude pattern length cut at byte ${o}`
    const len = v.getUint16(o)
    if (o + 2 + len > p.length) return `exclude pattern length ${len} at byte ${o} runs past ${p.length}`
    const pattern = decodeName(p.subarray(o + 2, o + 2 + len))
    if (pattern === undefined) return "exclude pattern is not UTF-8 text without NUL"
    patterns.push(pattern)
    o += 2 + len
  }
  return { _tag: "ExcludePatterns", patterns }
}

const parseDelRecords = (p: Uint8Array): Parsed => {
  const v = view(p)
  const records: Array<DelRecord> = []
  for (let o = 0; o < p.length;) {
    if (o + 6 > p.length) return `DEL record header cut at byte ${o}`
    const l = v.getUint16(o)
    if (l < 4 || o + 2 + l > p.length) return `DEL record length ${l} at byte ${o} does not fit ${p.length}`
    const path = decodeName(p.subarray(o + 6, o + 2 + l))
    if (path === undefined) return "DEL path is not UTF-8 text without NUL"
    records.push({ value: v.getUint32(o + 2), path })
    o += 2 + l
  }
  return { _tag: "DelRecords", records }
}

export const parsePayload = (kind: PayloadTag, p: Uint8Array): Parsed => {
  switch (kind) {
    case "Mping":
      return parseMping(p)
    case "Mstat":
      return parseMstat(p)
    case "DataBlock":
      return { _tag: "DataBlock", bytes: p }
    case "Ranges":
      return parseRanges(p)
    case "Mhash":
      return parseMhash(p)
    case "DsyncPath":
      return parseDsyncPath(p)
    case "ExcludePatterns":
      return parseExcludePatterns(p)
    case "DelRecords":
      return parseDelRecords(p)
    case "Opaque":
      return { _tag: "Opaque", bytes: p }
    default:
      return kind satisfies never
  }
}

// == encoding

/** Appends big-endian fields into a fixed 1024-byte scratch; `undefined` when the payload would not fit. */
class Writer {
  readonly buf = new Uint8Array(MAX_PAYLOAD)
  private readonly v = new DataView(this.buf.buffer)
  n = 0
  ok = true
  private room(k: number): boolean {
    if (this.n + k > MAX_PAYLOAD) this.ok = false
    return this.ok
  }
  u16(x: number) {
    if (this.room(2)) this.v.setUint16(this.n, x), (this.n += 2)
  }
  u32(x: number) {
    if (this.room(4)) this.v.setUint32(this.n, x), (this.n += 4)
  }
  bytes(b: Uint8Array) {
    if (this.room(b.length)) this.buf.set(b, this.n), (this.n += b.length)
  }
  result(): Uint8Array | undefined {
    return this.ok ? this.buf.slice(0, this.n) : undefined
  }
}

const encodeMping = (w: Writer, p: PayloadOf<"Mping">) => {
  const h = utf8Bytes(p.hostname)
  const ver = utf8Bytes(p.version)
  w.u16(h.length), w.u16(ver.length), w.bytes(h), w.bytes(ver)
}

const encodeMstat = (w: Writer, p: PayloadOf<"Mstat">) => {
  const fn = utf8Bytes(p.path)
  const ln = utf8Bytes(p.linkTarget)
  w.u32(p.mode), w.u16(p.uid), w.u16(p.gid)
  w.u32(p.size % 0x1_0000_0000), w.u32(Math.floor(p.size / 0x1_0000_0000))
  w.u32(p.mtime), w.u32(p.ctime), w.u16(fn.length), w.u16(ln.length)
  w.bytes(fn), w.bytes(ln), w.u32(p.rdevHigh), w.u32(p.rdevLow)
}

const encodeInto = (w: Writer, p: Payload): void => {
  switch (p._tag) {
    case "Mping":
      return encodeMping(w, p)
    case "Mstat":
      return encodeMstat(w, p)
    case "DataBlock":
    case "Opaque":
      return w.bytes(p.bytes)
    case "Ranges":
      for (const [low, high] of p.ranges) w.u32(low), w.u32(high)
      return
    case "Mhash": {
      const fn = utf8Bytes(p.path)
      return w.bytes(p.digest), w.u16(fn.length), w.bytes(fn)
    }
    case "DsyncPath":
      return w.bytes(utf8Bytes(p.path))
    case "ExcludePatterns":
      for (const pattern of p.patterns) {
        const b = utf8Bytes(pattern)
        w.u16(b.length), w.bytes(b)
      }
      return
    case "DelRecords":
      for (const r of p.records) {
        const b = utf8Bytes(r.path)
        w.u16(b.length + 4), w.u32(r.value), w.bytes(b)
      }
      return
    default:
      return p satisfies never
  }
}

/** The payload's wire bytes, or `undefined` when they exceed one datagram. */
export const serializePayload = (p: Payload): Uint8Array | undefined => {
  // DATA is the hot path: its bytes go out as they are, without a copy.
  if (p._tag === "DataBlock" || p._tag === "Opaque") return p.bytes.length <= MAX_PAYLOAD ? p.bytes : undefined
  const w = new Writer()
  encodeInto(w, p)
  return w.result()
}
