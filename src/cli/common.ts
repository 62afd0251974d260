import { Options } from "@effect/cli"
import { Either, Option } from "effect"
import { controlSocketPath } from "../control/socketPath.js"
import { configFileFromEnvironment, readConfig } from "./configFile.js"

export const controlOption = Options.text("control").pipe(
  Options.withDescription(
    "Control socket of the daemon. Default: $MAKUO_CONTROL, else 'control =' in the config file ($MAKUO_CONFIG or " +
      "/etc/makuo/makuo.conf, when readable), else /run/makuo/makuo.sock for root, " +
      "$XDG_RUNTIME_DIR/makuo/makuo.sock or /tmp/makuo-<uid>/makuo.sock for other users."
  ),
  Options.optional
)

/**
 * The daemon's socket as a client finds it, in the daemon's own order: `--control`, `MAKUO_CONTROL`, the config
 * file's `control` (a file the client cannot read or parse is the daemon's business: passed over), the default.
 */
export const clientSocketPath = (flag: Option.Option<string>): string => {
  const given = Option.getOrUndefined(flag)
  if ((given ?? "") !== "" || (process.env["MAKUO_CONTROL"] ?? "") !== "") return controlSocketPath(given)
  const file = readConfig(configFileFromEnvironment())
  return (Either.isRight(file) ? file.right?.entries.get("control")?.value : undefined) ?? controlSocketPath(undefined)
}

export const jsonOption = Options.boolean("json").pipe(Options.withDescription("Print JSON instead of a table."))
