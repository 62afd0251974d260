/**
 * The console against makuosan 1.3.6's own sessions: each captured msync conversation in `vectors/console/` is
 * replayed segment by segment against a makuo console, whose daemon side answers with the per-host outcomes the
 * capture's cluster had; every byte the console writes must equal what makuosan wrote.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import { type ConsoleBackend, serve } from "../../src/console/Console.js"
import type { Member } from "../../src/domain/member.js"
import type { HostOutcome, Outcome } from "../../src/domain/outcome.js"
import type { SendEvent, SendJob } from "../../src/domain/job.js"
import { connectConsole, transcript } from "../support/consoleClient.js"

const node2 = { host: "node2", address: "10.99.0.12" }
const node3 = { host: "node3", address: "10.99.0.13" }
type Host = typeof node2

const members: ReadonlyArray<Member> = [node3, node2].map((n) => ({ ...n, port: 5000, version: "1.3.6", lastSeen: 0, since: 0 }))

const on = (host: Host, outcome: Outcome, errno?: number): HostOutcome => ({ ...host, outcome, ...(errno === undefined ? {} : { errno }) })
const file = (path: string, ...hosts: ReadonlyArray<HostOutcome>): SendEvent => ({ _tag: "File", path, hosts })
const both = (path: string, outcome: Outcome, first = node3, second = node2) => file(path, on(first, outcome), on(second, outcome))

interface Answer {
  readonly events: ReadonlyArray<SendEvent>
  /** Milliseconds the job keeps running after its events (long enough for an `alive` line). */
  readonly after?: number
  readonly expect?: (job: SendJob) => void
}

const jobKey = (job: SendJob) => `${job.operation}${job.dryRun ? " -n" : ""}${job.recursive ? " -r" : ""} ${job.paths.join(" ")}`

const scenarios: Record<string, { readonly answers: Record<string, Answer>; readonly skip?: ReadonlyArray<number> }> = {
  "send-small": { answers: { "send small.txt": { events: [both("small.txt", "updated")] } } },
  "send-skip": { answers: { "send small.txt": { events: [both("small.txt", "skipped")] } } },
  "send-multiblock": { answers: { "send multi.bin": { events: [both("multi.bin", "updated")] } } },
  nak: { answers: { "send nak.bin": { events: [both("nak.bin", "updated")] } } },
  crypt: { answers: { "send crypt.txt": { events: [both("crypt.txt", "updated", node2, node3)] } } },
  "send-target": {
    answers: {
      "send target.txt": { events: [file("target.txt", on(node2, "updated"))], expect: (job) => expect(job.targets).toEqual(["node2"]) }
    }
  },
  dryrun: { answers: { "send -n dry.txt": { events: [both("dry.txt", "would-update")] } } },
  errors: {
    answers: {
      "send clash": { events: [file("clash", on(node3, "readonly"), on(node2, "failed", 17))] },
      "send ro.txt": { events: [file("ro.txt", on(node3, "readonly"), on(node2, "updated"))] }
    }
  },
  "sync-delete": { answers: { "sync gone.txt": { events: [file("gone.txt", on(node3, "deleted"), on(node2, "not-deleted"))] } } },
  "check-md5": {
    answers: {
      "check multi.bin": { events: [file("multi.bin", on(node3, "different"), on(node2, "same"))] },
      "check target.txt": { events: [file("target.txt", on(node3, "missing"), on(node2, "same"))] }
    }
  },
  "lost-ack": { answers: { "send lostack.txt": { events: [both("lostack.txt", "updated")], after: 1300 } } },
  recursive: {
    answers: {
      "send -r tree": {
        events: ["tree/sp ace.txt", "tree/link", "tree/sub/b.txt", "tree/a.txt", "tree/sub", "tree"].map((p) => both(p, "updated")),
        expect: (job) => expect(job.recursive).toBe(true)
      }
    }
  },
  metadata: {
    answers: { "send -r meta": { events: ["meta/fifo", "meta/owned.txt", "meta/blk", "meta/null", "meta"].map((p) => both(p, "updated")) } }
  },
  "dsync-dryrun": {
    answers: {
      "dsync -n -r tree": {
        events: [
          ...["olddir/x.txt", "olddir", "extra.txt", "keep.log"].map((p) => file(`tree/${p}`, on(node2, "would-delete"))),
          ...["olddir/x.txt", "olddir", "extra.txt", "keep.log", "sub/old.txt"].map((p) => file(`tree/${p}`, on(node3, "would-delete")))
        ]
      }
    }
  },
  dsync: {
    answers: {
      "dsync -r tree": {
        events: [file("tree/extra.txt", on(node2, "deleted")), file("tree/extra.txt", on(node3, "deleted")), file("tree/sub/old.txt", on(node3, "deleted"))],
        expect: (job) => expect([...job.excludes].sort()).toEqual(["*.log", "olddir/"])
      },
      "send -r tree": { events: [file("tree/sub", on(node3, "updated"), on(node2, "skipped")), both("tree", "updated")] }
    }
  },
  // connection 2 is `status`, whose process id, object count and buffer sizes are the capturing daemon's own
  "members-status-misc": { answers: {}, skip: [1] }
}

const backend = (answers: Record<string, Answer>): ConsoleBackend => ({
  members: Effect.succeed(members),
  status: Effect.die("status is not replayed"),
  run: (job) => {
    const answer = answers[jobKey(job)]
    if (answer === undefined) return Stream.dieMessage(`unexpected job: ${jobKey(job)}`)
    answer.expect?.(job)
    return Stream.concat(Stream.fromIterable(answer.events), Stream.fromEffect(Effect.sleep(answer.after ?? 0)).pipe(Stream.drain))
  },
  recvBufferSize: 106496,
  sendBufferSize: 106496
})

describe("the msync console replays makuosan 1.3.6's sessions byte for byte", () => {
  for (const [name, scenario] of Object.entries(scenarios)) {
    it.scopedLive(name, () =>
      Effect.gen(function*() {
        const path = join(yield* tempDir, "console.sock")
        yield* serve({ address: { _tag: "Unix", path }, password: undefined }, backend(scenario.answers))
        const connections = transcript(name)
        expect(connections.length).toBeGreaterThan(0)
        for (const [i, segments] of connections.entries()) {
          if (scenario.skip?.includes(i)) continue
          const client = yield* connectConsole(path)
          let expected = ""
          for (const segment of segments) {
            if (segment.from === "server") {
              expected += segment.bytes.toString("latin1")
              continue
            }
            const got = yield* client.atLeast(Buffer.byteLength(expected, "latin1"))
            expect(got.toString("latin1")).toBe(expected)
            yield* client.write(segment.bytes)
          }
          expect(yield* client.closed()).toBe(true)
          expect(client.received().toString("latin1")).toBe(expected)
        }
      }))
  }
})
