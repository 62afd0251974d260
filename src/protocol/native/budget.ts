/**
 * How much one datagram carries at a given MTU (docs/protocol.md, "Transaction messages": the MTU arithmetic),
 * so that every transaction message fits one IPv4 datagram unfragmented: a lost fragment loses the datagram,
 * and multicast makes every member pay for it.
 *
 *   IPv4 header 20 + UDP header 8 + frame (header 52, message type 1, tag 16) + body ≤ MTU
 *
 * 1500 (Ethernet) by default; a jumbo-frame network may raise it up to the largest frame.
 */
import { Either } from "effect"
import type { Entry } from "../../transfer/txn/messages.js"
import { HEADER_BYTES, MAX_FRAME_BYTES, TAG_BYTES } from "../../secure/frame.js"
import { utf8Length } from "../text.js"
import { DIGEST_BYTES, MAX_ENTRY_NAMES } from "./transferMessage.js"
import { DATA_FIXED, ENTRY_FIXED, entryBytes, MANIFEST_FIXED, MISSING_MAX, PIECE_HEADER, REMOVALS_FIXED } from "./transfer.js"

export const DEFAULT_MTU = 1500
const IP_UDP_HEADERS = 20 + 8
const FRAME_OVERHEAD = HEADER_BYTES + 1 + TAG_BYTES

const bodyOf = (mtu: number) => mtu - IP_UDP_HEADERS - FRAME_OVERHEAD

/**
 * The least MTU that carries the largest bounded messages: a Manifest of one entry with the longest names and a
 * digest (or a link target's length), and a Missing of the most spans: 1386 bytes.
 */
export const MIN_MTU = IP_UDP_HEADERS + FRAME_OVERHEAD + Math.max(
  MANIFEST_FIXED + ENTRY_FIXED + Math.max(DIGEST_BYTES, 2) + MAX_ENTRY_NAMES,
  MISSING_MAX
)
export const MAX_MTU = MAX_FRAME_BYTES + IP_UDP_HEADERS

export interface Budget {
  readonly mtu: number
  /** Bytes of a message body (after the message type) in one datagram. */
  readonly body: number
  /** Bytes of a Data's pieces, their headers included: the sender machine's `datagram`. */
  readonly pieces: number
  /** Bytes of contents in a Data of one piece: the largest block of the bundle stream. */
  readonly block: number
}

export const budgetFor = (mtu: number = DEFAULT_MTU): Either.Either<Budget, string> => {
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) return Either.left(`MTU ${mtu}: expected an integer from ${MIN_MTU} to ${MAX_MTU}`)
  const body = bodyOf(mtu)
  return Either.right({ mtu, body, pieces: body - DATA_FIXED, block: body - DATA_FIXED - PIECE_HEADER })
}

/**
 * How many entries from `entries[from]` on one Manifest carries within `budget`: at least one (every entry fits
 * alone at `MIN_MTU`), at most 65 535. `reserved` bytes of the body are taken already (the first batch's scope):
 * then no entry may fit.
 */
export const fillBatch = (entries: ReadonlyArray<Entry>, from: number, budget: Budget, reserved = 0): number => {
  let bytes = MANIFEST_FIXED + reserved
  let n = 0
  while (from + n < entries.length && n < 0xffff) {
    bytes += entryBytes(entries[from + n]!)
    if (bytes > budget.body && (n > 0 || reserved > 0)) break
    n++
  }
  return n
}

/**
 * A member's removals in `Removals` datagrams, each within the body at `MIN_MTU` whatever the daemon's MTU (a
 * member does not know the sender's): every path of at most `MAX_ENTRY_NAMES` bytes fits one.
 */
export const removalBatches = (paths: ReadonlyArray<string>): Array<ReadonlyArray<string>> => {
  const body = bodyOf(MIN_MTU)
  const batches: Array<ReadonlyArray<string>> = []
  let batch: Array<string> = []
  let bytes = REMOVALS_FIXED
  for (const path of paths) {
    const size = 2 + utf8Length(path)
    if (batch.length > 0 && (bytes + size > body || batch.length === 0xffff)) (batches.push(batch), (batch = []), (bytes = REMOVALS_FIXED))
    batch.push(path)
    bytes += size
  }
  batches.push(batch)
  return batches
}
