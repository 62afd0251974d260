/**
 * The error Node's own `fs` calls throw for an errno, for a failure the addon returned as a number: code, Node's
 * text for it, the call, and `errno` negative as Node's are (`FileStore.errnoOf` takes either sign). The addon's
 * calls (`stageCalls.ts`: positive errnos; `listing.ts`: negative) fail as the `node:fs` fallbacks beside them do.
 */
import { getSystemErrorMap } from "node:util"

export const errnoError = (errno: number, call: string): Error & { readonly code: string; readonly errno: number } => {
  const rc = -Math.abs(errno)
  const [code, description] = getSystemErrorMap().get(rc) ?? [`E${-rc}`, `errno ${-rc}`]
  return Object.assign(new Error(`${code}: ${description}, ${call}`), { code, errno: rc })
}
