/** A sender and receivers with their own trees on an impaired in-memory network: the setup of the transfer properties. */
import { Chunk, Effect, Stream } from "effect"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import type { SendEvent, SendJob } from "../../src/domain/job.js"
import { driveClock, settle, startNode, type TestNode } from "./cluster.js"
import * as MemoryNetwork from "./MemoryNetwork.js"
import { type TreeNode, writeTree } from "./trees.js"

export interface Scenario extends MemoryNetwork.Impairments {
  readonly sender: ReadonlyArray<TreeNode>
  readonly receivers: ReadonlyArray<ReadonlyArray<TreeNode>>
  readonly seed: number
}

export const setUp = (s: Scenario) =>
  Effect.gen(function*() {
    const net = yield* MemoryNetwork.make({ seed: s.seed })
    const sender = yield* startNode(net, "10.0.0.1")
    writeTree(sender.base, s.sender)
    // bases outlive the nodes, so what a stopped node left behind can still be inspected
    const receivers = yield* Effect.forEach(s.receivers, (t, i) =>
      Effect.flatMap(tempDir, (base) =>
        Effect.tap(startNode(net, `10.0.0.${i + 2}`, { base }), (n) => Effect.sync(() => writeTree(n.base, t)))))
    yield* settle
    yield* net.setImpairments({ loss: s.loss, duplicate: s.duplicate, maxDelayMs: s.maxDelayMs })
    return { net, sender, receivers }
  })

/** Runs a job to its end on the test clock; its events. */
export const runJob = (node: TestNode, job: SendJob) =>
  Effect.map(driveClock(Stream.runCollect(node.jobs.run(job)), "250 millis"), (c): ReadonlyArray<SendEvent> => Chunk.toReadonlyArray(c))
