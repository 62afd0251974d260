import { Args, Command, Options } from "@effect/cli"
import { Console, Data, Duration, Effect, Either, Option, Stream } from "effect"
import * as fs from "node:fs"
import * as Client from "../control/Client.js"
import { RequestRefused } from "../control/errors.js"
import type { SendRequest } from "../control/Protocol.js"
import { DEFAULT_PARALLEL, MAX_PARALLEL } from "../domain/job.js"
import { type Verdict, verdict } from "../domain/summary.js"
import { clientSocketPath, controlOption } from "./common.js"
import { parseDuration } from "./duration.js"
import { UsageError } from "./errors.js"
import { makeLive } from "./liveRender.js"
import { jsonLines, reportLines } from "./sendRender.js"
import { interruptedLine, makeTally } from "./sendTally.js"

/** Some host failed or was lost: the report says which; exit 1. */
export class TransferFailed extends Data.TaggedError("TransferFailed")<{}> {}
/** Nothing failed, but a member running --readonly did not take some file: exit 3, so a deploy can tell. */
export class TransferDeclined extends Data.TaggedError("TransferDeclined")<{}> {}

const DEFAULT_TIMEOUT = "60s"

const options = {
  recursive: Options.boolean("recursive").pipe(Options.withAlias("r"), Options.withDescription("Send directories with everything below them.")),
  dryRun: Options.boolean("dry-run").pipe(
    Options.withAlias("n"),
    Options.withDescription("Report per host what would change; change nothing anywhere.")
  ),
  target: Options.text("target").pipe(
    Options.withAlias("t"),
    Options.repeated,
    Options.withDescription("Send only to this member (by its name; repeat for several). Unicast.")
  ),
  delete: Options.boolean("delete").pipe(
    Options.withDescription(
      "Also delete on the members what this server does not have under the PATHs (makuosan's --delete); " +
        "excluded paths are never deleted. On a keyed daemon with -r the deletions are part of the transaction: " +
        "done in the same switch as the send, and nowhere a member fails. With -n: list per host what would be deleted."
    )
  ),
  exclude: Options.text("exclude").pipe(
    Options.repeated,
    Options.withDescription("Skip what matches (makuosan semantics: '*.log', 'cache/', 'a/b/*'; '/cache2' is anchored at the base dir, as in rsync); repeatable.")
  ),
  excludeFrom: Options.file("exclude-from").pipe(Options.optional, Options.withDescription("Read exclude patterns from a file, one per line.")),
  checksum: Options.boolean("checksum").pipe(
    Options.withAlias("c"),
    Options.withDescription(
      "Also compare the content (MD5) of each regular file a member would skip because its size, mtime, mode and " +
        "owner match, and send it again where the content differs (reported as updated, 'content differed'). " +
        "Repairs a copy that was damaged or tampered with; costs a read of every such file on both sides. On a keyed " +
        "daemon each member compares its copy by SHA-256 within the transaction (reported as updated)."
    )
  ),
  allOrNothing: Options.boolean("all-or-nothing").pipe(
    Options.withDescription(
      "Commit everywhere or nowhere: a member that fails or stops answering before the commit makes every member " +
        "discard the whole send (by default the others commit it). Needs a keyed daemon (the send runs as one " +
        "transaction); refused with --delete without -r."
    )
  ),
  parallel: Options.integer("parallel").pipe(Options.withDefault(DEFAULT_PARALLEL), Options.withDescription(`Transfers in flight at once (1-${MAX_PARALLEL}); each member keeps at most that many files open. Default: ${DEFAULT_PARALLEL}.`)),
  rate: Options.float("rate").pipe(Options.optional, Options.withDescription("Cap the data rate, in Mbit/s. Default: no cap.")),
  timeout: Options.text("timeout").pipe(
    Options.withDefault(DEFAULT_TIMEOUT),
    Options.withDescription(`Drop a member from this send after it has not answered for this long. Default: ${DEFAULT_TIMEOUT}.`)
  ),
  verbose: Options.boolean("verbose").pipe(
    Options.withAlias("v"),
    Options.withDescription("Also list the files every host skipped (unchanged everywhere); without it they are only counted.")
  ),
  quiet: Options.boolean("quiet").pipe(
    Options.withAlias("q"),
    Options.withDescription("Print only what went wrong (errors, lost hosts, differences) and the summary; no live display.")
  ),
  json: Options.boolean("json").pipe(Options.withDescription("One JSON object per event (see the README); with -v also the unchanged files.")),
  control: controlOption
}

const paths = Args.text({ name: "PATH" }).pipe(
  Args.repeated,
  Args.withDescription(
    "Paths relative to the current directory when it lies inside the daemon's base dir, else relative to the base " +
      "(an absolute path must lie inside the base)."
  )
)

type Parsed = Command.Command.ParseConfig<typeof options> & { readonly paths: ReadonlyArray<string> }

const excludePatterns = (o: Parsed) =>
  Option.match(o.excludeFrom, {
    onNone: () => Effect.succeed(o.exclude),
    onSome: (file) =>
      Effect.try({
        try: () => [...o.exclude, ...fs.readFileSync(file, "utf8").split(/\r?\n/).filter((l) => l !== "")],
        catch: (e) => new UsageError({ detail: `--exclude-from ${file}: ${(e as Error).message}` })
      })
  })

type Operation = SendRequest["operation"]

const toRequest = (o: Parsed, operation: Operation) =>
  Effect.gen(function*() {
    const timeout = parseDuration(o.timeout)
    if (Either.isLeft(timeout)) return yield* Effect.fail(new UsageError({ detail: `--timeout ${timeout.left}` }))
    if (o.parallel < 1 || o.parallel > MAX_PARALLEL) return yield* Effect.fail(new UsageError({ detail: `--parallel ${o.parallel}: must be 1 to ${MAX_PARALLEL}` }))
    if (Option.isSome(o.rate) && !(o.rate.value > 0)) return yield* Effect.fail(new UsageError({ detail: `--rate ${o.rate.value}: must be above 0` }))
    if (o.paths.length === 0 && !o.recursive) {
      return yield* Effect.fail(new UsageError({ detail: "no PATH given (use -r to send the whole base)" }))
    }
    return {
      _tag: "Send",
      paths: o.paths,
      cwd: process.cwd(),
      recursive: o.recursive,
      dryRun: o.dryRun,
      operation,
      delete: o.delete,
      targets: o.target,
      excludes: yield* excludePatterns(o),
      parallel: o.parallel,
      checksum: o.checksum,
      reportSkipped: o.verbose,
      countSkipped: false,
      rateMbit: Option.getOrNull(o.rate),
      timeoutMs: Math.round(Duration.toMillis(timeout.right)),
      progress: false,
      allOrNothing: o.allOrNothing
    } satisfies SendRequest
  })

/** A terminal that can redraw a footer; a pipe, a file or TERM=dumb get lines only. */
const liveTerminal = (o: Parsed) => !o.json && !o.quiet && process.stdout.isTTY === true && process.env["TERM"] !== "dumb"

export const run = (o: Parsed, operation: Operation) =>
  Effect.gen(function*() {
    const asked = yield* toRequest(o, operation)
    const started = Date.now()
    const tally = makeTally()
    const live = liveTerminal(o)
      ? makeLive({ write: (t) => void process.stdout.write(t), columns: process.stdout.columns }, Date.now, tally, o.dryRun)
      : undefined
    // the text report counts every file per host (the footer, the line after Ctrl-C) and names what is in flight,
    // so it asks for progress and for unchanged files: counted, or with -v listed
    const request: SendRequest = o.json ? asked : { ...asked, progress: true, countSkipped: true }
    const path = clientSocketPath(o.control)
    const linesOf = o.json ? jsonLines : reportLines(o)
    let outcome = "complete" as Verdict
    // one write per batch of events: a line per write costs more than the transfer of an unchanged file
    yield* Client.request(path, request).pipe(
      Stream.runForEachChunk((events) => {
        const lines: Array<string> = []
        for (const e of events) {
          if (e._tag === "Failed") return Effect.fail(new RequestRefused({ reason: e.reason, detail: e.message }))
          if (e._tag === "Summary") outcome = verdict(e.summary)
          tally.event(e)
          if (live !== undefined) live.event(e, linesOf(e))
          else lines.push(...linesOf(e))
        }
        return lines.length === 0 ? Effect.void : Console.log(lines.join("\n"))
      }),
      Effect.onInterrupt(() =>
        Effect.sync(() => {
          if (o.json) return
          const line = interruptedLine(tally, Date.now() - started, o.dryRun)
          if (live !== undefined) live.end([line])
          else process.stdout.write(`${line}\n`)
        })
      ),
      Effect.ensuring(Effect.sync(() => live?.end()))
    )
    if (outcome === "failed") return yield* Effect.fail(new TransferFailed())
    if (outcome === "declined") return yield* Effect.fail(new TransferDeclined())
  })

const { dryRun: _dryRun, rate: _rate, delete: _delete, checksum: _checksum, allOrNothing: _allOrNothing, ...checkOptions } = options

export const checkCommand = Command.make("check", { ...checkOptions, paths }, (o) =>
  run({ ...o, dryRun: false, rate: Option.none(), delete: false, checksum: false, allOrNothing: false }, "check")).pipe(
    Command.withDescription(
      "Compare the MD5 of regular files on every member with this server's; change nothing. Reports per host " +
        "DIFFERS, MISSING or an error (an unreadable copy is reported, not ignored; -v also lists the copies that are ok). Exit 1 when anything " +
        "differs, is missing or could not be compared.\n\n" +
        "Examples:\n" +
        "  makuo check -r                      the whole base dir, on every member\n" +
        "  makuo check -t web3 htdocs/index.html"
    )
  )

const { delete: _noDelete, allOrNothing: _noAllOrNothing, ...syncOptions } = options

export const syncCommand = Command.make("sync", { ...syncOptions, paths }, (o) => run({ ...o, delete: false, allOrNothing: false }, "sync")).pipe(
  Command.withDescription(
    "Like send, but a PATH that no longer exists here is deleted on the members (makuosan's sync). " +
      "Reports each deletion per host. Only the PATHs named are deleted, never anything below a -r scan. " +
      "Exit status as for send (3: a --readonly member did not take some file).\n\n" +
      "Examples:\n" +
      "  makuo sync htdocs/old.html          delete it everywhere if it is gone here, else send it\n" +
      "  makuo sync -n htdocs/old.html       what would be deleted, per host"
  )
)

export const sendCommand = Command.make("send", { ...options, paths }, (o) => run(o, "send")).pipe(
  Command.withDescription(
    "Push files to every live member at once: the data goes out once over multicast and each member " +
      "answers for itself. Reports each file as it happens, with the hosts it went to (a line per outcome where " +
      "they differ), then a summary.\n\n" +
      "Exit status: 0 when every targeted member took (or already had) every file; 1 when a host failed or was " +
      "lost, or a file here could not be read; 2 for usage or connection errors; 3 when nothing failed but a " +
      "member running --readonly did not take some file (reported 'readonly' per file and counted in the summary).\n\n" +
      "Examples:\n" +
      "  makuo send index.html               one file to every member\n" +
      "  makuo send -r                       the whole base dir\n" +
      "  makuo send -r -n htdocs             what would change, per host\n" +
      "  makuo send -t web3 -r htdocs        only to web3\n" +
      "  makuo send -r --exclude '*.log' --exclude cache/\n" +
      "  makuo send -r --delete htdocs        also delete on the members what is gone here\n" +
      "  makuo send -r --checksum htdocs      also repair copies whose content differs under equal metadata"
  )
)
