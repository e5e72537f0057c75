/**
 * Put dead letters back on their original topics after a fix, as streams/client/replay.py does.
 *
 * A dead letter keeps the original topic, key and bytes; replaying re-publishes them unchanged
 * (same key, so the same partition; same bytes, so the same event ids). That is safe because
 * every consumer is idempotent: a record that now succeeds is processed once, one that still
 * fails is dead-lettered again. Reads the dead-letter topic up to its end at the time of the call.
 */
import { randomUUID } from "node:crypto";

import { CONTRACTS } from "./generated/contracts";
import type { DeadLetterPayload } from "./generated/pipeline_v1";
import { kafkaFor, producerConfig } from "./publisher";
import { AvroSerde, registryClient } from "./serde";
import { settingsFromEnv, type Settings } from "./settings";

export interface DeadLetterRecord {
  readonly partition: number;
  readonly offset: string;
  readonly originalTopic: string;
  readonly originalPartition: number;
  readonly originalOffset: number;
  readonly originalKey: Buffer | null;
  readonly originalValue: Buffer | null;
  readonly stage: string;
  readonly code: string;
  readonly message: string;
}

export interface DeadLetterOptions {
  readonly settings?: Settings;
  /** Only dead letters of this stage / error code / original key (text). */
  readonly stage?: string;
  readonly code?: string;
  readonly key?: string;
  /** List what would be replayed, publish nothing. */
  readonly dryRun?: boolean;
  /** Give up when the topic's end is not reached within this time (default 30 s). */
  readonly timeoutMs?: number;
}

/** Every record on the dead-letter topic, oldest first per partition. */
export async function readDeadLetters(opts: DeadLetterOptions = {}): Promise<DeadLetterRecord[]> {
  const settings = opts.settings ?? settingsFromEnv();
  const contract = CONTRACTS["pipeline.dead-lettered"];
  const kafka = kafkaFor(settings, "meshstream-node-replay");
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<number, bigint>();
  try {
    for (const p of await admin.fetchTopicOffsets(contract.topic)) {
      if (BigInt(p.high) > BigInt(p.low)) ends.set(p.partition, BigInt(p.high) - 1n);
    }
  } finally {
    await admin.disconnect();
  }
  if (ends.size === 0) return [];
  const serde = new AvroSerde(registryClient(settings));
  const out: DeadLetterRecord[] = [];
  const consumer = kafka.consumer({ groupId: `meshstream-node-replay-${randomUUID()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [contract.topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dead-letter topic not read to its end within ${opts.timeoutMs ?? 30_000} ms`)),
        opts.timeoutMs ?? 30_000);
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          const last = ends.get(partition);
          if (last === undefined || BigInt(message.offset) > last || message.value === null) return;
          const { payload } = await serde.decode<{ payload: DeadLetterPayload }>(message.value, contract);
          out.push({
            partition, offset: message.offset, originalTopic: payload.original_topic,
            originalPartition: payload.original_partition, originalOffset: payload.original_offset,
            originalKey: payload.original_key ? Buffer.from(payload.original_key) : null,
            originalValue: payload.original_value ? Buffer.from(payload.original_value) : null,
            stage: payload.stage, code: payload.error.code, message: payload.error.message,
          });
          if (BigInt(message.offset) === last) ends.delete(partition);
          if (ends.size === 0) { clearTimeout(timer); resolve(); }
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** Re-publish the matching dead letters' original records; returns what was (or would be) replayed. */
export async function replayDeadLetters(opts: DeadLetterOptions = {}): Promise<DeadLetterRecord[]> {
  const chosen = (await readDeadLetters(opts)).filter((d) =>
    (opts.stage === undefined || d.stage === opts.stage) && (opts.code === undefined || d.code === opts.code)
    && (opts.key === undefined || (d.originalKey?.toString() ?? "") === opts.key) && d.originalValue !== null);
  if (opts.dryRun || chosen.length === 0) return chosen;
  const producer = kafkaFor(opts.settings ?? settingsFromEnv(), "meshstream-node-replay").producer(producerConfig());
  await producer.connect();
  try {
    for (const d of chosen) {
      await producer.send({ topic: d.originalTopic, acks: -1, messages: [{ key: d.originalKey, value: d.originalValue }] });
    }
  } finally {
    await producer.disconnect();
  }
  return chosen;
}
