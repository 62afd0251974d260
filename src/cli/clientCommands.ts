import { Command } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import * as Client from "../control/Client.js"
import type { ControlEvent, ControlRequest } from "../control/Protocol.js"
import { clientSocketPath, controlOption, jsonOption } from "./common.js"
import { membersJson, membersText, statusJson, statusText } from "./render.js"

const ask = (control: Option.Option<string>, request: ControlRequest) =>
  Client.collect(clientSocketPath(control), request)

const print = (events: ReadonlyArray<ControlEvent>, json: boolean) =>
  Effect.forEach(events, (e) => {
    switch (e._tag) {
      case "MemberList":
        return Console.log(json ? membersJson(e.members) : membersText(e.members, e.now))
      case "Status":
        return Console.log(json ? statusJson(e.status) : statusText(e.status))
      case "File":
      case "Skipped":
      case "SourceError":
      case "Progress":
      case "ProbeResult":
      case "Summary":
      case "Failed":
      case "Done":
        return Effect.void
      default:
        return e satisfies never
    }
  }, { discard: true })

/** A command that sends one request to the daemon and prints its events. */
const clientCommand = <Name extends string>(name: Name, request: ControlRequest, description: string) =>
  Command.make(
    name,
    { control: controlOption, json: jsonOption },
    ({ control, json }) => Effect.flatMap(ask(control, request), (events) => print(events, json))
  ).pipe(Command.withDescription(description))

export const membersCommand = clientCommand(
  "members",
  { _tag: "Members" },
  "List the live members this daemon knows: host, address, version, last seen.\n\n" +
    "Examples:\n  makuo members\n  makuo members --json --control /tmp/b2.sock"
)

export const statusCommand = clientCommand(
  "status",
  { _tag: "Status" },
  "Show the daemon's state: version, uptime, base dir, group, members and datagram counters.\n\n" +
    "Examples:\n  makuo status\n  makuo status --json"
)
