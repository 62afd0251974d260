/**
 * Names on the wire and on disk are raw bytes, and makuosan sends whatever the file system holds (EUC-JP and
 * Shift_JIS names included). Valid UTF-8 decodes to its text; every other byte becomes one lone surrogate
 * U+DC80–U+DCFF (Python's "surrogateescape"), so every name without NUL decodes to a string that encodes back to
 * exactly the same bytes — on the wire and in the file system calls (`nameBytes` paths). A decoded string never
 * holds a lone surrogate otherwise, so the escape is unambiguous.
 */

const encoder = new TextEncoder()
// ignoreBOM keeps a leading U+FEFF as a character, so decode→encode is the identity on valid UTF-8.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

const ESCAPE_BASE = 0xdc00
const isEscape = (c: number) => c >= 0xdc80 && c <= 0xdcff
/** An escaped byte: a low surrogate of the escape range not preceded by a high surrogate. */
const escaped = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/

/** True when `text` holds escaped bytes (a name that is not valid UTF-8). */
export const hasEscapedBytes = (text: string): boolean => escaped.test(text)

export const utf8Bytes = (text: string): Uint8Array => {
  if (!escaped.test(text)) return encoder.encode(text)
  const out: Array<number> = []
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // a surrogate pair is consumed whole below, so a low surrogate met here is alone: an escaped byte
    if (isEscape(c)) {
      out.push(c - ESCAPE_BASE)
      continue
    }
    const cp = text.codePointAt(i)!
    if (cp > 0xffff) i++
    for (const b of encoder.encode(String.fromCodePoint(cp))) out.push(b)
  }
  return Uint8Array.from(out)
}

export const utf8Length = (text: string): number => {
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4
      i++
    } else if (isEscape(c)) n += 1
    else n += 3
  }
  return n
}

/** Decodes what is valid UTF-8 and escapes every other byte. */
const decodeEscaping = (b: Uint8Array): string => {
  let out = ""
  let i = 0
  while (i < b.length) {
    const c = b[i]!
    if (c < 0x80) {
      out += String.fromCharCode(c)
      i++
      continue
    }
    // lead byte: continuation count, its payload bits, the least code point it may encode (no overlongs)
    const [n, bits, min] = c >= 0xc2 && c <= 0xdf ? [1, c & 0x1f, 0x80] : c >= 0xe0 && c <= 0xef ? [2, c & 0x0f, 0x800] : c >= 0xf0 && c <= 0xf4 ? [3, c & 0x07, 0x10000] : [0, 0, 0]
    let cp = bits
    let ok = n > 0
    for (let k = 1; ok && k <= n; k++) {
      const d = b[i + k]
      if (d === undefined || (d & 0xc0) !== 0x80) ok = false
      else cp = (cp << 6) | (d & 0x3f)
    }
    if (ok && cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff)) {
      out += String.fromCodePoint(cp)
      i += n + 1
    } else {
      out += String.fromCharCode(ESCAPE_BASE + c)
      i++
    }
  }
  return out
}

/** A name's text (invalid UTF-8 bytes escaped); `undefined` for an embedded NUL, which no name may hold. */
export const decodeName = (bytes: Uint8Array): string | undefined => {
  if (bytes.includes(0)) return undefined
  try {
    return decoder.decode(bytes)
  } catch {
    return decodeEscaping(bytes)
  }
}

/** True when the string is representable on the wire as a name (no NUL; a lone surrogate only as an escaped byte). */
export const isWireName = (text: string): boolean => !text.includes("\u0000") && !loneSurrogate.test(text)

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDC7F\uDD00-\uDFFF]/

/** A name for people: escaped bytes shown as `\xE9`, the rest as it is. */
export const displayName = (text: string): string =>
  hasEscapedBytes(text) ? text.replace(/(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/g, (c) => `\\x${(c.charCodeAt(0) - ESCAPE_BASE).toString(16).toUpperCase()}`) : text
