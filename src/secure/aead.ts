/**
 * AES-256-GCM over batches of frames, in place, by one of two engines that produce the same bytes: the native
 * addon (one reused OpenSSL context per traffic key, a whole batch per call) or node:crypto (a cipher object
 * per datagram, several times slower; the fallback wherever the addon is not built or `MAKUO_IO=dgram`).
 *
 * A batch is a slab and, per frame, its start and length. Sealing reads the header the caller wrote at
 * `start` (the associated data, and the nonce from its counter), encrypts the payload after it in place and
 * writes the tag after the payload; `lengths` are payload lengths. Opening verifies each frame whose opener
 * is given and decrypts its payload in place; `lengths` are whole frame lengths, and `ok[i]` says whether frame
 * i verified (a frame that did not is garbage afterwards and must not be read).
 */
import { createCipheriv, createDecipheriv } from "node:crypto"
import { loadNative } from "../net/native.js"
import { HEADER_BYTES, nonceOf, TAG_BYTES } from "./frame.js"
import { TRAFFIC_KEY_BYTES } from "./trafficKeys.js"

/** What a key is made for: a sender's keys only seal, a receiver's only open (the addon then makes one context). */
export type KeyUse = "seal" | "open"

export interface AeadEngine<Key> {
  readonly name: "addon" | "node:crypto"
  readonly key: (secret: Uint8Array, use: KeyUse) => Key
  readonly seal: (key: Key, slab: Uint8Array, starts: Uint32Array, lengths: Uint32Array, count: number) => void
  readonly open: (
    keys: ReadonlyArray<Key | undefined>,
    slab: Uint8Array,
    starts: Uint32Array,
    lengths: Uint32Array,
    count: number,
    ok: Uint8Array
  ) => void
}

/** An engine whose key type is hidden: senders and receivers only pass back what it gave them. */
export type Aead = AeadEngine<unknown>

const checkKey = (secret: Uint8Array) => {
  if (secret.length !== TRAFFIC_KEY_BYTES) throw new RangeError(`a traffic key is ${TRAFFIC_KEY_BYTES} bytes, not ${secret.length}`)
}

export const nodeCryptoAead: AeadEngine<Uint8Array> = {
  name: "node:crypto",
  key: (secret) => {
    checkKey(secret)
    return Uint8Array.from(secret)
  },
  seal: (key, slab, starts, lengths, count) => {
    for (let i = 0; i < count; i++) {
      const start = starts[i]!
      const end = start + HEADER_BYTES + lengths[i]!
      const cipher = createCipheriv("aes-256-gcm", key, nonceOf(slab, start))
      cipher.setAAD(slab.subarray(start, start + HEADER_BYTES))
      slab.set(cipher.update(slab.subarray(start + HEADER_BYTES, end)), start + HEADER_BYTES)
      cipher.final()
      slab.set(cipher.getAuthTag(), end)
    }
  },
  open: (keys, slab, starts, lengths, count, ok) => {
    for (let i = 0; i < count; i++) {
      const key = keys[i]
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
  }
}

/** What the addon exports for AEAD (see native/makuo_aead.c): the engine's calls, each returning 0 or a negative error. */
interface NativeAead {
  readonly aeadKey: (secret: Uint8Array, uses: number) => object
  readonly aeadSeal: (...args: Parameters<AeadEngine<object>["seal"]>) => number
  readonly aeadOpen: (...args: Parameters<AeadEngine<object>["open"]>) => number
}

/** The addon's engine, or why there is none. */
export const addonAead = (): AeadEngine<object> | string => {
  const native = loadNative()
  if (typeof native === "string") return native
  const aead = native as unknown as Partial<NativeAead>
  if (aead.aeadKey === undefined || aead.aeadSeal === undefined || aead.aeadOpen === undefined) {
    return "the native addon was built without AEAD"
  }
  const { aeadKey, aeadSeal, aeadOpen } = aead as NativeAead
  const fail = (what: string, rc: number) => {
    if (rc < 0) throw new Error(`makuo_aead: ${what} failed in OpenSSL (${rc})`)
  }
  return {
    name: "addon",
    key: (secret, use) => {
      checkKey(secret)
      return aeadKey(secret, use === "seal" ? 1 : 2)
    },
    seal: (key, slab, starts, lengths, count) => fail("seal", aeadSeal(key, slab, starts, lengths, count)),
    open: (keys, slab, starts, lengths, count, ok) => fail("open", aeadOpen(keys, slab, starts, lengths, count, ok))
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
