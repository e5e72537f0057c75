#!/usr/bin/env node
/**
 * `meshstream-subscribe`: the Node twin of `meshstream subscribe`, one JSON line per event.
 *
 *   meshstream-subscribe [--contract NAME[,NAME...]] [--from-beginning] [--group ID]
 *                        [--timeout SECONDS] [--idle-timeout SECONDS]
 *
 * Settings come from the MESHSTREAM_* environment (`eval "$(meshstream stack env)"`). It exists
 * so a newcomer can see the package work before writing code, and as a small example of it.
 */
import { parseArgs } from "node:util";

import { CONTRACTS, TERMINAL, type ContractName } from "../generated/contracts";
import { subscribe } from "../subscriber";

const USAGE = "usage: meshstream-subscribe [--contract NAME[,NAME...]] [--from-beginning] [--group ID] " +
  "[--timeout SECONDS] [--idle-timeout SECONDS]";

function fail(message: string): never {
  process.stderr.write(`meshstream-subscribe: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function seconds(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value)) fail(`--${name} ${text}: expected a number of seconds above zero`);
  return value;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        contract: { type: "string", multiple: true }, "from-beginning": { type: "boolean" }, group: { type: "string" },
        timeout: { type: "string" }, "idle-timeout": { type: "string" }, help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\ncontracts: ${Object.keys(CONTRACTS).join(", ")}\n`);
    return;
  }
  const names = (parsed.contract ?? []).flatMap((c) => c.split(",")).map((c) => c.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(n in CONTRACTS));
  if (unknown.length) fail(`unknown contract(s) ${unknown.join(", ")}; choose from: ${Object.keys(CONTRACTS).join(", ")}`);
  const contracts = (names.length ? names : [...TERMINAL]) as ContractName[];
  const timeout = seconds("timeout", parsed.timeout);
  const idle = seconds("idle-timeout", parsed["idle-timeout"]);

  let last = Date.now();
  const sub = await subscribe(contracts, (ev) => {
    last = Date.now();
    process.stdout.write(JSON.stringify({ contract: ev.contract, topic: ev.topic, partition: ev.partition,
                                          offset: ev.offset, ...ev.record }, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
  }, { fromBeginning: parsed["from-beginning"] ?? false, ...(parsed.group ? { groupId: parsed.group } : {}) });
  const started = Date.now();
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
    const timer = setInterval(() => {
      const now = Date.now();
      if ((timeout !== undefined && now - started >= timeout * 1000) || (idle !== undefined && now - last >= idle * 1000)) {
        clearInterval(timer);
        resolve();
      }
    }, 200);
  });
  await sub.close();
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`meshstream-subscribe: ${(err as Error).message ?? String(err)}\n`);
  process.exit(1);
});
