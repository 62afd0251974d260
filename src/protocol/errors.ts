import { Data } from "effect"

/** Why a datagram was refused; every reason is counted and logged, none is fatal. */
export type MalformedReason =
  | "TooShort"
  | "Version"
  | "Length"
  | "Crypt"
  | "Payload"
  /** a native message type this codec does not know */
  | "Type"

export class MalformedDatagram extends Data.TaggedError("MalformedDatagram")<{
  readonly reason: MalformedReason
  readonly detail: string
}> {
  override get message() {
    return `malformed datagram (${this.reason}): ${this.detail}`
  }
}

/** A message whose payload does not fit its header or one datagram; a programming error on our side. */
export class UnencodableMessage extends Data.TaggedError("UnencodableMessage")<{
  readonly detail: string
}> {
  override get message() {
    return `cannot encode message: ${this.detail}`
  }
}
