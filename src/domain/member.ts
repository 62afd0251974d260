import { Schema } from "effect"

/** A daemon of the group, as the member table knows it; identity is the IPv4 address, as in makuosan. */
export const Member = Schema.Struct({
  host: Schema.String,
  address: Schema.String,
  port: Schema.Number,
  version: Schema.String,
  /** Epoch milliseconds of the last datagram accepted from this member. */
  lastSeen: Schema.Number,
  since: Schema.Number
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
