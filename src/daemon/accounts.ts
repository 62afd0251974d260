/**
 * User and group names as the system resolves them (`getent`, so NSS sources such as LDAP count too); numbers are
 * taken as they are. For `--user`, `--group` and `--control-group`.
 */
import { Either } from "effect"
import { execFileSync } from "node:child_process"

export interface Account {
  readonly name: string
  readonly uid: number
  readonly gid: number
}

const numeric = (s: string) => (/^\d+$/.test(s) ? Number(s) : undefined)

const getent = (database: "passwd" | "group", key: string): Array<string> | undefined => {
  try {
    return execFileSync("getent", [database, key], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n")[0]!.split(":")
  } catch {
    return undefined
  }
}

/** A user by name or uid; its primary group unless `group` names another. */
export const resolveUser = (user: string, group: string | undefined): Either.Either<Account, string> => {
  const entry = getent("passwd", user)
  const uid = entry !== undefined ? Number(entry[2]) : numeric(user)
  if (uid === undefined) return Either.left(`no such user '${user}'`)
  if (group !== undefined) return Either.map(resolveGroup(group), (gid) => ({ name: entry?.[0] ?? user, uid, gid }))
  if (entry === undefined) return Either.left(`uid ${user} has no passwd entry: name its group with --group`)
  return Either.right({ name: entry[0]!, uid, gid: Number(entry[3]) })
}

export const resolveGroup = (group: string): Either.Either<number, string> => {
  const entry = getent("group", group)
  const gid = entry !== undefined ? Number(entry[2]) : numeric(group)
  return gid === undefined ? Either.left(`no such group '${group}'`) : Either.right(gid)
}
