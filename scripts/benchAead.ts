/**
 * `npm run bench:aead`: figures, not a test. Seals and opens native-mode frames of a 1400-byte payload in
 * batches of 64 (a burst, a recvmmsg batch; sealed also as a run, the way the keyed transport seals a burst from its
 * bodies), once with the addon's reused OpenSSL contexts and once with
 * node:crypto's cipher object per datagram, and prints µs per datagram and the throughput of each; then what a
 * forged frame of a made-up epoch costs the receiver (refused by its header MAC, nothing derived) and what one
 * header MAC costs (a sealed batch computes one; a receiver checks one per frame of an epoch it has no key for).
 * Times are the process's CPU time, not wall time.
 */
import { randomBytes } from "node:crypto"
import { type Aead, addonAead, nodeCryptoAead } from "../src/secure/aead.js"
import { frameBytes, OFFSET } from "../src/secure/frame.js"
import { generateKey } from "../src/secure/keys.js"
import { Receiver } from "../src/secure/receiver.js"
import { Sender } from "../src/secure/sender.js"
import { headerKey } from "../src/secure/trafficKeys.js"

/**
 * The process's CPU time in ns (user and system, all its threads): on a shared machine wall time counts other
 * processes' turns too.
 */
const cpuNs = (): bigint => {
  const { user, system } = process.cpuUsage()
  return BigInt(user + system) * 1000n
}

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
  // a burst as the keyed transport seals it: the bodies laid out back to back, sealed as one run into frames
  const bodies = new Uint8Array((PAYLOAD - 1) * BATCH)
  const into = new Uint8Array(size * BATCH)
  let run = 0n
  for (let b = 0; b < BATCHES; b++) {
    const t0 = cpuNs()
    sender.sealRun(3, bodies, PAYLOAD - 1, into, HERE, Date.now())
    if (b >= BATCHES / 10) run += cpuNs() - t0
  }
  let seal = 0n
  let open = 0n
  let opened = 0
  for (let b = 0; b < BATCHES; b++) {
    const now = Date.now()
    const t0 = cpuNs()
    sender.sealBatch(slab, starts, payloads, BATCH, HERE, now)
    const t1 = cpuNs()
    for (const r of receiver.openBatch(slab, starts, frames, sources, BATCH, now, performance.now())) if (r._tag === "Opened") opened++
    const t2 = cpuNs()
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
    `${engine.name.padEnd(12)} seal ${us(seal).toFixed(2)} µs/datagram (${mbs(seal).toFixed(0)} MB/s; a burst's run, laid out from its bodies: ${us(run).toFixed(2)})   ` +
      `open ${us(open).toFixed(2)} µs/datagram (${mbs(open).toFixed(0)} MB/s, replay and freshness checks included)`
  )
  forgedCost(engine, group, sender, receiver, slab, starts, frames, payloads)
}

/** Batches of frames of made-up epoch ids opened (each refused by its header MAC), and header MACs alone. */
const forgedCost = (
  engine: Aead,
  group: ReturnType<typeof generateKey>,
  sender: Sender,
  receiver: Receiver,
  slab: Uint8Array,
  starts: Uint32Array,
  frames: Uint32Array,
  payloads: Uint32Array
) => {
  const rounds = BATCHES / 4
  const derived = receiver.derivations
  const key = engine.headerKey(headerKey(group))
  let check = 0n
  let mac = 0n
  for (let b = 0; b < rounds; b++) {
    const now = Date.now()
    sender.sealBatch(slab, starts, payloads, BATCH, HERE, now)
    for (const start of starts) slab.set(randomBytes(16), start + OFFSET.epochId)
    const t0 = cpuNs()
    const refused = receiver.openBatch(slab, starts, frames, sources, BATCH, now, performance.now())
    const t1 = cpuNs()
    if (refused.some((r) => r._tag !== "Refused" || r.reason !== "badHeaderMac")) throw new Error(`${engine.name}: a forged frame was not refused by its header MAC`)
    for (const start of starts) engine.headerOk(key, slab.subarray(start))
    const t2 = cpuNs()
    check += t1 - t0
    mac += t2 - t1
  }
  if (receiver.derivations !== derived) throw new Error(`${engine.name}: forged frames cost ${receiver.derivations - derived} derivations`)
  const us = (ns: bigint) => (Number(ns) / 1000 / (rounds * BATCH)).toFixed(2)
  console.log(
    `${"".padEnd(12)} header MAC ${us(mac)} µs (once per sealed batch; per received frame of an unknown epoch only)   ` +
      `forged frame of a made-up epoch refused ${us(check)} µs/datagram (badHeaderMac, no derivation)`
  )
}

console.log(`AES-256-GCM, ${PAYLOAD}-byte payloads, batches of ${BATCH}, ${BATCHES} batches`)
const addon = addonAead()
if (typeof addon === "string") console.log(`addon: unavailable (${addon})`)
else measure(addon as Aead)
measure(nodeCryptoAead as Aead)
