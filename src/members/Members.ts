/**
 * The member table, wire-compatible with makuosan (makuosan-v7.md §5.1, §6): a multicast PING on start answered by unicast
 * PONGs, multicast keep-alives every 45 s ± 15 s, eviction after `memberTimeout` of silence, EXIT on shutdown.
 * Identity is the IPv4 address, as in makuosan; a name two addresses announce is logged (see `nameClash`).
 * Unlike makuosan, a stray ACK from an unknown address creates no nameless member, the table is bounded, and
 * eviction runs on a timer whatever the traffic (makuosan-v7.md E35).
 */
import { Clock, Context, Data, Duration, Effect, Layer, Option, PubSub, Random, Runtime, type Scope, Stream } from "effect"
import { Flag, Opcode, RecvState, SendState } from "../protocol/constants.js"
import type { Member } from "../domain/member.js"
import type { Message, PayloadOf } from "../protocol/message.js"
import { Group, Peer } from "../net/Transport.js"
import { type Received, Wire } from "../net/Wire.js"
import { Secure } from "../secure/SecureTransport.js"

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
  /** Handles PING, PONG, keep-alive and EXIT. */
  readonly observe: (received: Received) => Effect.Effect<void>
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
}

export const make = (config: MembersConfig) =>
  Effect.gen(function*() {
    const wire = yield* Wire
    const table = new Map<string, Member>()
    const hub = yield* Effect.acquireRelease(PubSub.unbounded<MemberChange>(), PubSub.shutdown)
    const mping: PayloadOf<"Mping"> = { _tag: "Mping", hostname: config.host, version: config.version }
    const timeoutMs = Duration.toMillis(config.memberTimeout)

    const announce = (opcode: number, flags: number) =>
      Effect.flatMap(wire.nextReqId, (reqid) =>
        wire.send(Group, { header: wire.request({ opcode, nstate: SendState.STAT, reqid, flags }), payload: mping }))

    const upsert = (from: Received["from"], p: PayloadOf<"Mping">, now: number) => {
      const known = table.get(from.address)
      const member: Member = {
        host: p.hostname,
        address: from.address,
        port: from.port,
        version: p.version,
        lastSeen: now,
        since: known?.since ?? now
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

    const pong = (request: Message, to: Received["from"]) =>
      wire.send(Peer(to), { header: wire.ack(request.header, RecvState.NONE), payload: mping })

    /** Probes waiting for PONGs, by the request id of their PING (a PONG echoes it). */
    const probes = new Map<number, { readonly sentAt: number; readonly answers: Map<string, ProbeAnswer> }>()

    const probe = (wait: Duration.Duration) =>
      Effect.flatMap(wire.nextReqId, (reqid) =>
        Effect.gen(function*() {
          const answers = new Map<string, ProbeAnswer>()
          probes.set(reqid, { sentAt: yield* Clock.currentTimeMillis, answers })
          yield* wire.send(Group, { header: wire.request({ opcode: Opcode.PING, nstate: SendState.STAT, reqid, flags: 0 }), payload: mping })
          yield* Effect.sleep(wait)
          return [...answers.values()]
        }).pipe(Effect.ensuring(Effect.sync(() => probes.delete(reqid)))))

    const answered = (reqid: number, address: string, host: string, now: number) => {
      const p = probes.get(reqid)
      if (p !== undefined && !p.answers.has(address)) p.answers.set(address, { host, address, rttMs: now - p.sentAt })
    }

    const touch = (address: string, now: number) => {
      const known = table.get(address)
      if (known !== undefined && known.lastSeen !== now) table.set(address, { ...known, lastSeen: now })
    }

    const observe = ({ from, message }: Received) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const { header, payload } = message
        touch(from.address, now)
        if (payload._tag !== "Mping") return Effect.void
        if (header.opcode === Opcode.EXIT) return remove(from.address, "exit")
        if (header.opcode !== Opcode.PING) return Effect.void
        if ((header.flags & Flag.ACK) !== 0) answered(header.reqid, from.address, payload.hostname, now)
        const joined = upsert(from, payload, now)
        // a PING without ACK is a daemon starting: it learns the members from their PONGs
        return (header.flags & Flag.ACK) === 0 ? Effect.zipRight(joined, pong(message, from)) : joined
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
      Effect.andThen(Effect.forever(Effect.zipRight(announce(Opcode.PING, Flag.ACK), Effect.flatMap(keepAliveGap, Effect.sleep))))
    )

    // native mode drops a peer's datagrams until its epoch is admitted (a round trip): once it is, or once we
    // answered its challenge, a unicast PING (answered by PONG) makes up for the announcements dropped before
    const secure = yield* Effect.serviceOption(Secure)
    if (Option.isSome(secure)) {
      const runFork = Runtime.runFork(yield* Effect.runtime<never>())
      const ping = (to: Received["from"]) =>
        Effect.flatMap(wire.nextReqId, (reqid) =>
          wire.send(Peer(to), { header: wire.request({ opcode: Opcode.PING, nstate: SendState.STAT, reqid, flags: 0 }), payload: mping }))
      yield* Effect.acquireRelease(
        Effect.sync(() => secure.value.onPeer((peer) => void runFork(ping(peer)))),
        () => Effect.sync(() => secure.value.onPeer(undefined))
      )
    }

    yield* Effect.addFinalizer(() => announce(Opcode.EXIT, 0))
    yield* announce(Opcode.PING, 0)
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
