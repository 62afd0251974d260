import { tmpdir } from "node:os"
import { join } from "node:path"

/**
 * Where the daemon listens and the CLI connects: `--control PATH`, else `MAKUO_CONTROL`, else what `configured`
 * says (the config file's `control`, read only when it comes to that), else `/run/makuo/makuo.sock` for root,
 * `$XDG_RUNTIME_DIR/makuo/makuo.sock` or `/tmp/makuo-<uid>/makuo.sock` otherwise.
 */
export const controlSocketPath = (
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  uid: number = process.getuid?.() ?? 0,
  configured: () => string | undefined = () => undefined
): string => {
  if (flag !== undefined && flag !== "") return flag
  if (env.MAKUO_CONTROL !== undefined && env.MAKUO_CONTROL !== "") return env.MAKUO_CONTROL
  const fromFile = configured()
  if (fromFile !== undefined) return fromFile
  if (uid === 0) return "/run/makuo/makuo.sock"
  if (env.XDG_RUNTIME_DIR !== undefined && env.XDG_RUNTIME_DIR !== "") return join(env.XDG_RUNTIME_DIR, "makuo", "makuo.sock")
  return join(tmpdir(), `makuo-${uid}`, "makuo.sock")
}

/** Linux `sun_path` holds 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH = 107
