/** `makuo daemon` as @effect/cli knows it: its options made from the settings' rows and the command's own. */
import { Command, Options } from "@effect/cli"
import { commandRows, type DaemonFlags, daemonDescription, runDaemon } from "./daemonCommand.js"
import { helpText, type Row, settingRows } from "./daemonSettings.js"

const optionOf = (name: string, row: Row): Options.Options<unknown> => {
  const described = <A>(option: Options.Options<A>) => option.pipe(Options.optional, Options.withDescription(helpText(row)))
  switch (row.kind._tag) {
    case "text":
      return described(Options.text(name))
    case "file":
      return described(Options.file(name, { exists: "yes" }))
    case "integer":
      return described(Options.integer(name))
    case "choice":
      return described(Options.choice(name, row.kind.choices))
    case "boolean":
      return Options.boolean(name).pipe(Options.withDescription(helpText(row)))
    default:
      return row.kind satisfies never
  }
}

/** Every row as an @effect/cli option, the settings' in the table's order, then the command's own. */
export const daemonOptions = Object.fromEntries([...settingRows, ...commandRows].map((row) => [row.key, optionOf(row.name, row)])) as unknown as {
  readonly [K in keyof DaemonFlags]: Options.Options<DaemonFlags[K]>
}

export const daemonCommand = Command.make("daemon", daemonOptions, runDaemon).pipe(Command.withDescription(daemonDescription))
