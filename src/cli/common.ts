import { Options } from "@effect/cli"

export const controlOption = Options.text("control").pipe(
  Options.withDescription(
    "Control socket of the daemon. Default: $MAKUO_CONTROL, else /run/makuo/makuo.sock for root, " +
      "$XDG_RUNTIME_DIR/makuo/makuo.sock or /tmp/makuo-<uid>/makuo.sock for other users."
  ),
  Options.optional
)

export const jsonOption = Options.boolean("json").pipe(Options.withDescription("Print JSON instead of a table."))
