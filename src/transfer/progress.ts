import type { InFlight } from "../domain/job.js"
import type { Operation } from "../domain/operation.js"
import { recvStateName } from "../protocol/v7/constants.js"
import type { Peer } from "./engine/rounds.js"

/** A transfer in flight, as `makuo status` shows it; the transfer updates it as it goes. */
export interface Progress {
  readonly path: string
  readonly operation: Operation
  readonly startedAt: number
  /** Blocks of the file (0 for anything but a regular file's data). */
  blocks: number
  /** DATA datagrams sent so far, repairs included. */
  sent: number
  peers: ReadonlyMap<string, Peer> | undefined
}

/** Each member's state in a transfer, by name (`OPEN`, `MARK`, ..., `LOST`). */
export const hostStates = (p: Progress): InFlight["hosts"] =>
  [...(p.peers?.values() ?? [])].map((peer) => ({
    host: peer.target.host,
    state: peer.lost ? "LOST" : recvStateName(peer.state ?? peer.result) ?? String(peer.state)
  }))
