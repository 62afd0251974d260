/**
 * Names on the wire are raw bytes. makuo accepts exactly the names that are valid UTF-8 without NUL, so that a
 * decoded string encodes back to the same bytes; anything else is refused as malformed (bad-inputs.md §2, §3).
 */

const encoder = new TextEncoder()
// ignoreBOM keeps a leading U+FEFF as a character, so decode→encode is the identity on valid UTF-8.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

export const utf8Bytes = (text: string): Uint8Array => encoder.encode(text)

export const utf8Length = (text: string): number => {
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4
      i++
    } else n += 3
  }
  return n
}

/** Strict UTF-8 decode; `undefined` for invalid bytes or an embedded NUL. */
export const decodeName = (bytes: Uint8Array): string | undefined => {
  if (bytes.includes(0)) return undefined
  try {
    return decoder.decode(bytes)
  } catch {
    return undefined
  }
}

/** True when the string is representable on the wire as a name (well-formed, no NUL). */
export const isWireName = (text: string): boolean => !text.includes("\u0000") && !loneSurrogate.test(text)

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
