/**
 * The console password (makuosan's `-K`, makuosan-v7.md §7): the file holds 4 to 63 bytes and the password is its text up to
 * the first line break. Only its MD5 is kept; a client's first line is hashed the same way and the two digests
 * compared in constant time, so neither the comparison's duration nor an early exit tells how much matched.
 */
import { Either } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"

export type PasswordDigest = Buffer & { readonly PasswordDigest: unique symbol }

const md5 = (bytes: Buffer) => createHash("md5").update(bytes).digest()

export const passwordFromFile = (content: Buffer): Either.Either<PasswordDigest, string> => {
  if (content.length > 63) return Either.left(`${content.length} bytes: a console password file holds at most 63 bytes`)
  const end = content.findIndex((b) => b === 0x0a || b === 0x0d)
  const password = end < 0 ? content : content.subarray(0, end)
  if (content.length < 4 || password.length === 0) return Either.left("too short: a console password needs at least 4 bytes")
  return Either.right(md5(password) as PasswordDigest)
}

export const passwordMatches = (digest: PasswordDigest, offered: Buffer): boolean => timingSafeEqual(digest, md5(offered))
