/**
 * Strings as the addon takes a list of them (names of one directory, or paths): each one's bytes and a NUL, back to
 * back in one buffer kept across calls and grown for a longer list. A name that came off the wire as bytes that are
 * not UTF-8 goes as those bytes (`protocol/text.ts`), the rest as UTF-8 (3 bytes at most per UTF-16 unit).
 */
import { hasEscapedBytes, utf8Bytes } from "../protocol/text.js"

const encoder = new TextEncoder()

export interface NulStrings {
  /** Starts a new list. */
  readonly clear: () => void
  /** Appends `s` and its NUL; where its bytes start. */
  readonly push: (s: string) => number
  /** The list so far (a view: valid until the next `clear` or `push`). */
  readonly bytes: () => Uint8Array
}

export const nulStrings = (initial: number): NulStrings => {
  let buffer = new Uint8Array(initial)
  let length = 0
  return {
    clear: () => void (length = 0),
    push: (s) => {
      const start = length
      if (length + 3 * s.length + 1 > buffer.length) {
        const grown = new Uint8Array(Math.max(2 * buffer.length, length + 3 * s.length + 1))
        grown.set(buffer.subarray(0, length))
        buffer = grown
      }
      if (hasEscapedBytes(s)) {
        const bytes = utf8Bytes(s)
        buffer.set(bytes, length)
        length += bytes.length
      } else length += encoder.encodeInto(s, buffer.subarray(length)).written
      buffer[length++] = 0
      return start
    },
    bytes: () => buffer.subarray(0, length)
  }
}
