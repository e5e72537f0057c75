/**
 * Receive decoded events of any contracts, the terminal events by default.
 *
 * Mirrors streams/client/pubsub.py's Subscriber: at-least-once delivery from Kafka, repeated `event_id`s
 * dropped (a stage or the orchestrator may re-emit the same event after a restart), constraints
 * checked on decode.
 */
import { randomUUID } from "node:crypto";

import type { Consumer } from "kafkajs";

import { CONTRACTS, TERMINAL, type ContractName, type Events } from "./generated/contracts";
import { kafkaFor } from "./publisher";
import { AvroSerde, SerdeError, registryClient } from "./serde";
import { settingsFromEnv, type Settings } from "./settings";

export interface Received<N extends ContractName = ContractName> {
  readonly contract: N;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly record: Events[N];
  /** The record's bytes as read from Kafka (Confluent framing included). */
  readonly value: Buffer;
}

/** A received event, narrowed by contract name (`if (ev.contract === "processing.failed") ...`). */
export type ReceivedOf<N extends ContractName> = { [K in N]: Received<K> }[N];

export interface SubscribeOptions {
  readonly settings?: Settings;
  /** Consumer group; default a fresh one (every subscriber sees every event). */
  readonly groupId?: string;
  readonly fromBeginning?: boolean;
  /** How many event ids to remember for de-duplication. */
  readonly dedupWindow?: number;
  /** Told about each record skipped because it is not an event of its contract (default: a warning in the kafkajs log). */
  readonly onSkipped?: (skipped: Skipped) => void;
}

/** A record that is not an event of its topic's contract: bad framing, unknown schema id, bad body, broken constraint. */
export interface Skipped {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly code: string;
  readonly message: string;
}

export class Subscription {
  constructor(private readonly consumer: Consumer, readonly groupId: string, private readonly counts: { skipped: number }) {}

  /** Records skipped so far because they were not events of their contract. */
  get skipped(): number {
    return this.counts.skipped;
  }

  async close(): Promise<void> {
    await this.consumer.disconnect();
  }
}

/** Bounded memory of seen ids: insertion-ordered, the oldest forgotten first. */
class SeenIds {
  private readonly ids = new Set<string>();

  constructor(private readonly limit: number) {}

  /** True the first time `id` is offered. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.limit) {
      const oldest = this.ids.values().next();
      if (!oldest.done) this.ids.delete(oldest.value);
    }
    return true;
  }
}

/**
 * Call `handler` for every new event of `contracts`; resolves once the consumer has joined its
 * group. A record that is not an event of its contract (malformed, unknown schema id, broken
 * constraint: the pipeline dead-letters such records, so a topic read from the beginning may
 * hold some) is skipped, counted and reported through `onSkipped`, as the Python Subscriber
 * does; waiting on it would stall its partition for good. A handler error or an unreachable
 * registry is not skipped: kafkajs retries it under its retry policy and never commits past it.
 */
export async function subscribe<N extends ContractName>(
  contracts: readonly N[],
  handler: (event: ReceivedOf<N>) => void | Promise<void>,
  opts: SubscribeOptions = {},
): Promise<Subscription> {
  const settings = opts.settings ?? settingsFromEnv();
  const groupId = opts.groupId ?? `meshstream-node-subscriber-${randomUUID()}`;
  const serde = new AvroSerde(registryClient(settings));
  const byTopic = new Map<string, N>(contracts.map((n) => [CONTRACTS[n].topic, n]));
  const consumer = kafkaFor(settings, groupId).consumer({ groupId });
  const seen = new SeenIds(opts.dedupWindow ?? 100_000);
  const counts = { skipped: 0 };
  const onSkipped = opts.onSkipped ?? ((s: Skipped) => consumer.logger().warn("skipping a record that is not an event of its contract", { ...s }));
  await consumer.connect();
  await consumer.subscribe({ topics: [...byTopic.keys()], fromBeginning: opts.fromBeginning ?? false });
  const joined = new Promise<void>((resolve) => {
    const off = consumer.on(consumer.events.GROUP_JOIN, () => { off(); resolve(); });
  });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const name = byTopic.get(topic);
      if (name === undefined || message.value === null) return;
      let record: Events[N];
      try {
        record = await serde.decode<Events[N]>(message.value, CONTRACTS[name]);
      } catch (err) {
        if (!(err instanceof SerdeError)) throw err;
        counts.skipped += 1;
        onSkipped({ topic, partition, offset: message.offset, code: err.code, message: err.message });
        return;
      }
      if (!seen.add(record.envelope.event_id)) return;
      await handler({
        contract: name, topic, partition, offset: message.offset,
        key: message.key ? message.key.toString() : null, record, value: message.value,
      } as unknown as ReceivedOf<N>);
    },
  });
  await joined;
  return new Subscription(consumer, groupId, counts);
}

/** Subscribe to the terminal events of workflow runs (processing.completed / processing.failed). */
export function subscribeTerminal(
  handler: (event: ReceivedOf<(typeof TERMINAL)[number]>) => void | Promise<void>,
  opts: SubscribeOptions = {},
): Promise<Subscription> {
  return subscribe(TERMINAL, handler, opts);
}
