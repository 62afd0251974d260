/**
 * `npm run bench:aead`: figures, not a test. Seals and opens native-mode frames of a 1400-byte payload in
 * batches of 64 (a burst, a recvmmsg batch), once with the addon's reused OpenSSL contexts and once with
 * node:crypto's cipher object per datagram, and prints µs per datagram and the throughput of each.
 */
import { type Aead, addonAead, nodeCryptoAead } from "../src/secure/aead.js"
import { frameBytes } from "../src/secure/frame.js"
import { generateKey } from "../src/secure/keys.js"
import { Receiver } from "../src/secure/receiver.js"
import { Sender } from "../src/secure/sender.js"

const PAYLOAD = 1400
const BATCH = 64
const BATCHES = 2000
const HERE = { address: "127.0.0.2", port: 8000 }
const sources = new Array(BATCH).fill(HERE)

const measure = (engine: Aead) => {
  const group = generateKey()
  const sender = new Sender(engine, group)
  const receiver = new Receiver(engine, { sending: group, accepted: new Map([[group.id, group]]) }, (to) => to.address === HERE.address && to.port === HERE.port)
  const size = frameBytes(PAYLOAD)
  const slab = new Uint8Array(size * BATCH)
  const starts = Uint32Array.from({ length: BATCH }, (_, i) => i * size)
  const payloads = new Uint32Array(BATCH).fill(PAYLOAD)
  const frames = new Uint32Array(BATCH).fill(size)
  // admitted as on an ANSWER, so the frames below go through the replay window
  const first = receiver.open(sender.seal(3, new Uint8Array(16), HERE, Date.now()), HERE, Date.now())
  if (first._tag !== "Unadmitted" || receiver.admit(first, Date.now()) !== undefined) throw new Error("could not admit the epoch")
  let seal = 0n
  let open = 0n
  let opened = 0
  for (let b = 0; b < BATCHES; b++) {
    const now = Date.now()
    const t0 = process.hrtime.bigint()
    sender.sealBatch(slab, starts, payloads, BATCH, HERE, now)
    const t1 = process.hrtime.bigint()
    for (const r of receiver.openBatch(slab, starts, frames, sources, BATCH, now, performance.now())) if (r._tag === "Opened") opened++
    const t2 = process.hrtime.bigint()
    if (b >= BATCHES / 10) {
      seal += t1 - t0
      open += t2 - t1
    }
  }
  const n = BATCH * (BATCHES - BATCHES / 10)
  const us = (ns: bigint) => Number(ns) / 1000 / n
  const mbs = (ns: bigint) => (PAYLOAD * n) / (Number(ns) / 1e9) / 1e6
  if (opened !== BATCH * BATCHES) throw new Error(`${engine.name}: only ${opened} of ${BATCH * BATCHES} frames opened`)
  console.log(
    `${engine.name.padEnd(12)} seal ${us(seal).toFixed(2)} µs/datagram (${mbs(seal).toFixed(0)} MB/s)   ` +
      `open ${us(open).toFixed(2)} µs/datagram (${mbs(open).toFixed(0)} MB/s, replay and freshness checks included)`
  )
}

console.log(`AES-256-GCM, ${PAYLOAD}-byte payloads, batches of ${BATCH}, ${BATCHES} batches`)
const addon = addonAead()
if (typeof addon === "string") console.log(`addon: unavailable (${addon})`)
else measure(addon as Aead)
measure(nodeCryptoAead as Aead)
