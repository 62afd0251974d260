/** Answers control requests from the daemon's services. */
import { Clock, Effect, Stream } from "effect"
import type { Handler } from "../control/Server.js"
import type { MembersShape } from "../members/Members.js"
import type { WireShape } from "../net/Wire.js"
import { VERSION } from "../version.js"
import type { DaemonConfig } from "./DaemonConfig.js"

export const makeHandler = (config: DaemonConfig, members: MembersShape, wire: WireShape, startedAt: number): Handler =>
(request) => {
  switch (request._tag) {
    case "Members":
      return Stream.fromEffect(
        Effect.all({ members: members.list, now: Clock.currentTimeMillis }).pipe(
          Effect.map(({ members, now }) => ({ _tag: "MemberList" as const, members, now }))
        )
      )
    case "Status":
      return Stream.fromEffect(
        Effect.all({ list: members.list, counters: wire.counters, now: Clock.currentTimeMillis }).pipe(
          Effect.map(({ counters, list, now }) => ({
            _tag: "Status" as const,
            status: {
              version: VERSION,
              host: config.name,
              pid: process.pid,
              base: config.base,
              group: config.group,
              port: config.port,
              bind: config.bind,
              interface: config.interface ?? "default",
              startedAt,
              now,
              members: list.length,
              counters
            }
          }))
        )
      )
    default:
      return request satisfies never
  }
}
