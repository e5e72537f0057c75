/**
 * The Node side of the cross-language tests (tests/unit/test_typescript_client.py and
 * tests/integration/test_typescript_client.py): each subcommand reads JSON on stdin and prints one
 * JSON document on stdout, so pytest can compare what the TypeScript client does with what the
 * Python side does, on the same inputs, with the real client code.
 *
 * Bytes travel as {"$bytes": "<hex>"} in both directions.
 */
import { readFileSync } from "node:fs";

import {
  CONTRACTS, ConstraintViolation, Publisher, TERMINAL, checkRecord, derivedId, kafkaFor, producerConfig,
  settingsFromEnv, subscribe, unframe, replayDeadLetters, AvroSerde, registryClient, type ContractName, type Received,
  type Skipped,
} from "../src/index";

type Json = unknown;

function revive(_key: string, value: Json): Json {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const hex = (value as Record<string, unknown>)["$bytes"];
    if (typeof hex === "string" && Object.keys(value).length === 1) return Buffer.from(hex, "hex");
  }
  return value;
}

function replace(_key: string, value: Json): Json {
  if (value && typeof value === "object" && (value as { type?: string }).type === "Buffer" && Array.isArray((value as { data?: unknown }).data)) {
    return { $bytes: Buffer.from((value as { data: number[] }).data).toString("hex") };
  }
  return value;
}

function input(): Record<string, unknown> {
  const text = readFileSync(0, "utf8");
  return (text.trim() ? JSON.parse(text, revive) : {}) as Record<string, unknown>;
}

function print(doc: Json): void {
  process.stdout.write(`${JSON.stringify(doc, replace)}\n`);
}

function violation(err: unknown): Json {
  if (err instanceof ConstraintViolation) return { name: err.name, field: err.field, constraint: err.constraint, message: err.message };
  throw err;
}

/** What a test needs to check an event received by the TS subscriber against the Python side. */
async function described(serde: AvroSerde, e: Received): Promise<Json> {
  return {
    contract: e.contract, partition: e.partition, key: e.key, record: e.record,
    valueHex: e.value.toString("hex"), schemaId: unframe(e.value).schemaId,
    reencodedHex: (await serde.encode(CONTRACTS[e.contract], e.record)).toString("hex"),
  };
}

const commands: Record<string, (args: Record<string, unknown>) => Promise<Json>> = {
  /** {records: {contract: record}} -> {contract: hex of the Avro body} (generated schema, no framing). */
  async "encode"({ records }) {
    const serde = new AvroSerde(registryClient(settingsFromEnv()));
    const out: Record<string, string> = {};
    for (const [name, record] of Object.entries(records as Record<string, unknown>)) {
      out[name] = serde.type(CONTRACTS[name as ContractName]).toBuffer(record).toString("hex");
    }
    return out;
  },
  /** {cases: [{contract, record}]} -> [null | violation] */
  async "check"({ cases }) {
    return (cases as Array<{ contract: ContractName; record: unknown }>).map(({ contract, record }) => {
      try {
        checkRecord(CONTRACTS[contract], record);
        return null;
      } catch (err) {
        return violation(err);
      }
    });
  },
  /** {cases: [{pattern, samples}]} -> [[bool per sample]] with the JS source the generator wrote. */
  async "patterns"({ cases }) {
    return (cases as Array<{ pattern: string; samples: string[] }>).map(({ pattern, samples }) => {
      const rx = new RegExp(pattern, "u");
      return samples.map((s) => rx.test(s));
    });
  },
  /** {parts: [[...]]} -> [uuid5] */
  async "derived-ids"({ parts }) {
    return (parts as string[][]).map((p) => derivedId(...p));
  },
  /** {topic, keys} -> {key: partition} produced with the client's producer settings. */
  async "partitions"({ topic, keys }) {
    const producer = kafkaFor(settingsFromEnv(), "meshstream-partition-probe").producer(producerConfig());
    await producer.connect();
    const out: Record<string, number> = {};
    try {
      for (const key of keys as string[]) {
        const [meta] = await producer.send({ topic: topic as string, acks: -1, messages: [{ key, value: "probe" }] });
        out[key] = meta?.partition ?? -1;
      }
    } finally {
      await producer.disconnect();
    }
    return out;
  },
  /** {contract, key, payload, correlationId} -> {published} | {error}: one publish with the real Publisher. */
  async "publish"({ contract, key, payload, correlationId }) {
    const publisher = Publisher.create({ service: "ts-client-test" });
    try {
      const published = await publisher.publish(contract as ContractName, key as string, payload as never, { correlationId: correlationId as string });
      return { published, connected: publisher.hasConnected };
    } catch (err) {
      return { error: violation(err), connected: publisher.hasConnected };
    } finally {
      await publisher.close();
    }
  },
  /**
   * {bucket, prefix, expected, timeoutMs}: subscribe to the terminal events, publish a scan with the
   * TypeScript client, collect the scan's terminal events (plus a short settle for duplicates).
   * Each event comes back with its bytes as read and the bytes the TS serde writes for its record.
   */
  async "scan-roundtrip"({ bucket, prefix, expected, timeoutMs }) {
    const settings = settingsFromEnv();
    const serde = new AvroSerde(registryClient(settings));
    let scanId = "";
    const events: Array<Received> = [];
    const early: Array<Received> = [];
    let enough: () => void = () => undefined;
    const done = new Promise<void>((resolve) => { enough = resolve; });
    const sub = await subscribe(TERMINAL, (ev) => {
      (scanId ? events : early).push(ev as Received);
      if (scanId && events.filter((e) => (e.record.payload as { scan_id?: string }).scan_id === scanId).length >= (expected as number)) enough();
    }, { settings, fromBeginning: true });
    const publisher = Publisher.create({ settings, service: "ts-client-test" });
    let scanPartition = -1;
    try {
      scanId = await publisher.publishScan({ bucket: bucket as string, prefix: prefix as string });
      events.push(...early);
      const timer = setTimeout(enough, timeoutMs as number);
      await done;
      clearTimeout(timer);
      await new Promise((r) => setTimeout(r, 2000)); // late duplicates would arrive now
      scanPartition = publisher.lastPartition ?? -1;
    } finally {
      await publisher.close();
      await sub.close();
    }
    const mine = events.filter((e) => (e.record.payload as { scan_id?: string }).scan_id === scanId);
    return { scanId, scanPartition, events: await Promise.all(mine.map((e) => described(serde, e))) };
  },
  /** {stage?, code?, key?, dryRun?} -> the dead letters replayed (or listed). */
  async "replay-dead-letters"(filter) {
    return replayDeadLetters(filter as Parameters<typeof replayDeadLetters>[0]);
  },
  /**
   * {contracts, scanId, expected, timeoutMs, deadLetter?} -> {events, delivered, partitions, skipped, waitedMs}:
   * events of `contracts` whose payload.scan_id is scanId, read from the beginning, for up to
   * timeoutMs after joining; `delivered` counts every event the subscriber delivered (any scan),
   * `partitions` has the last offset it delivered per partition and `skipped` the records it
   * skipped as not events, so an empty answer says whether nothing came at all. `deadLetter`: a
   * stage name; the skipped records are dead-lettered under it.
   */
  async "read"({ contracts, scanId, expected, timeoutMs, deadLetter }) {
    const settings = settingsFromEnv();
    const serde = new AvroSerde(registryClient(settings));
    const events: Received[] = [];
    const partitions: Record<string, string> = {};
    const skipped: Skipped[] = [];
    let delivered = 0;
    let enough: () => void = () => undefined;
    const done = new Promise<void>((resolve) => { enough = resolve; });
    const sub = await subscribe(contracts as ContractName[], (ev) => {
      delivered += 1;
      partitions[`${ev.topic}[${ev.partition}]`] = ev.offset;
      if ((ev.record.payload as { scan_id?: string }).scan_id !== scanId) return;
      events.push(ev as Received);
      if (events.length >= (expected as number)) enough();
    }, { settings, fromBeginning: true, onSkipped: (s) => skipped.push(s), ...(deadLetter ? { deadLetter: { stage: deadLetter as string } } : {}) });
    // the wait starts once the consumer has joined its group: on a busy machine the join alone
    // took most of a 15 s budget that used to include it, and the read came back empty
    const started = Date.now();
    const timer = setTimeout(enough, timeoutMs as number);
    await done;
    clearTimeout(timer);
    const waitedMs = Date.now() - started;
    await sub.close();
    return { events: await Promise.all(events.map((e) => described(serde, e))), delivered, partitions, skipped, waitedMs };
  },
};

async function main(): Promise<void> {
  const name = process.argv[2] ?? "";
  const command = commands[name];
  if (!command) throw new Error(`unknown command ${JSON.stringify(name)}; one of ${Object.keys(commands).join(", ")}`);
  print(await command(input()));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
