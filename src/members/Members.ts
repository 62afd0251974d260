/**
 * The member table, wire-compatible with makuosan (makuosan-v7.md §5.1, §6): a multicast PING on start answered by unicast
 * PONGs, multicast keep-alives every 45 s ± 15 s, eviction after `memberTimeout` of silence, EXIT on shutdown.
 * Identity is the IPv4 address, as in makuosan; a name two addresses announce is logged (see `nameClash`).
 * Unlike makuosan, a stray ACK from an unknown address creates no nameless member, the table is bounded, and
 * eviction runs on a timer whatever the traffic.
 * A keyed daemon announces itself with the native messages instead (protocol/native: each carries the sender's
 * clock, so a PONG measures the member's clock offset, kept in the table); the handling is the same for both.
 */
import { Clock, Context, Data, Duration, Effect, Layer, Option, PubSub, Random, Runtime, type Scope, Stream } from "effect"
import { Flag, Opcode, RecvState, SendState } from "../protocol/v7/constants.js"
import { type ClockReading, clockReading, type Member } from "../domain/member.js"
import type { PayloadOf } from "../protocol/v7/message.js"
import type { WallNs } from "../protocol/native/message.js"
import { type Destination, Group, Peer } from "../net/Transport.js"
import { type NativeReceived, type Received, Wire } from "../net/Wire.js"
import { Secure } from "../secure/SecureTransport.js"
import { type Announcement, announcement, type Via } from "./announcement.js"
import { type ReqId } from "../protocol/fields.js"

export type LeaveReason = "exit" | "timeout"

export type MemberChange = Data.TaggedEnum<{
  Joined: { readonly member: Member }
  Renamed: { readonly member: Member; readonly previous: Member }
  Left: { readonly member: Member; readonly reason: LeaveReason }
}>
export const MemberChange = Data.taggedEnum<MemberChange>()

export interface MembersConfig {
  readonly host: string
  readonly version: string
  readonly memberTimeout: Duration.Duration
  readonly maxMembers: number
}

export const defaults = (host: string, version: string): MembersConfig => ({
  host,
  version,
  memberTimeout: Duration.seconds(300),
  maxMembers: 4096
})

/**
 * makuosan's keep-alive: first after 45 s, then every 45 s ± 15 s, against a 300 s timeout. A shorter
 * `--member-timeout` shortens the period in proportion (timeout × 0.15), so live members are never evicted.
 */
export const keepAlivePeriod = (memberTimeout: Duration.Duration): number =>
  Math.min(45_000, Math.floor(Duration.toMillis(memberTimeout) * 0.15))

export interface MembersShape {
  readonly self: { readonly host: string; readonly version: string }
  readonly list: Effect.Effect<ReadonlyArray<Member>>
  /** The member at `address` now, if any (synchronous: asked once per file sent). */
  readonly at: (address: string) => Member | undefined
  /** Subscribes now (nothing published after this call is missed) to a stream of changes, for the scope. */
  readonly subscribe: Effect.Effect<Stream.Stream<MemberChange>, never, Scope.Scope>
  /** Any accepted datagram from a member proves it alive (synchronous: it is on the hot path). */
  readonly touch: (address: string, now: number) => void
  /** Handles PING, PONG, keep-alive and EXIT, in protocol v7 or native. */
  readonly observe: (received: Received | NativeReceived) => Effect.Effect<void>
  /**
   * Multicasts a PING (as a starting daemon does: every member answers PONG) and waits `wait`: who answered, and
   * after how long. For `makuo doctor`.
   */
  readonly probe: (wait: Duration.Duration) => Effect.Effect<ReadonlyArray<ProbeAnswer>>
}

export class Members extends Context.Tag("makuo/Members")<Members, MembersShape>() {}

export interface ProbeAnswer {
  readonly host: string
  readonly address: string
  readonly rttMs: number
  /** The member's clock against ours, when its PONG carried its time (native mode). */
  readonly offsetMs?: number
}

/** What this daemon announces on its own: v7 sends the keep-alive as a PING with ACK, native as a PING asking no answer. */
type Outgoing = "Ping" | "KeepAlive" | "Exit"
const v7Of: Record<Outgoing, { readonly opcode: number; readonly flags: number }> = {
  Ping: { opcode: Opcode.PING, flags: 0 },
  KeepAlive: { opcode: Opcode.PING, flags: Flag.ACK },
  Exit: { opcode: Opcode.EXIT, flags: 0 }
}

export const make = (config: MembersConfig) =>
  Effect.gen(function*() {
    const wire = yield* Wire
    const table = new Map<string, Member>()
    const hub = yield* Effect.acquireRelease(PubSub.unbounded<MemberChange>(), PubSub.shutdown)
    const names = { hostname: config.host, version: config.version }
    const mping: PayloadOf<"Mping"> = { _tag: "Mping", ...names }
    const timeoutMs = Duration.toMillis(config.memberTimeout)

    // the wall clock, what mtimes are read against (Effect's nanosecond clock is monotonic from the start and
    // misses the steps NTP makes later); milliseconds are ample for offsets judged in seconds
    const wallNs = (ms: number) => (BigInt(ms) * 1_000_000n) as WallNs
    const wallNow = Effect.map(Clock.currentTimeMillis, wallNs)
    // a keyed daemon's secure transport seals native messages: then everything it announces is native
    const sendNative = wire.sendNative

    const send = (to: Destination, kind: Outgoing, reqid: ReqId) =>
      sendNative === undefined
        ? wire.send(to, { header: wire.request({ ...v7Of[kind], nstate: SendState.STAT, reqid }), payload: mping })
        : Effect.flatMap(wallNow, (time) =>
          sendNative(to, kind === "Exit" ? { _tag: "Exit", reqid, time, ...names } : { _tag: "Ping", reqid, time, ...names, answer: kind === "Ping" }))

    const announce = (to: Destination, kind: Outgoing) => Effect.flatMap(wire.nextReqId, (reqid) => send(to, kind, reqid))

    /** Answers a PING in the format it came in: a v7 PONG echoes its header, a native one its reqid and time. */
    const pong = (reqid: ReqId, via: Via, to: Received["from"]) => {
      if (via._tag === "V7") return wire.send(Peer(to), { header: wire.ack(via.header, RecvState.NONE), payload: mping })
      // a native PING reached us through the secure transport, which always has sendNative
      if (sendNative === undefined) return Effect.void
      return Effect.flatMap(wallNow, (time) => sendNative(Peer(to), { _tag: "Pong", reqid, time, pingTime: via.time, ...names }))
    }

    const upsert = (from: Received["from"], p: Pick<Announcement, "hostname" | "version">, now: number, clock: ClockReading | undefined) => {
      const known = table.get(from.address)
      const measured = clock ?? known?.clock
      const member: Member = {
        host: p.hostname,
        address: from.address,
        port: from.port,
        version: p.version,
        lastSeen: now,
        since: known?.since ?? now,
        ...(measured === undefined ? {} : { clock: measured })
      }
      if (known === undefined && table.size >= config.maxMembers) {
        return Effect.logWarning(`member table full (${config.maxMembers}); ignoring ${p.hostname} at ${from.address}`)
      }
      table.set(from.address, member)
      if (known === undefined) {
        return Effect.all([
          PubSub.publish(hub, MemberChange.Joined({ member })),
          Effect.logInfo(`member joined: ${member.host} ${member.address} (${member.version})`),
          nameClash(member)
        ], { discard: true })
      }
      if (known.host !== member.host || known.version !== member.version || known.port !== member.port) {
        const renamed = PubSub.publish(hub, MemberChange.Renamed({ member, previous: known }))
        return known.host === member.host ? renamed : Effect.zipRight(renamed, nameClash(member))
      }
      return Effect.void
    }

    /**
     * Said once, when a member takes a name this daemon or another address already announces: protocol v7
     * authenticates nobody, so it may be an impostor; `-t NAME` is then refused, and the reports name the address.
     */
    const nameClash = (member: Member) => {
      const others = [...table.values()].filter((m) => m.host === member.host && m.address !== member.address).map((m) => m.address)
      const warnings = [
        ...(member.host === config.host
          ? [`${member.address} announces this daemon's own name ${member.host}: a misconfigured --name or an impostor`]
          : []),
        ...(others.length > 0
          ? [`two members announce the name ${member.host}: ${[...others, member.address].join(", ")}; a misconfigured --name or an impostor (-t ${member.host} is refused; -t ADDRESS picks one)`]
          : [])
      ]
      return Effect.forEach(warnings, (w) => Effect.logWarning(w), { discard: true })
    }

    const remove = (address: string, reason: LeaveReason) => {
      const member = table.get(address)
      if (member === undefined) return Effect.void
      table.delete(address)
      return Effect.zipRight(
        PubSub.publish(hub, MemberChange.Left({ member, reason })),
        Effect.logInfo(`member left (${reason}): ${member.host} ${member.address}`)
      )
    }

    /** Probes waiting for PONGs, by the request id of their PING (a PONG echoes it). */
    const probes = new Map<number, { readonly sentAt: number; readonly answers: Map<string, ProbeAnswer> }>()

    const probe = (wait: Duration.Duration) =>
      Effect.flatMap(wire.nextReqId, (reqid) =>
        Effect.gen(function*() {
          const answers = new Map<string, ProbeAnswer>()
          probes.set(reqid, { sentAt: yield* Clock.currentTimeMillis, answers })
          yield* send(Group, "Ping", reqid)
          yield* Effect.sleep(wait)
          return [...answers.values()]
        }).pipe(Effect.ensuring(Effect.sync(() => probes.delete(reqid)))))

    const answered = (reqid: number, address: string, host: string, now: number, clock: ClockReading | undefined) => {
      const p = probes.get(reqid)
      if (p !== undefined && !p.answers.has(address)) {
        p.answers.set(address, { host, address, rttMs: now - p.sentAt, ...(clock === undefined ? {} : { offsetMs: clock.offsetMs }) })
      }
    }

    const touch = (address: string, now: number) => {
      const known = table.get(address)
      if (known !== undefined && known.lastSeen !== now) table.set(address, { ...known, lastSeen: now })
    }

    const observe = (received: Received | NativeReceived) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const from = received.from
        touch(from.address, now)
        const a = announcement(received)
        if (a === undefined) return Effect.void
        switch (a._tag) {
          case "Exit":
            return remove(from.address, "exit")
          case "Pong": {
            const clock = a.clock === undefined ? undefined : clockReading(a.clock.pingTime, a.clock.time, wallNs(now))
            answered(a.reqid, from.address, a.hostname, now, clock)
            return upsert(from, a, now, clock)
          }
          case "Ping": {
            const joined = upsert(from, a, now, undefined)
            // a daemon starting (or a probe) asks for answers: it learns the members from their PONGs
            return a.answer ? Effect.zipRight(joined, pong(a.reqid, a.via, from)) : joined
          }
        }
      })

    // sleeps until the earliest member could expire, so eviction is exact and an idle daemon barely wakes up
    const evictExpired = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      let next = now + timeoutMs
      const expired: Array<Member> = []
      for (const m of table.values()) {
        if (now - m.lastSeen >= timeoutMs) expired.push(m)
        else next = Math.min(next, m.lastSeen + timeoutMs)
      }
      return Effect.as(Effect.forEach(expired, (m) => remove(m.address, "timeout"), { discard: true }), next - now)
    })
    const eviction = Effect.forever(Effect.flatMap(evictExpired, (waitMs) => Effect.sleep(Duration.millis(waitMs))))

    const period = keepAlivePeriod(config.memberTimeout)
    // makuosan draws whole seconds; so do we while the period is in seconds
    const grain = period >= 30_000 ? 1000 : 1
    const keepAliveGap = Effect.map(
      Random.nextIntBetween(Math.round((period * 2) / 3 / grain), Math.round((period * 4) / 3 / grain) + 1),
      (k) => Duration.millis(k * grain)
    )
    const keepAlive = Effect.sleep(Duration.millis(period)).pipe(
      Effect.andThen(Effect.forever(Effect.zipRight(announce(Group, "KeepAlive"), Effect.flatMap(keepAliveGap, Effect.sleep))))
    )

    // native mode drops a peer's datagrams until its epoch is admitted (a round trip): once it is, or once we
    // answered its challenge, a unicast PING (answered by PONG) makes up for the announcements dropped before
    const secure = yield* Effect.serviceOption(Secure)
    if (Option.isSome(secure)) {
      const runFork = Runtime.runFork(yield* Effect.runtime<never>())
      yield* Effect.acquireRelease(
        Effect.sync(() => secure.value.onPeer((peer) => void runFork(announce(Peer(peer), "Ping")))),
        () => Effect.sync(() => secure.value.onPeer(undefined))
      )
    }

    yield* Effect.addFinalizer(() => announce(Group, "Exit"))
    yield* announce(Group, "Ping")
    yield* Effect.forkScoped(keepAlive)
    yield* Effect.forkScoped(eviction)

    return Members.of({
      self: { host: config.host, version: config.version },
      list: Effect.sync(() => [...table.values()].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0))),
      at: (address) => table.get(address),
      subscribe: Stream.fromPubSub(hub, { scoped: true }),
      touch,
      observe,
      probe
    })
  })

export const layer = (config: MembersConfig) => Layer.scoped(Members, make(config))
