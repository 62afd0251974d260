/**
 * `node dist/scripts/benchSend.js [MiB] [--bundle] [--io sendmmsg]`: figures, not a test. What a keyed sender's
 * process spends (user and system CPU, `process.cpuUsage`) per GiB of Data handed to the kernel: bursts of 60 Data
 * bodies of the default MTU's size sealed by the secure transport and sent by the native transport, as a
 * transaction's pump sends them (a turn of the event loop after each burst), to a socket on 127.0.0.1 that never
 * reads (the kernel drops what its buffer cannot hold: nothing leaves loopback). `--bundle`: bursts of unequal
 * lengths (a bundle stream's, one `sendmmsg`) instead. No file reads, no protocol: the send path alone.
 */
import { Effect, Layer } from "effect"
import { randomBytes } from "node:crypto"
import { setImmediate } from "node:timers/promises"
import { loadNative } from "../src/net/native.js"
import * as NativeTransport from "../src/net/NativeTransport.js"
import { Peer, Transport } from "../src/net/Transport.js"
import { budgetFor } from "../src/protocol/native/budget.js"
import { TransferType } from "../src/protocol/native/transferMessage.js"
import * as SecureTransport from "../src/secure/SecureTransport.js"
import { generateKey } from "../src/secure/keys.js"
import { ipv4ToU32 } from "../src/net/NativeTransport.js"

const args = process.argv.slice(2)
const flag = (name: string) => {
  const at = args.indexOf(name)
  return at < 0 ? false : (args.splice(at, 1), true)
}
const ioAt = args.indexOf("--io")
const io = ioAt < 0 ? "gso" : args.splice(ioAt, 2)[1] === "sendmmsg" ? "sendmmsg" : "gso"
const bundle = flag("--bundle")
const mib = Number(args[0] ?? 512)
const BURST = 60
const body = budgetFor().pipe((b) => (b._tag === "Right" ? b.right.body : 0))
const HERE = "127.0.0.1"
const PORT = 47_611
const SINK = 47_612

const native = loadNative()
if (typeof native === "string") throw new Error(`the native addon: ${native}`)
// the sink: bound, UDP_GRO on as a member's socket, never read
const sink = native.open(ipv4ToU32(HERE), SINK, 0, 1 << 20, 0, () => {})
if (typeof sink === "number") throw new Error(`sink: errno ${-sink}`)
native.setInt(sink, native.constants.SOL_UDP, native.constants.UDP_GRO, 1)

const options = { bind: HERE, port: PORT, group: "239.255.77.61", interface: HERE, ttl: 0, recvBufferSize: undefined, sendBufferSize: undefined, queueCapacity: 1024 }
const key = generateKey()
const layer = SecureTransport.layer({ path: "(bench)", ring: { sending: key, accepted: new Map([[key.id, key]]) }, runAsUid: undefined }).pipe(
  Layer.provide(NativeTransport.layer(native, options, io))
)

const bodies = new Uint8Array(randomBytes(BURST * body))
// a bundle burst: Data of 200..body bytes, as many as fill the same buffer
const lengths = Uint32Array.from({ length: BURST }, (_, i) => 200 + ((i * 7919) % (body - 200)))
const bundleBytes = lengths.reduce((a, b) => a + b, 0)
const perBurst = bundle ? bundleBytes : bodies.length
const bursts = Math.ceil((mib * 2 ** 20) / perBurst)

const program = Effect.gen(function*() {
  const t = yield* Transport
  const to = Peer({ address: HERE, port: SINK })
  const send = bundle
    ? () => t.sendNativeEach!(to, TransferType.DATA, bodies.subarray(0, bundleBytes), lengths)
    : () => t.sendNativeSegments!(to, TransferType.DATA, bodies, body)
  // warm-up: compiled code, grown buffers
  for (let i = 0; i < 2000; i++) send(), i % 8 === 0 && (yield* Effect.promise(() => setImmediate()))
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < bursts; i++) {
    send()
    yield* Effect.promise(() => setImmediate())
  }
  const cpu = process.cpuUsage(cpu0)
  const seconds = (performance.now() - t0) / 1000
  const gib = (bursts * perBurst) / 2 ** 30
  const stats = yield* t.stats
  console.log(JSON.stringify({
    mode: bundle ? "bundle" : "segments",
    io: stats.io,
    MiB: Math.round(gib * 1024),
    userSecondsPerGiB: +(cpu.user / 1e6 / gib).toFixed(3),
    systemSecondsPerGiB: +(cpu.system / 1e6 / gib).toFixed(3),
    cpuSecondsPerGiB: +((cpu.user + cpu.system) / 1e6 / gib).toFixed(3),
    wallSeconds: +seconds.toFixed(2),
    sendErrors: stats.sendErrors
  }))
})

await Effect.runPromise(Effect.scoped(Effect.provide(program, layer)))
native.close(sink)
