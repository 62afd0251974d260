/**
 * `Transport` on the native addon (`native.ts`): the socket is read with `recvmmsg` (and `UDP_GRO`, where the
 * kernel hands over up to 64 KiB of coalesced datagrams at once), one JavaScript wake-up per batch; a burst leaves
 * with one `sendmmsg`, each of its messages ~64 KiB of datagrams of one length cut by the kernel (`UDP_SEGMENT`; a
 * bundle stream's unequal frames: a message per stretch of one length), or one datagram per message (64 a call)
 * where the kernel refuses GSO. Same
 * socket layout and options as `DgramTransport` (`UdpOptions`). The wire sees plain v7 datagrams either way.
 */
import { Effect, Layer } from "effect"
import { getSystemErrorMap } from "node:util"
import { onSettle } from "../daemon/settle.js"
import { type NativeSocket, type NativeUdp, RECV_META } from "./native.js"
import { makeArrivals } from "./arrivals.js"
import { endpointCache } from "./endpoints.js"
import { type Datagram, type Destination, type Endpoint, type IoMode, type Layout, Transport, TransportError } from "./Transport.js"
import { membershipDetail, socketLayout, type UdpOptions } from "./UdpOptions.js"

const errnoText = (errno: number) => {
  const known = getSystemErrorMap().get(-Math.abs(errno))
  return known === undefined ? `errno ${Math.abs(errno)}` : `${known[0]}: ${known[1]}`
}

export const ipv4ToU32 = (address: string): number => {
  const parts = address.split(".").map(Number)
  return (((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0)
}

/** Batches read per wake-up before the event loop gets a turn (timers, ACK rounds, the control socket). */
const BATCHES_PER_WAKE = 8
const SLOTS = 64
const PLAIN_SLOT = 2048
/** A GRO slot holds a whole coalesced run; 32 of them are 2 MiB. */
const GRO_SLOTS = 32
const GRO_SLOT = 65_536
/** Receive slots while the socket is quiet: heartbeats and a few ACKs fit, a burst doubles them. */
const QUIET_SLOTS = 4
/** Quiet wake-ups in a row (none used more than a quarter of the slots) after which the receive space halves. */
const CALM_WAKES = 64
/**
 * A slow stream's wake-ups are coalesced. At a 100 Mbit/s link's pace Data come ~8000 a second, and read as they
 * come every wake-up carried one or two: its fixed cost (epoll, `recvmmsg`, the batch's work downstream) was most
 * of a member's CPU (~20–30 s/GiB against ~4 at full speed). So a wake-up that read some bulk (a datagram of at
 * least `BULK` bytes: Data, not ACKs or control) but less than `SLOW_WAKE` bytes in all holds the socket
 * `HOLD_MS` before it is read again (the addon's timer; writes are not held), and the next read takes what
 * gathered meanwhile: ~16 Data at that pace. Bounds: a hold follows only a wake-up that found under `SLOW_WAKE`
 * waiting, so the socket buffer (MiBs) gathers at most the pace × `HOLD_MS` (+ the timer's ~1 ms of slack) during
 * it — 64 KiB even at 30 MB/s; a faster stream fills its reads past `SLOW_WAKE` and is not held. A request or
 * Probe that arrives during a hold is answered at most that late, ~3 ms: well inside the pacer's 20 ms queue
 * threshold (docs/performance.md, Pacing) and a round's retransmission timeout (20 ms at the least). A socket
 * that receives only ACKs and control (a sender's) is never held.
 */
const HOLD_MS = 2
const BULK = 1024
const SLOW_WAKE = 32 * 1024

interface PendingSend {
  readonly address: number
  readonly port: number
  readonly bytes: Uint8Array
  readonly layout: Layout
  /** bytes handed to the kernel so far */
  offset: number
  /** with lengths: the first datagram not handed over yet */
  next: number
  readonly done: ((e?: TransportError) => void) | undefined
}

export const make = (native: NativeUdp, options: UdpOptions, sends: "gso" | "sendmmsg" = "gso") =>
  Effect.gen(function*() {
    const c = native.constants
    const received = makeArrivals(options.queueCapacity)
    const { local, shared } = socketLayout(options)
    const localAddress = ipv4ToU32(local.address)
    const group: Endpoint = { address: options.group, port: options.port }
    const groupAddress = ipv4ToU32(options.group)
    let sendErrors = 0
    let lastSendError: string | undefined
    // one endpoint object per source, not one per datagram
    const endpointOf = endpointCache(4096)

    // the addresses we answer are the ones we received from: parsed once (bounded like the endpoints)
    const addresses = new Map<string, number>()
    const addressOf = (text: string): number => {
      let a = addresses.get(text)
      if (a === undefined) {
        if (addresses.size >= 4096) addresses.clear()
        addresses.set(text, (a = ipv4ToU32(text)))
      }
      return a
    }

    const open = (address: string, reuse: boolean, onEvent: (r: boolean, w: boolean) => void) =>
      Effect.acquireRelease(
        Effect.suspend(() => {
          const s = native.open(ipv4ToU32(address), options.port, reuse ? 1 : 0, options.recvBufferSize ?? 0, options.sendBufferSize ?? 0, onEvent)
          return typeof s === "number"
            ? Effect.fail(new TransportError({ reason: "Bind", detail: `${address}:${options.port}: ${errnoText(s)}` }))
            : Effect.succeed(s)
        }),
        (s) => Effect.sync(() => native.close(s))
      )

    const configure = (s: NativeSocket, join: boolean, loopback: boolean) =>
      Effect.suspend(() => {
        const steps: Array<readonly [string, () => number]> = [
          ...(options.interface === undefined ? [] : [["interface", () => native.multicastInterface(s, ipv4ToU32(options.interface!))] as const]),
          ["ttl", () => native.setInt(s, c.IPPROTO_IP, c.IP_MULTICAST_TTL, options.ttl)],
          ["loopback", () => native.setInt(s, c.IPPROTO_IP, c.IP_MULTICAST_LOOP, loopback ? 1 : 0)],
          ...(join ? [["join", () => native.join(s, groupAddress, options.interface === undefined ? 0 : ipv4ToU32(options.interface))] as const] : [])
        ]
        for (const [what, step] of steps) {
          const rc = step()
          if (rc < 0) {
            return Effect.fail(new TransportError({ reason: "Membership", detail: membershipDetail(options, `${what}: ${errnoText(rc)}`) }))
          }
        }
        return Effect.void
      })

    // == receiving

    const receiving: Array<NativeSocket> = []
    const kernelDrops = () => {
      let sum = 0
      for (const s of receiving) {
        const n = native.drops(s)
        if (n < 0) return null
        sum += n
      }
      return sum
    }

    // The receive space follows the traffic: an idle daemon holds a few slots, a transfer the full MiBs (doubling
    // while batches come back full, halving after a calm spell), so idle memory stays small. The full space is
    // made once, when the traffic first outgrows the quiet slots, and every size in between is a view of it: a
    // buffer made per resize (a transfer resized a dozen times) was garbage that waited, promoted, for a full
    // collection — MiBs of a receiver's resident set. Back to the quiet slots, the full space is kept for the next
    // burst: let go, it waited the same way (a full collection comes only after 64 MiB of such buffers), and the
    // next burst made another — 2 MiB more per calm spell, 16 MiB over a keyed sender's 1 GiB (its ACKs come in bursts).
    // Once the daemon settles (quiet for seconds, src/daemon/settle.ts) it is let go: settle's collection frees it at once.
    const settling: Array<() => void> = []
    const receiver = (s: NativeSocket) => {
      receiving.push(s)
      const gro = native.setInt(s, c.SOL_UDP, c.UDP_GRO, 1) === 0
      const slot = gro ? GRO_SLOT : PLAIN_SLOT
      const maxSlots = gro ? GRO_SLOTS : SLOTS
      const quiet = new Uint8Array(QUIET_SLOTS * slot)
      let full: Uint8Array | undefined
      let slots = QUIET_SLOTS
      let buffer: Uint8Array = quiet
      const meta = new Uint32Array(SLOTS * RECV_META)
      let calm = 0
      settling.push(() => {
        if (slots > QUIET_SLOTS) resize(QUIET_SLOTS)
        full = undefined
        calm = 0
      })
      const resize = (to: number) => {
        slots = to
        if (to > QUIET_SLOTS) return void (buffer = (full ??= new Uint8Array(maxSlots * slot)).subarray(0, to * slot))
        buffer = quiet
        // back to idle: the burst's freed buffers go back to the kernel, not only to the C heap
        native.trim?.()
      }
      // after a batch is handed over (a resize drops the slots): a full batch doubles the slots, a calm spell halves them
      const adapt = (got: number, round: number) => {
        if (got === slots) {
          calm = 0
          if (slots < maxSlots) resize(slots * 2)
        } else if (round === 0 && slots > QUIET_SLOTS) {
          calm = got <= slots / 4 ? calm + 1 : 0
          if (calm >= CALM_WAKES) (calm = 0), resize(slots / 2)
        }
      }
      const isEcho = (i: number) => shared && meta[i * RECV_META + 1] === localAddress && meta[i * RECV_META + 2] === options.port
      // The consumer gets views of the slots themselves, valid until it returns (the next round reads into them):
      // a copy per batch into buffers of its own cost a memcpy per byte, and those buffers, outliving two scavenges
      // of the per-datagram garbage, waited in the old generation for a full collection — tens of MiB of a
      // receiver's resident set during a transfer. What outlives the callback is copied where it is kept (headers
      // and digests in the codecs, batches waiting for a consumer in `arrivals`); blocks are written before it returns.
      // Our own multicast echoes, which a shared socket layout receives, are not delivered.
      // what the current wake-up read: bytes, and whether any of it was bulk
      let wakeBytes = 0
      let wakeBulk = false
      const deliver = (got: number) => {
        const batch: Array<Datagram> = []
        for (let i = 0; i < got; i++) {
          if (isEcho(i)) continue
          const m = i * RECV_META
          const length = meta[m]!
          const segment = meta[m + 3]!
          wakeBytes += length
          if ((segment === 0 ? length : segment) >= BULK) wakeBulk = true
          const from = endpointOf(meta[m + 1]!, meta[m + 2]!)
          const at = i * slot
          // a GRO arrival holds several datagrams of `segment` bytes (the last may be shorter); an empty datagram
          // is one too (and malformed: the wire layer counts it)
          const step = segment === 0 ? Math.max(length, 1) : segment
          for (let o = 0; o < Math.max(length, 1); o += step) {
            batch.push({ bytes: buffer.subarray(at + o, at + Math.min(o + step, length)), from })
          }
        }
        received.offer(batch)
      }
      const read = () => {
        for (let round = 0; round < BATCHES_PER_WAKE; round++) {
          const got = native.recv(s, buffer, slot, meta)
          if (got > 0) deliver(got)
          // fewer than the slots: the socket is drained
          const drained = got < slots
          adapt(got, round)
          if (drained) return
        }
      }
      return () => {
        wakeBytes = 0
        wakeBulk = false
        read()
        if (wakeBulk && wakeBytes < SLOW_WAKE) native.hold?.(s, HOLD_MS)
      }
    }

    // == sending: in order; what the socket buffer cannot take waits for writable

    const pending: Array<PendingSend> = []
    let drained: (() => void) | undefined
    let unicast: NativeSocket | undefined
    /** Hands `bytes` from `offset` on (datagram `next` on, with lengths) to the kernel: the bytes it took, or -errno. */
    const handOver = (address: number, port: number, bytes: Uint8Array, layout: Layout, offset: number, next: number) =>
      typeof layout === "number"
        ? native.send(unicast!, address, port, bytes, offset, bytes.length - offset, layout)
        : native.sendEach(unicast!, address, port, bytes, offset, layout, next)
    const failed = (rc: number, done: PendingSend["done"]) => {
      sendErrors++
      lastSendError = errnoText(rc)
      done?.(new TransportError({ reason: "Send", detail: lastSendError }))
    }
    /** `p` after the kernel took `r` more bytes of it: the rest starts at the first datagram it did not take. */
    const took = (p: PendingSend, r: number) => {
      p.offset += r
      if (typeof p.layout === "object") {
        let taken = r
        while (taken > 0) taken -= p.layout[p.next++]!
      }
    }
    const flush = () => {
      while (pending.length > 0) {
        const p = pending[0]!
        const r = handOver(p.address, p.port, p.bytes, p.layout, p.offset, p.next)
        if (r < 0) {
          pending.shift()
          failed(r, p.done)
          continue
        }
        took(p, r)
        if (p.offset < p.bytes.length) return void native.poll(unicast!, true, true)
        pending.shift()
        p.done?.()
      }
      native.poll(unicast!, true, false)
      drained?.()
    }
    // With nothing queued, a send goes to the kernel at once and is queued only when the kernel did not take it all:
    // no queue entry and no poll call per burst.
    const enqueue = (to: Destination, bytes: Uint8Array, layout: Layout, done: PendingSend["done"]) => {
      const address = to._tag === "Group" ? groupAddress : addressOf(to.address)
      const port = to._tag === "Group" ? options.port : to.port
      if (pending.length > 0) return void pending.push({ address, port, bytes, layout, offset: 0, next: 0, done })
      const r = handOver(address, port, bytes, layout, 0, 0)
      if (r < 0) return failed(r, done)
      if (r === bytes.length) return done?.()
      const p: PendingSend = { address, port, bytes, layout, offset: 0, next: 0, done }
      took(p, r)
      pending.push(p)
      native.poll(unicast!, true, true)
    }

    const onUnicast = (readable: boolean, writable: boolean) => {
      if (readable) readUnicast()
      if (writable) flush()
    }
    unicast = yield* open(options.bind, false, onUnicast)
    if (sends === "sendmmsg") native.noGso(unicast)
    yield* configure(unicast, !shared, shared)
    const readUnicast = receiver(unicast)
    native.poll(unicast, true, false)
    if (shared) {
      let readGroup = () => {}
      const groupSocket = yield* open(options.group, true, (readable) => readable && readGroup())
      yield* configure(groupSocket, true, true)
      readGroup = receiver(groupSocket)
      native.poll(groupSocket, true, false)
    }
    yield* Effect.acquireRelease(Effect.sync(() => onSettle(() => settling.forEach((release) => release()))), (forget) => Effect.sync(forget))
    // registered after the sockets, so it runs before they close: what is queued (EXIT!) goes out first
    yield* Effect.addFinalizer(() =>
      Effect.async<void>((resume) => {
        if (pending.length === 0) return resume(Effect.void)
        drained = () => resume(Effect.void)
      }).pipe(Effect.timeout("1 second"), Effect.ignore)
    )

    const io = (): IoMode => (native.gso(unicast) ? "gso" : "sendmmsg")

    return Transport.of({
      local,
      group,
      send: (to, bytes, layout = 0) => enqueue(to, bytes, layout, undefined),
      // the queue empty after it: this send went out at once (or failed, counted), nothing holds the bytes
      sendReusable: (to, bytes, layout) => (enqueue(to, bytes, layout, undefined), pending.length === 0),
      sendSegments: (to, bytes, segment) =>
        Effect.async<void, TransportError>((resume) => {
          enqueue(to, bytes, segment, (e) => resume(e === undefined ? Effect.void : Effect.fail(e)))
        }),
      consume: received.consume,
      stats: Effect.suspend(() => {
        const e = lastSendError
        lastSendError = undefined
        return Effect.as(e === undefined ? Effect.void : Effect.logWarning(`send failed: ${e}`), {
          io: io(),
          overflowed: received.overflowed(),
          kernelDrops: kernelDrops(),
          sendErrors
        })
      })
    })
  })

export const layer = (native: NativeUdp, options: UdpOptions, sends: "gso" | "sendmmsg" = "gso") =>
  Layer.scoped(Transport, make(native, options, sends))
