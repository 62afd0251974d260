/**
 * `npm run lab -- up K`: a lab of K hosts (network namespaces on a bridge), each running a makuo daemon with the
 * production defaults, kept until Ctrl-C (which removes everything). From another terminal:
 *   npm run lab -- exec h1 makuo send -r          (makuo = this checkout's CLI, talking to h1's daemon)
 *   npm run lab -- loss h3 2 | rate h2 50 | rate h2 off
 *   npm run lab -- down                           (removes every lab namespace, e.g. after a crash)
 * Needs root. Nothing leaves the lab's namespaces.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Lab from "./lib/lab.js"
import { BIN } from "./lib/loopbackCluster.js"

const STATE = join(tmpdir(), "makuolab.json")

interface State {
  readonly pid: number
  readonly hosts: ReadonlyArray<Lab.LabHost>
  readonly bridge: string
}

const usage = "usage: npm run lab -- up K | exec HOST CMD... | loss HOST PERCENT | rate HOST MBIT|off | down"

const readState = (): State => {
  if (!fs.existsSync(STATE)) throw new Error(`no lab is up (${STATE} missing): start one with 'npm run lab -- up 4'`)
  return JSON.parse(fs.readFileSync(STATE, "utf8")) as State
}

const hostOf = (state: State, name: string | undefined) => {
  const host = state.hosts.find((h) => h.name === name)
  if (host === undefined) throw new Error(`no host '${name}' (hosts: ${state.hosts.map((h) => h.name).join(" ")})`)
  return host
}

const up = (k: number) =>
  Effect.scoped(Effect.gen(function*() {
    const lab = yield* Lab.withDaemons(k)
    fs.writeFileSync(STATE, JSON.stringify({ pid: process.pid, hosts: lab.hosts, bridge: lab.bridge } satisfies State))
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(STATE, { force: true })))
    yield* Console.log(lab.hosts.map((h) => `${h.name}  ${h.address}  namespace ${h.ns}  base ${h.base}`).join("\n"))
    yield* Console.log(`\nall ${k} daemons are members of each other. Try: npm run lab -- exec h1 makuo members\nCtrl-C removes the lab.`)
    return yield* Effect.never
  }))

const impair = (host: Lab.LabHost, bridge: string, what: "loss" | "rate", value: string) =>
  what === "loss" ? Lab.setLoss(host, Number(value)) : Lab.setRate(host, bridge, value === "off" ? undefined : Number(value))

const main = Effect.gen(function*() {
  const [command, ...args] = process.argv.slice(2)
  switch (command) {
    case "up": {
      const k = Number(args[0] ?? "4")
      if (!Number.isInteger(k) || k < 1 || k > 64) return yield* Effect.fail(`up K: K must be 1 to 64, not '${args[0]}'`)
      const why = Lab.labUnavailable()
      if (why !== undefined) return yield* Effect.fail(why)
      return yield* up(k)
    }
    case "exec": {
      const state = readState()
      const host = hostOf(state, args[0])
      const argv = args.slice(1)
      if (argv.length === 0) return yield* Effect.fail(usage)
      const full = argv[0] === "makuo" ? [process.execPath, BIN, ...argv.slice(1)] : argv
      const r = spawnSync("ip", ["netns", "exec", host.ns, ...full], {
        stdio: "inherit",
        cwd: host.base,
        env: { ...process.env, MAKUO_CONTROL: host.control }
      })
      process.exitCode = r.status ?? 1
      return
    }
    case "loss":
    case "rate": {
      const state = readState()
      return yield* impair(hostOf(state, args[0]), state.bridge, command, args[1] ?? "")
    }
    case "down": {
      if (fs.existsSync(STATE)) {
        const { pid } = readState()
        yield* Effect.try(() => process.kill(pid, "SIGTERM")).pipe(Effect.ignore)
        yield* Effect.sleep("2 seconds")
      }
      const left = yield* Lab.labNamespaces
      yield* Effect.forEach(left, Lab.removeNamespace, { discard: true })
      fs.rmSync(STATE, { force: true })
      yield* Console.log(left.length === 0 ? "no lab namespaces left" : `removed ${left.join(" ")}`)
      return
    }
    default:
      return yield* Effect.fail(usage)
  }
})

NodeRuntime.runMain(main.pipe(Effect.catchAll((e) => Effect.sync(() => {
  console.error(`lab: ${e instanceof Error ? e.message : String(e)}`)
  process.exitCode = 2
}))))
