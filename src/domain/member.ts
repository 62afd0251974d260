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
