/**
 * `--user`: a root daemon opens what needs root (the UDP port, the control socket, the console) and then runs as
 * an unprivileged account for good — supplementary groups, gid, then uid, and it checks that root cannot be
 * regained. From then on it can write only where that account may, and received files keep the daemon's owner
 * (owners are applied only by a daemon running as root).
 */
import { Data, Effect } from "effect"
import * as fs from "node:fs"
import type { Account } from "./accounts.js"

export class PrivilegeDropFailed extends Data.TaggedError("PrivilegeDropFailed")<{ readonly account: Account; readonly detail: string }> {
  override get message() {
    return `--user ${this.account.name} (uid ${this.account.uid}, gid ${this.account.gid}): ${this.detail}`
  }
}

/** Switches to `account`; a `writable` directory (the base) must then be writable by it, or the daemon is useless. */
export const dropPrivileges = (account: Account, writable: string | undefined) =>
  Effect.gen(function*() {
    yield* Effect.try({
      try: () => {
        process.setgroups!([account.gid])
        process.setgid!(account.gid)
        process.setuid!(account.uid)
      },
      catch: (e) => new PrivilegeDropFailed({ account, detail: `could not switch: ${e instanceof Error ? e.message : String(e)}` })
    })
    const regained = (() => {
      try {
        process.setuid!(0)
        return true
      } catch {
        return false
      }
    })()
    if (regained || process.geteuid?.() !== account.uid) {
      return yield* new PrivilegeDropFailed({ account, detail: "root privileges are still there" })
    }
    if (writable !== undefined) {
      yield* Effect.try({
        try: () => fs.accessSync(writable, fs.constants.W_OK | fs.constants.X_OK),
        catch: () => new PrivilegeDropFailed({ account, detail: `the base ${writable} is not writable by that user (chown it, or add --readonly)` })
      })
    }
    yield* Effect.logInfo(`running as ${account.name} (uid ${account.uid}, gid ${account.gid})`)
  })
