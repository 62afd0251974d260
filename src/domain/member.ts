import { Schema } from "effect"

/**
 * A member's clock against ours, measured NTP-style from one PING and its PONG: `offsetMs` > 0 when its clock is
 * ahead of ours, exact to within half the round trip `rttMs`; `at` is when (epoch milliseconds, our clock).
 */
export const ClockReading = Schema.Struct({ offsetMs: Schema.Number, rttMs: Schema.Number, at: Schema.Number })
export type ClockReading = typeof ClockReading.Type

/**
 * The reading from the PING's send time `t1` (ours, echoed), the PONG's send time `t3` (theirs) and its arrival
 * `t4` (ours), all in nanoseconds since the epoch; undefined when our clock went back in between. The member
 * answers at once, so its receive time is taken as `t3`: a delay before it answers adds to the round trip.
 */
export const clockReading = (t1: bigint, t3: bigint, t4: bigint): ClockReading | undefined => {
  if (t4 < t1) return undefined
  const ms = (ns: bigint) => Number(ns) / 1e6
  return { offsetMs: ms(t3 - t1) - ms(t4 - t1) / 2, rttMs: ms(t4 - t1), at: Math.floor(ms(t4)) }
}

/** A daemon of the group, as the member table knows it; identity is the IPv4 address, as in makuosan. */
export const Member = Schema.Struct({
  host: Schema.String,
  address: Schema.String,
  port: Schema.Number,
  version: Schema.String,
  /** Epoch milliseconds of the last datagram accepted from this member. */
  lastSeen: Schema.Number,
  since: Schema.Number,
  /** The last clock measurement (native mode: a PONG echoes our PING's time; protocol v7 carries no time). */
  clock: Schema.optional(ClockReading)
})
export type Member = typeof Member.Type

/**
 * Every name that more than one member announces, with their addresses. Protocol v7 authenticates nobody: any host
 * may announce any name, so a name alone cannot pick a host when another address claims it too.
 */
export const sharedNames = (members: ReadonlyArray<Pick<Member, "host" | "address">>): ReadonlyMap<string, ReadonlyArray<string>> => {
  const byName = new Map<string, Array<string>>()
  for (const m of members) byName.set(m.host, [...(byName.get(m.host) ?? []), m.address])
  return new Map([...byName].filter(([, addresses]) => addresses.length > 1))
}

/** A member as a report names it: `h2`, or `h2 (127.0.0.9)` when its name is in `shared`. */
export const memberLabel = (m: Pick<Member, "host" | "address">, shared: ReadonlyMap<string, unknown>): string =>
  shared.has(m.host) ? `${m.host} (${m.address})` : m.host
