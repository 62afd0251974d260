/**
 * `makuo doctor`: gathers what this host and its daemon can tell (status, member table, a PING of the group and,
 * in native mode, each member's clock offset from its PONG, interfaces, the route for the group,
 * net.core.rmem_max, NTP) and prints `doctor`'s verdicts. Exit 1 when a check fails; warnings alone exit 0.
 */
import { Command, Options } from "@effect/cli"
import { Console, Data, Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { networkInterfaces } from "node:os"
import * as Client from "../control/Client.js"
import type { ControlEvent } from "../control/Protocol.js"
import { clientSocketPath, controlOption, jsonOption } from "./common.js"
import { diagnose, type Facts, type LocalInterface, verdictLines } from "./doctor.js"

/** A check failed: the report says which; exit 1. */
export class DoctorFound extends Data.TaggedError("DoctorFound")<{}> {}

const PROBE_MS = 1000

const localInterfaces = (): ReadonlyArray<LocalInterface> =>
  Object.entries(networkInterfaces()).flatMap(([name, addresses]) =>
    (addresses ?? []).filter((a) => a.family === "IPv4").map((a) => ({ name, address: a.address, internal: a.internal })))

/** `ip route get GROUP`: a question to the kernel, nothing is sent. */
const routeFor = (group: string): Extract<Facts, { _tag: "Daemon" }>["route"] => {
  try {
    const out = execFileSync("ip", ["-4", "route", "get", group], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
    const dev = / dev (\S+)/.exec(out)?.[1]
    return dev === undefined ? undefined : { dev }
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? "unknown" : undefined
  }
}

const readNumber = (path: string) => {
  try {
    const n = Number(fs.readFileSync(path, "utf8").trim())
    return Number.isFinite(n) ? n : undefined
  } catch {
    return undefined
  }
}

const ntpSynchronized = (): boolean | undefined => {
  try {
    const out = execFileSync("timedatectl", ["show", "--property=NTPSynchronized", "--value"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
    return out.trim() === "yes"
  } catch {
    return undefined
  }
}

const only = <T extends ControlEvent["_tag"]>(events: ReadonlyArray<ControlEvent>, tag: T) =>
  events.find((e): e is Extract<ControlEvent, { _tag: T }> => e._tag === tag)

const gather = (control: string): Effect.Effect<Facts> =>
  Effect.gen(function*() {
    const status = only(yield* Client.collect(control, { _tag: "Status" }), "Status")!.status
    const members = only(yield* Client.collect(control, { _tag: "Members" }), "MemberList")!.members
    const probe = only(yield* Client.collect(control, { _tag: "Probe", waitMs: PROBE_MS }), "ProbeResult")!
    return {
      _tag: "Daemon" as const,
      control,
      status,
      members,
      answers: probe.answers,
      waitedMs: probe.waitedMs,
      interfaces: localInterfaces(),
      route: status.interface === "default" ? routeFor(status.group) : undefined,
      rmemMax: readNumber("/proc/sys/net/core/rmem_max"),
      ntp: ntpSynchronized()
    }
  }).pipe(
    Effect.catchAll((e) =>
      Effect.succeed<Facts>({
        _tag: "NoDaemon",
        control,
        reason: e._tag === "ControlUnavailable" ? e.why : e.message,
        denied: e._tag === "ControlUnavailable" && e.code === "EACCES"
      })
    )
  )

export const doctorCommand = Command.make(
  "doctor",
  { control: controlOption, json: jsonOption.pipe(Options.withDescription("One JSON object per check: check, level (ok, warn, fail), detail, fix.")) },
  ({ control, json }) =>
    Effect.gen(function*() {
      const verdicts = diagnose(yield* gather(clientSocketPath(control)))
      yield* Console.log(json ? verdicts.map((v) => JSON.stringify(v)).join("\n") : verdictLines(verdicts))
      if (verdicts.some((v) => v.level === "fail")) return yield* new DoctorFound()
    })
).pipe(
  Command.withDescription(
    "Check what makes multicast deployments fail, on this host and its daemon: the control socket, the interface " +
      "and route the group uses, the TTL, whether the other members answer a PING (and how fast), this host's " +
      "clock and, with a key file, each member's clock offset (a warning from 1 s, a failure from 60 s: copies keep " +
      "the sender's mtime), the base directory's permissions, the kernel's receive buffer limit and whether the kernel " +
      "dropped datagrams for the daemon. Each problem comes with what to " +
      "do. Exit 1 when a check fails, 0 otherwise (warnings included).\n\n" +
      "Examples:\n  makuo doctor\n  makuo doctor --json | jq 'select(.level != \"ok\")'"
  )
)
