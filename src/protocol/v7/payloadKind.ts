import { Flag, Opcode, RecvState, SendState } from "./constants.js"
import type { PayloadTag } from "./message.js"

/**
 * Which payload layout a datagram carries, from its header alone (makuosan-v7.md §2.7). States whose payload makuosan
 * leaves stale (test/vectors/README.md C2) or never fills are `Opaque`: kept byte for byte, never interpreted.
 */
export const payloadKind = (opcode: number, flags: number, nstate: number): PayloadTag => {
  const ack = (flags & Flag.ACK) !== 0
  switch (opcode) {
    case Opcode.PING:
    case Opcode.EXIT:
      return "Mping"
    case Opcode.SEND:
      if (ack) return nstate === RecvState.OPEN || nstate === RecvState.MARK ? "Ranges" : "Opaque"
      if (nstate === SendState.STAT || nstate === SendState.OPEN) return "Mstat"
      return nstate === SendState.DATA ? "DataBlock" : "Opaque"
    case Opcode.MD5:
      return !ack && (nstate === SendState.OPEN || nstate === SendState.CLOSE) ? "Mhash" : "Opaque"
    case Opcode.DSYNC:
      if (ack) return "Opaque"
      if (nstate === SendState.OPEN) return "DsyncPath"
      return nstate === SendState.DATA ? "ExcludePatterns" : "Opaque"
    case Opcode.DEL:
      if (ack) return nstate === RecvState.OPEN ? "DelRecords" : "Opaque"
      return nstate === SendState.OPEN || nstate === SendState.DATA || nstate === SendState.CLOSE
        ? "DelRecords"
        : "Opaque"
    default:
      return "Opaque"
  }
}
