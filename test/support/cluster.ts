/** Daemons in one process on a `MemoryNetwork`: the real Wire, Members and Router layers over in-memory transports. */
import { Context, Duration, Effect, Exit, Fiber, Layer, Scope, Stream, TestClock } from "effect"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import * as Node from "../../src/daemon/Node.js"
import * as Members from "../../src/members/Members.js"
import * as Wire from "../../src/net/Wire.js"
import type { KeyRing } from "../../src/secure/keyFile.js"
import * as SecureTransport from "../../src/secure/SecureTransport.js"
import * as FileReceiver from "../../src/transfer/send/FileReceiver.js"
import * as Jobs from "../../src/transfer/Jobs.js"
import type { MemoryNetwork } from "./MemoryNetwork.js"

export interface TestNode {
  readonly address: string
  readonly host: string
  readonly base: string
  readonly jobs: Jobs.JobsShape
  readonly members: Members.MembersShape
  readonly wire: Wire.WireShape
  /** Orderly shutdown: EXIT is announced, every scoped resource released. */
  readonly stop: Effect.Effect<void>
  /** Every member change this node published since it started. */
  readonly changes: ReadonlyArray<Members.MemberChange>
}

export interface NodeOptions {
  readonly members?: Partial<Members.MembersConfig>
  readonly receiver?: Partial<FileReceiver.ReceiverConfig>
  /** Base dir; a fresh temp dir (removed with the node) when absent. */
  readonly base?: string
  /** Native mode: the secure transport over the in-memory one, with these keys. */
  readonly keys?: KeyRing
}

/**
 * The bases this test file's nodes make, under one directory removed after the file's tests: a test that fails
 * before it stops its nodes, or never stops them, leaves nothing in /tmp. Registered when a test file imports
 * this module (vitest evaluates it once per file).
 */
const nodesRoot = fs.mkdtempSync(join(tmpdir(), "makuo-nodes-"))
afterAll(() => fs.rmSync(nodesRoot, { recursive: true, force: true }))

export const startNode = (net: MemoryNetwork, address: string, options: NodeOptions = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const host = `h${address.split(".").at(-1)}`
    const base = options.base ?? fs.mkdtempSync(join(nodesRoot, `${host}-`))
    if (options.base === undefined) yield* Scope.addFinalizer(scope, Effect.sync(() => fs.rmSync(base, { recursive: true, force: true })))
    const layer = Node.layer({
      base,
      members: { ...Members.defaults(host, "test"), ...options.members },
      receiver: { ...FileReceiver.receiverDefaults, ...options.receiver }
    }).pipe(Layer.provide(
      options.keys === undefined
        ? net.transport(address)
        : SecureTransport.layer({ path: "(in memory)", ring: options.keys, runAsUid: undefined }).pipe(Layer.provide(net.transport(address)))
    ))
    const context = yield* Layer.buildWithScope(layer, scope)
    const members = Context.get(context, Members.Members)
    const changes: Array<Members.MemberChange> = []
    const stream = yield* Scope.extend(members.subscribe, scope)
    yield* Effect.forkIn(Stream.runForEach(stream, (c) => Effect.sync(() => changes.push(c))), scope)
    yield* settle
    return {
      address,
      host,
      base,
      jobs: Context.get(context, Jobs.Jobs),
      changes,
      members,
      wire: Context.get(context, Wire.Wire),
      stop: Scope.close(scope, Exit.void)
    } satisfies TestNode
  })

/** Lets every ready fiber run (queues drained, replies sent) without moving the clock. */
export const settle = Effect.repeatN(Effect.yieldNow(), 20)

/** Moves the test clock forward. TestClock wakes the sleepers in deadline order and lets the fibers they wake
 * run to suspension before the next one, so periodic work and the traffic it causes interleave as in real time. */
export const advance = (d: Duration.DurationInput) => Effect.zipRight(TestClock.adjust(d), settle)

export const hostsSeenBy = (node: TestNode) => Effect.map(node.members.list, (ms) => ms.map((m) => m.host))

/** Runs `effect` in a fiber while moving the test clock in `step`s until it is done (bounded by `limit`). */
export const driveClock = <A, E>(effect: Effect.Effect<A, E>, step: Duration.DurationInput = "100 millis", limit: Duration.DurationInput = "2 hours") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    const steps = Math.ceil(Duration.toMillis(limit) / Duration.toMillis(step))
    for (let i = 0; i < steps; i++) {
      yield* settle
      const done = yield* Fiber.poll(fiber)
      if (done._tag === "Some") return yield* done.value
      yield* TestClock.adjust(step)
    }
    return yield* Effect.die(new Error(`still running after ${Duration.format(limit)} of test time`))
  })
