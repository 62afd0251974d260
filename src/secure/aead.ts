/**
 * AES-256-GCM over batches of frames, in place, by one of two engines that produce the same bytes: the native
 * addon (one reused OpenSSL context per traffic key, a whole batch per call) or node:crypto (a cipher object
 * per datagram, several times slower; the fallback wherever the addon is not built or `MAKUO_IO=dgram`).
 *
 * A run is what a burst seals: message bodies back to back (`Layout`: a segment size, or lengths) and the header
 * their frames share but for the counter; sealing it lays the frames out back to back in a buffer of the caller's,
 * headers, counters and header MAC included, the addon in one call with no work per frame in JavaScript.
 *
 * A batch is a slab and, per frame, its start and length. Sealing reads the header the caller wrote at
 * `start` (the associated data, and the nonce from its counter), writes its header MAC under the group's header
 * key (frame.ts; once per run of frames whose headers differ only in their counters), encrypts the payload after
 * it in place and writes the tag after the payload; `lengths` are payload lengths. Opening verifies each frame whose opener
 * is given and decrypts its payload in place; `lengths` are whole frame lengths, and `ok[i]` says whether frame
 * i verified (a frame that did not is garbage afterwards and must not be read). A batch's openers are given once
 * each (`keys`: a batch is mostly one epoch's frames) and frame i's by its index plus one in `which` (0: none),
 * so the addon reads no JavaScript value per frame.
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto"
import { loadNative } from "../net/native.js"
import type { Layout } from "../net/Transport.js"
import { HEADER_BYTES, HEADER_MAC_BYTES, HEADER_MAC_SPANS, nonceOf, OFFSET, TAG_BYTES, writeCounter } from "./frame.js"
import { TRAFFIC_KEY_BYTES } from "./trafficKeys.js"

/** What a key is made for: a sender's keys only seal, a receiver's only open (the addon then makes one context). */
export type KeyUse = "seal" | "open"

export interface AeadEngine<Key, HeaderKey> {
  readonly name: "addon" | "node:crypto"
  readonly key: (secret: Uint8Array, use: KeyUse) => Key
  /** a group key's header key (trafficKeys.ts), made once per group key */
  readonly headerKey: (secret: Uint8Array) => HeaderKey
  readonly seal: (key: Key, slab: Uint8Array, starts: Uint32Array, lengths: Uint32Array, count: number, header: HeaderKey) => void
  /**
   * Seals the bodies laid out in `bodies` as `layout` says (a segment of at least 1 byte: at least one frame) as frames back to
   * back from the start of `into` (which must not overlap `bodies`): each `template` (a header but for its counter
   * and MAC) with the counter `counter + i`, the message type `type`, the body, the tag. The bytes written.
   */
  readonly sealRun: (
    key: Key,
    header: HeaderKey,
    template: Uint8Array,
    counter: number,
    type: number,
    bodies: Uint8Array,
    layout: Layout,
    into: Uint8Array
  ) => number
  readonly open: (
    keys: ReadonlyArray<Key>,
    which: Uint32Array,
    slab: Uint8Array,
    starts: Uint32Array,
    lengths: Uint32Array,
    count: number,
    ok: Uint8Array
  ) => void
  /** whether the header MAC of `frame` (at least a header) is right, compared in constant time */
  readonly headerOk: (header: HeaderKey, frame: Uint8Array) => boolean
}

/** An engine whose key types are hidden: senders and receivers only pass back what it gave them. */
export type Aead = AeadEngine<unknown, unknown>

const checkKey = (secret: Uint8Array) => {
  if (secret.length !== TRAFFIC_KEY_BYTES) throw new RangeError(`a traffic key is ${TRAFFIC_KEY_BYTES} bytes, not ${secret.length}`)
}

const headerMac = (key: KeyObject, slab: Uint8Array, start: number): Buffer => {
  const hmac = createHmac("sha256", key)
  for (const [from, to] of HEADER_MAC_SPANS) hmac.update(slab.subarray(start + from, start + to))
  return hmac.digest().subarray(0, HEADER_MAC_BYTES)
}

/** Whether the headers at `a` and `b` agree on every byte the header MAC covers. */
const sameMacInput = (slab: Uint8Array, a: number, b: number): boolean =>
  HEADER_MAC_SPANS.every(([from, to]) => {
    for (let i = from; i < to; i++) if (slab[a + i] !== slab[b + i]) return false
    return true
  })

/** The frames of a run laid out in `into` for `seal` (which then seals them as a batch), and the bytes they take. */
const layOutRun = (template: Uint8Array, counter: number, type: number, bodies: Uint8Array, layout: Layout, into: Uint8Array) => {
  if (typeof layout === "number" && !(layout > 0)) throw new RangeError(`sealRun: a segment of ${layout} bytes`)
  const count = typeof layout === "number" ? Math.max(1, Math.ceil(bodies.length / layout)) : layout.length
  const starts = new Uint32Array(count)
  const payloads = new Uint32Array(count)
  let from = 0
  let at = 0
  for (let i = 0; i < count; i++) {
    const n = typeof layout === "number" ? Math.min(layout, bodies.length - from) : layout[i]!
    if (from + n > bodies.length || at + HEADER_BYTES + 1 + n + TAG_BYTES > into.length) throw new RangeError("sealRun: the bodies run past their buffer, or the frames past `into`")
    into.set(template, at)
    writeCounter(into, at, counter + i)
    into[at + HEADER_BYTES] = type
    into.set(bodies.subarray(from, from + n), at + HEADER_BYTES + 1)
    starts[i] = at
    payloads[i] = 1 + n
    from += n
    at += HEADER_BYTES + 1 + n + TAG_BYTES
  }
  return { starts, payloads, count, bytes: at }
}

export const nodeCryptoAead: AeadEngine<Uint8Array, KeyObject> = {
  name: "node:crypto",
  key: (secret) => {
    checkKey(secret)
    return Uint8Array.from(secret)
  },
  headerKey: (secret) => {
    checkKey(secret)
    return createSecretKey(secret)
  },
  seal: (key, slab, starts, lengths, count, header) => {
    let mac: Buffer | undefined
    for (let i = 0; i < count; i++) {
      const start = starts[i]!
      if (mac === undefined || !sameMacInput(slab, starts[i - 1]!, start)) mac = headerMac(header, slab, start)
      slab.set(mac, start + OFFSET.headerMac)
      const end = start + HEADER_BYTES + lengths[i]!
      const cipher = createCipheriv("aes-256-gcm", key, nonceOf(slab, start))
      cipher.setAAD(slab.subarray(start, start + HEADER_BYTES))
      slab.set(cipher.update(slab.subarray(start + HEADER_BYTES, end)), start + HEADER_BYTES)
      cipher.final()
      slab.set(cipher.getAuthTag(), end)
    }
  },
  sealRun: (key, header, template, counter, type, bodies, layout, into) => {
    const run = layOutRun(template, counter, type, bodies, layout, into)
    nodeCryptoAead.seal(key, into, run.starts, run.payloads, run.count, header)
    return run.bytes
  },
  open: (keys, which, slab, starts, lengths, count, ok) => {
    for (let i = 0; i < count; i++) {
      const key = which[i] === 0 ? undefined : keys[which[i]! - 1]
      ok[i] = 0
      if (key === undefined) continue
      const start = starts[i]!
      const tagAt = start + lengths[i]! - TAG_BYTES
      const decipher = createDecipheriv("aes-256-gcm", key, nonceOf(slab, start))
      decipher.setAAD(slab.subarray(start, start + HEADER_BYTES))
      decipher.setAuthTag(slab.subarray(tagAt, tagAt + TAG_BYTES))
      const plain = decipher.update(slab.subarray(start + HEADER_BYTES, tagAt))
      try {
        decipher.final()
      } catch {
        continue
      }
      slab.set(plain, start + HEADER_BYTES)
      ok[i] = 1
    }
  },
  headerOk: (header, frame) =>
    timingSafeEqual(headerMac(header, frame, 0), frame.subarray(OFFSET.headerMac, OFFSET.headerMac + HEADER_MAC_BYTES))
}

/** What the addon exports for AEAD (see native/makuo_aead.c): the engine's calls, each returning 0 or a negative error. */
interface NativeAead {
  readonly aeadKey: (secret: Uint8Array, uses: number) => object
  readonly aeadSeal: (...args: Parameters<AeadEngine<object, object>["seal"]>) => number
  readonly aeadSealRun: (...args: Parameters<AeadEngine<object, object>["sealRun"]>) => number
  readonly aeadOpen: (...args: Parameters<AeadEngine<object, object>["open"]>) => number
  readonly headerKey: (secret: Uint8Array) => object
  readonly headerOk: (header: object, frame: Uint8Array) => boolean
  readonly aeadOpenByIndex: boolean
}

/** The addon's engine, or why there is none. */
export const addonAead = (): AeadEngine<object, object> | string => {
  const native = loadNative()
  if (typeof native === "string") return native
  const aead = native as unknown as Partial<NativeAead>
  if (aead.aeadKey === undefined || aead.aeadSeal === undefined || aead.aeadOpen === undefined) {
    return "the native addon was built without AEAD"
  }
  if (aead.headerKey === undefined || aead.headerOk === undefined) return "the native addon predates frame version 3 (rebuild it)"
  if (aead.aeadSealRun === undefined) return "the native addon predates sealing a run in one call (rebuild it)"
  if (aead.aeadOpenByIndex !== true) return "the native addon predates opening a batch's frames by key index (rebuild it)"
  const { aeadKey, aeadSeal, aeadSealRun, aeadOpen, headerKey, headerOk } = aead as NativeAead
  const fail = (what: string, rc: number) => {
    if (rc < 0) throw new Error(`makuo_aead: ${what} failed in OpenSSL (${rc})`)
  }
  return {
    name: "addon",
    key: (secret, use) => {
      checkKey(secret)
      return aeadKey(secret, use === "seal" ? 1 : 2)
    },
    headerKey: (secret) => {
      checkKey(secret)
      return headerKey(secret)
    },
    seal: (key, slab, starts, lengths, count, header) => fail("seal", aeadSeal(key, slab, starts, lengths, count, header)),
    sealRun: (key, header, template, counter, type, bodies, layout, into) => {
      const bytes = aeadSealRun(key, header, template, counter, type, bodies, layout, into)
      fail("sealRun", bytes)
      return bytes
    },
    open: (keys, which, slab, starts, lengths, count, ok) => fail("open", aeadOpen(keys, which, slab, starts, lengths, count, ok)),
    headerOk
  }
}

let chosen: Aead | undefined

/** The addon's engine where it loads, else node:crypto. */
export const defaultAead = (): Aead => {
  if (chosen === undefined) {
    const addon = addonAead()
    chosen = (typeof addon === "string" ? nodeCryptoAead : addon) as Aead
  }
  return chosen
}
