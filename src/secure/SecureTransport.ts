/**
 * The secure layer at the `Transport` level: the daemon's transport wrapped so that every layer above (wire,
 * members, the transfer engine) works unchanged whatever the mode.
 * - keyed (native mode): every datagram sent is a sealed native frame (a DATA burst sealed as one batch), every
 *   batch received is opened as one AEAD call, and only what opens, is fresh and comes from an admitted epoch
 *   goes up (`SecureChannel`). Peers admitted (or whose challenge we answered) are announced to `onPeer`, so
 *   the member layer re-announces itself to them: no membership is lost to datagrams dropped before admission.
 *   SIGHUP rereads the key file.
 * - unkeyed (protocol v7, makuosan-compatible and unauthenticated): datagrams pass as they are, but native
 *   frames are counted and dropped, and said (rate-limited) to need the key file.
 */
import { Clock, Context, Effect, Either, Layer, Runtime } from "effect"
import { randomBytes } from "node:crypto"
import { networkInterfaces } from "node:os"
import { rateLimitedLog } from "../transfer/rateLimitedLog.js"
import { type Datagram, type Destination, type Endpoint, type Layout, Transport, type TransportShape } from "../net/Transport.js"
import type { BodyType } from "../protocol/native/codec.js"
import { defaultAead } from "./aead.js"
import { FRAME_OVERHEAD, SecureChannel, type Whereabouts } from "./channel.js"
import { MAGIC } from "./frame.js"
import { type KeyRing, readKeyFile } from "./keyFile.js"

export type SecureStatus =
  | {
    readonly mode: "native"
    readonly keyId: string
    readonly engine: string
    readonly refused: Readonly<Record<string, number>>
    readonly epochs: number
    readonly challengesSent: number
    readonly answersSent: number
    readonly admitted: number
  }
  | { readonly mode: "v7"; readonly refused: Readonly<Record<string, number>> }

export interface SecureShape {
  readonly status: () => SecureStatus
  /** Sets the one listener told of peers worth a (re-)announcement (native mode only). */
  readonly onPeer: (listener: ((peer: Endpoint) => void) | undefined) => void
}

export class Secure extends Context.Tag("makuo/Secure")<Secure, SecureShape>() {}

export interface KeyFileSettings {
  readonly path: string
  /** what the daemon read at start (before it dropped privileges) */
  readonly ring: KeyRing
  /** the uid the daemon runs as after `--user`: it may own the file too (see readKeyFile) */
  readonly runAsUid: number | undefined
}

const endpointText = (e: Endpoint) => `${e.address}:${e.port}`

const ipv4Addresses = (): ReadonlySet<string> =>
  new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).filter((i) => i.family === "IPv4").map((i) => i.address)))

/**
 * The unicast endpoints a frame may name as its destination here: the bound address and port, or, bound to
 * 0.0.0.0, any IPv4 address of this host's interfaces with our port (reread at most once a second when a frame
 * names an address not among them: interfaces come and go).
 */
export const whereabouts = (local: Endpoint, group: Endpoint, addresses = ipv4Addresses, clock = Date.now): Whereabouts => {
  if (local.address !== "0.0.0.0") return { group, isLocal: (to) => to.address === local.address && to.port === local.port }
  let known = addresses()
  let readAt = clock()
  return {
    group,
    isLocal: (to) => {
      if (to.port !== local.port) return false
      if (!known.has(to.address) && clock() - readAt >= 1000) (known = addresses()), (readAt = clock())
      return known.has(to.address)
    }
  }
}

/**
 * Runs `effect` on every SIGHUP while the scope lasts. Keyed or not, a daemon handles it: Node's default for SIGHUP
 * ends the process, and a reload (`systemctl reload`) must never stop a daemon.
 */
const onHangup = (effect: Effect.Effect<void>) =>
  Effect.gen(function*() {
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const handler = () => void runFork(effect)
    yield* Effect.acquireRelease(Effect.sync(() => process.on("SIGHUP", handler)), () => Effect.sync(() => process.off("SIGHUP", handler)))
  })

/**
 * The spare buffer after a send of `used` (the spare itself, a view of it, or a buffer of its own): the one the
 * kernel took at once is spare; one it did not take waits in the transport's queue and is not.
 */
const spareAfter = <A extends Uint8Array | Uint32Array>(spare: A | undefined, used: A, taken: boolean): A | undefined =>
  used.buffer === spare?.buffer ? (taken ? spare : undefined) : taken ? used : spare

const keyedTransport = (inner: TransportShape, settings: KeyFileSettings) =>
  Effect.gen(function*() {
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const channel = new SecureChannel(defaultAead(), settings.ring, (n) => new Uint8Array(randomBytes(n)), whereabouts(inner.local, inner.group))
    let listener: ((peer: Endpoint) => void) | undefined
    const warn = rateLimitedLog<string>((message) => void runFork(Effect.logWarning(message)))
    // a datagram of an epoch not admitted yet is what every restart brings for a round trip: said, not warned
    const note = rateLimitedLog<string>((message) => void runFork(Effect.logInfo(message)))

    /**
     * The frames of the last burst of native messages, and their lengths (a burst of unequal ones), when the kernel
     * took them at once: the next burst is sealed into the same buffers. A buffer per burst (~85 KiB) was garbage by
     * the ten thousand per GiB sent, promoted before it died and held until a full collection (hundreds of MiB of a
     * keyed sender's RSS).
     */
    let spare: Uint8Array | undefined
    let spareLengths: Uint32Array | undefined
    const sendReusable = inner.sendReusable
    /** The lengths of the frames that carry messages of `lengths`: in the spare array when it is long enough. */
    const frameLengths = (lengths: Uint32Array): Uint32Array => {
      const out = spareLengths !== undefined && spareLengths.length >= lengths.length ? spareLengths.subarray(0, lengths.length) : new Uint32Array(lengths.length)
      for (let i = 0; i < lengths.length; i++) out[i] = lengths[i]! + FRAME_OVERHEAD
      return out
    }
    /**
     * Messages of `type` laid out in `bodies` as `layout` says, sealed as one run and handed over as one send; the
     * buffers are the next burst's when the kernel took them at once.
     */
    const sendBurst = (to: Destination, type: BodyType, bodies: Uint8Array, layout: Layout) => {
      const frames = channel.sealRun(bodies, layout, to, Date.now(), type, spare)
      const layoutOut = typeof layout === "number" ? layout + FRAME_OVERHEAD : frameLengths(layout)
      if (sendReusable === undefined) return inner.send(to, frames, layoutOut)
      const taken = sendReusable(to, frames, layoutOut)
      spare = spareAfter(spare, frames, taken)
      if (typeof layoutOut === "object") spareLengths = spareAfter(spareLengths, layoutOut, taken)
    }

    const transport = Transport.of({
      local: inner.local,
      group: inner.group,
      // v7 datagrams in frames: a DATA burst sealed as one run, anything else one frame
      send: (to, bytes, layout) =>
        layout === undefined || (typeof layout === "number" && (layout <= 0 || layout >= bytes.length))
          ? inner.send(to, channel.seal(bytes, to, Date.now()))
          : inner.send(to, channel.sealRun(bytes, layout, to, Date.now()), typeof layout === "number" ? layout + FRAME_OVERHEAD : layout.map((l) => l + FRAME_OVERHEAD)),
      sendSegments: (to, bytes, segment) =>
        Effect.suspend(() => inner.sendSegments(to, channel.sealRun(bytes, segment, to, Date.now()), segment + FRAME_OVERHEAD)),
      sendNative: (to, type, body) => inner.send(to, channel.seal(body, to, Date.now(), type)),
      sendNativeSegments: sendBurst,
      sendNativeEach: sendBurst,
      consume: (consumer) =>
        inner.consume(consumer === undefined ? undefined : (batch) => {
          const now = Date.now()
          const r = channel.receive(batch, now, performance.now())
          for (const s of r.send) inner.send({ _tag: "Peer", address: s.to.address, port: s.to.port }, s.frame)
          for (const { from, reason } of r.refused) {
            const say = reason === "unadmitted" ? note : warn
            say(
              reason,
              reason === "v7"
                ? `${endpointText(from)} speaks makuosan v7 (unauthenticated): ignored`
                : reason === "unadmitted"
                ? `${endpointText(from)}: a datagram of a sender epoch not admitted yet, dropped; its owner is challenged`
                : `refused a datagram from ${endpointText(from)}: ${reason}`,
              now
            )
          }
          if (listener !== undefined) for (const peer of r.peers) listener(peer)
          if (r.delivered.length > 0) consumer(r.delivered)
        }),
      stats: inner.stats
    })

    const reload = Effect.suspend(() => {
      const read = readKeyFile(settings.path, settings.runAsUid)
      if (Either.isLeft(read)) return Effect.logWarning(`SIGHUP: ${read.left.message}; keeping the keys in use`)
      const rekeyed = channel.setKeys(read.right)
      return Effect.logInfo(
        `SIGHUP: key file ${settings.path} reread: ${read.right.accepted.size} key(s) accepted, sealing under ${channel.keyId}` +
          (rekeyed ? " (a new sender epoch)" : "")
      )
    })
    yield* onHangup(reload)
    // idle epochs are forgotten now and then (they are challenged again if they speak)
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep("60 seconds"), Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => channel.forgetIdle(now))))))
    yield* Effect.logInfo(`native mode: every datagram sealed under key ${channel.keyId} (AES-256-GCM, ${channel.engine}); only native frames of the key file's keys are accepted`)

    const secure = Secure.of({
      status: () => ({ mode: "native", keyId: channel.keyId, engine: channel.engine, ...channel.counters }),
      onPeer: (l) => void (listener = l)
    })
    return Context.make(Transport, transport).pipe(Context.add(Secure, secure))
  })

const unkeyedTransport = (inner: TransportShape) =>
  Effect.gen(function*() {
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    let native = 0
    const log = rateLimitedLog<"native">((message) => void runFork(Effect.logWarning(message)))
    yield* Effect.logInfo(
      "makuosan-compatible mode (protocol v7): unauthenticated, so any host that reaches the group can send files here; " +
        "for native mode make a key with 'makuo keygen' and give every member the file (key-file = FILE)"
    )
    const transport = Transport.of({
      ...inner,
      consume: (consumer) =>
        inner.consume(consumer === undefined ? undefined : (batch) => {
          let kept: Array<Datagram> | undefined
          for (let i = 0; i < batch.length; i++) {
            const d = batch[i]!
            if (d.bytes[0] !== MAGIC) {
              kept?.push(d)
              continue
            }
            kept ??= batch.slice(0, i)
            native++
            log("native", `${endpointText(d.from)} speaks the native format; give this daemon the key file (key-file = FILE)`, Date.now())
          }
          const out = kept ?? batch
          if (out.length > 0) consumer(out)
        })
    })
    yield* onHangup(Effect.logInfo("SIGHUP: no key file to reread (protocol v7 mode)"))
    const secure = Secure.of({ status: () => ({ mode: "v7", refused: { native } }), onPeer: () => {} })
    return Context.make(Transport, transport).pipe(Context.add(Secure, secure))
  })

/** Wraps the transport below: native mode with a key file, protocol v7 without. */
export const layer = (keyFile: KeyFileSettings | undefined) =>
  Layer.scopedContext(Effect.flatMap(Transport, (inner) => keyFile === undefined ? unkeyedTransport(inner) : keyedTransport(inner, keyFile)))

