/**
 * `makuo keygen [FILE]`: a new native-mode group key line (random id, random 32-byte secret), on stdout or into
 * FILE created with mode 0600. An existing FILE is never overwritten: rotation adds a line to the key file by
 * hand (see docs/protocol.md), and a lost key file cannot be recovered.
 */
import { Args, Command } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import * as fs from "node:fs"
import { formatKeyLine } from "../secure/keyFile.js"
import { generateKey } from "../secure/keys.js"
import { UsageError } from "./errors.js"

/** Creates `path` holding `text`, readable by its owner alone; refuses an existing path. */
export const writeNewKeyFile = (path: string, text: string): Effect.Effect<void, UsageError> =>
  Effect.try({
    try: () => {
      const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600)
      try {
        // the umask can only take bits away; fchmod makes the mode exactly 0600 whatever it is
        fs.fchmodSync(fd, 0o600)
        fs.writeSync(fd, text)
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
    },
    catch: (e) =>
      new UsageError({
        detail: (e as NodeJS.ErrnoException).code === "EEXIST"
          ? `keygen: ${path} exists; keygen never overwrites a key file (to rotate, add the line 'makuo keygen' prints)`
          : `keygen: cannot create ${path}: ${(e as Error).message}`
      })
  })

export const keygenCommand = Command.make(
  "keygen",
  { file: Args.text({ name: "FILE" }).pipe(Args.optional, Args.withDescription("Write the key into FILE (created with mode 0600) instead of stdout.")) },
  ({ file }) => {
    const line = `${formatKeyLine(generateKey())}\n`
    return Option.match(file, { onNone: () => Console.log(line.trimEnd()), onSome: (path) => writeNewKeyFile(path, line) })
  }
).pipe(Command.withDescription("Make a new group key for native mode: one 'makuo-key-v1 ID SECRET' line, on stdout or into a new FILE."))
