/** Daemons in one process on a `MemoryNetwork`: the real Wire, Members and Router layers over in-memory transports. */
import { Context, Duration, Effect, Exit, Layer, Scope, Stream, TestClock } from "effect"
import * as Members from "../../src/members/Members.js"
import * as Router from "../../src/daemon/Router.js"
import * as Wire from "../../src/net/Wire.js"
import type { MemoryNetwork } from "./MemoryNetwork.js"

export interface TestNode {
  readonly address: string
  readonly members: Members.MembersShape
  readonly wire: Wire.WireShape
  /** Orderly shutdown: EXIT is announced, every scoped resource released. */
  readonly stop: Effect.Effect<void>
  /** Every member change this node published since it started. */
  readonly changes: ReadonlyArray<Members.MemberChange>
}

export const startNode = (net: MemoryNetwork, address: string, config?: Partial<Members.MembersConfig>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const host = `h${address.split(".").at(-1)}`
    const layer = Router.layer.pipe(
      Layer.provideMerge(Members.layer({ ...Members.defaults(host, "test"), ...config })),
      Layer.provideMerge(Wire.layer),
      Layer.provide(net.transport(address))
    )
    const context = yield* Layer.buildWithScope(layer, scope)
    const members = Context.get(context, Members.Members)
    const changes: Array<Members.MemberChange> = []
    const stream = yield* Scope.extend(members.subscribe, scope)
    yield* Effect.forkIn(Stream.runForEach(stream, (c) => Effect.sync(() => changes.push(c))), scope)
    yield* settle
    return {
      address,
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
