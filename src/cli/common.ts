import { Options } from "@effect/cli"
import { Either, Option } from "effect"
import { clientDefaultSocket, controlDescription, controlSocketPath } from "../control/socketPath.js"
import { configFileFromEnvironment, readConfig } from "./configFile.js"

export const controlOption = Options.text("control").pipe(Options.withDescription(controlDescription), Options.optional)

/** The config file's `control`; a file the client cannot read or parse is the daemon's business: passed over. */
const configuredControl = () => {
  const file = readConfig(configFileFromEnvironment())
  return Either.isRight(file) ? file.right?.entries.get("control")?.value : undefined
}

/** The daemon's socket as a client finds it: in the daemon's own order, then the client's default (`clientDefaultSocket`). */
export const clientSocketPath = (flag: Option.Option<string>): string =>
  controlSocketPath(Option.getOrUndefined(flag), process.env, process.getuid?.() ?? 0, configuredControl, clientDefaultSocket())

export const jsonOption = Options.boolean("json").pipe(Options.withDescription("Print JSON instead of a table."))
