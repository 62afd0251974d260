/** Answers control requests from the daemon's services. */
import { Chunk, Clock, Duration, Effect, Stream } from "effect"
import * as fs from "node:fs"
import type { Handler } from "../control/Server.js"
import type { ControlEvent, StatusInfo } from "../control/Protocol.js"
import type { MembersShape } from "../members/Members.js"
import { hostStates } from "../transfer/progress.js"
import type { FileReceiverShape } from "../transfer/send/FileReceiver.js"
import type { TxnMembersShape } from "../transfer/txn/TxnMembers.js"
import type { JobsShape } from "../transfer/Jobs.js"
import type { WireShape } from "../net/Wire.js"
import type { SecureShape } from "../secure/SecureTransport.js"
import { VERSION } from "../version.js"
import type { DaemonConfig } from "./DaemonConfig.js"
import { coalesceSkipped, type SendEvent, sendJob } from "../domain/job.js"
import { NOT_FOUND, relativePaths } from "../transfer/Jobs.js"
import { notFoundHint, resolvePaths } from "./clientPaths.js"

/** A resolved PATH as the job reports it (relative to the base); undefined for one the job refuses. */
const normalize = (base: string, path: string) =>
  Effect.runSync(Effect.match(relativePaths(base, [path]), { onFailure: () => undefined, onSuccess: ([rel]) => rel }))

export interface Services {
  readonly members: MembersShape
  readonly wire: WireShape
  readonly jobs: JobsShape
  readonly receiver: FileReceiverShape
  readonly secure?: SecureShape
  /** Native tree transactions this daemon is a member of, shown among the transfers it receives. */
  readonly txn?: TxnMembersShape
}

const writable = (dir: string) => {
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK)
    return true
  } catch {
    return false
  }
}

const memory = () => {
  const { external, heapTotal, heapUsed, rss } = process.memoryUsage()
  return { rss, heapUsed, heapTotal, external }
}

/** Everything `status` shows, read from the services at one instant. */
export const collectStatus = (
  config: DaemonConfig,
  { jobs, members, receiver, secure, txn, wire }: Services,
  startedAt: number
): Effect.Effect<StatusInfo> =>
  Effect.all({
    list: members.list,
    counters: wire.counters,
    activity: jobs.activity,
    incoming: receiver.sessions,
    now: Clock.currentTimeMillis
  }).pipe(
    Effect.map(({ activity, counters: { io, ...counters }, incoming, list, now }) => ({
      version: VERSION,
      host: config.name,
      pid: process.pid,
      base: config.base,
      group: config.group,
      port: config.port,
      bind: config.bind,
      interface: config.interface ?? "default",
      ttl: config.ttl,
      recvBuffer: config.recvBufferSize ?? 0,
      readonly: config.readonly,
      baseWritable: writable(config.base),
      io,
      startedAt,
      now,
      members: list.length,
      counters: { ...counters, retransmittedBlocks: activity.retransmittedBlocks, resentBytes: activity.resentBytes, membersLost: activity.membersLost },
      memory: memory(),
      outgoing: activity.active.map((p) => ({
        path: p.path,
        operation: p.operation,
        startedAt: p.startedAt,
        blocks: p.blocks,
        sent: p.sent,
        hosts: hostStates(p)
      })),
      incoming: [
        ...incoming,
        ...(txn?.sessions() ?? []).map((t) => ({ path: `transaction ${t.txn}`, from: t.from, phase: t.phase, blocks: 0, missing: 0 }))
      ],
      ...(secure === undefined ? {} : { secure: secure.status() })
    }))
  )

export const makeHandler = (config: DaemonConfig, services: Services, startedAt: number): Handler =>
(request) => {
  const { jobs, members } = services
  switch (request._tag) {
    case "Members":
      return Stream.fromEffect(
        Effect.all({ members: members.list, now: Clock.currentTimeMillis }).pipe(
          Effect.map(({ members, now }) => ({ _tag: "MemberList" as const, members, now }))
        )
      )
    case "Status":
      return Stream.fromEffect(Effect.map(collectStatus(config, services, startedAt), (status) => ({ _tag: "Status" as const, status })))
    case "Probe":
      return Stream.fromEffect(
        Effect.map(members.probe(Duration.millis(request.waitMs)), (answers) => ({ _tag: "ProbeResult" as const, answers, waitedMs: request.waitMs }))
      )
    case "Send": {
      const { _tag, cwd, paths, rateMbit, timeoutMs, ...fields } = request
      const resolved = resolvePaths(config.base, cwd, paths)
      // a PATH not found names the base and what would have been found; `resolved` and the job's paths pair up
      const typedAs = new Map(paths.map((typed, i) => [normalize(config.base, resolved[i]!), typed]))
      const explained = (e: SendEvent): ControlEvent => {
        if (e._tag === "Summary") return { ...e, dryRun: request.dryRun, operation: request.operation }
        if (e._tag !== "SourceError" || e.message !== NOT_FOUND) return e
        const typed = typedAs.get(e.path)
        return typed === undefined ? e : { ...e, message: `${NOT_FOUND}: ${notFoundHint(config.base, cwd, typed)}` }
      }
      const job = sendJob({
        ...fields,
        paths: resolved,
        skipDirectories: true,
        rateMbit: rateMbit ?? undefined,
        timeout: Duration.millis(timeoutMs)
      })
      return jobs.run(job).pipe(
        Stream.mapChunks((events) => Chunk.unsafeFromArray(coalesceSkipped(events))),
        Stream.map(explained),
        Stream.catchAll((e) => Stream.succeed<ControlEvent>({ _tag: "Failed", reason: e._tag, message: e.message }))
      )
    }
    default:
      return request satisfies never
  }
}
