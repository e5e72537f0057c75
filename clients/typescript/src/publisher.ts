/**
 * Publish events of any contract, and scans in particular, from a Node backend.
 *
 * Mirrors streams/client/pubsub.py's Publisher: same envelope, same Confluent Avro bytes, constraints
 * checked before anything is sent (a bad listing never reaches the broker), and the record key
 * hashed with Java's murmur2 (kafkajs' DefaultPartitioner, the same as librdkafka's
 * `murmur2_random` the Python producers use) so keyed records land on the partitions the workers'
 * tables expect.
 */
import { randomUUID } from "node:crypto";

import { Kafka, Partitioners, logLevel, type Producer, type ProducerConfig } from "kafkajs";

import type { ContractInfo } from "./contract";
import { envelope, type EnvelopeOptions } from "./envelope";
import { CONTRACTS, type ContractName, type Events } from "./generated/contracts";
import type { ObjectRef, ProcessingOptions } from "./generated/common";
import { AvroSerde, registryClient } from "./serde";
import { settingsFromEnv, type Settings } from "./settings";

/** The payload of a contract's event (the envelope is built by the publisher). */
export type PayloadOf<N extends ContractName> = Events[N]["payload"];

/** Producer settings shared by every meshstream Node producer: acks from all replicas, Java murmur2 keys. */
export function producerConfig(): ProducerConfig {
  return { createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 };
}

export function kafkaFor(settings: Settings, clientId: string): Kafka {
  return new Kafka({ clientId, brokers: settings.kafkaBootstrap, logLevel: logLevel.WARN });
}

export type PublishOptions = EnvelopeOptions;

export interface Published {
  readonly eventId: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export interface ScanOptions {
  readonly bucket: string;
  readonly prefix?: string;
  /** A workflow of schemas/workflows.yaml; default: the scan contract's default (workflows.yaml's default). */
  readonly workflow?: string;
  /** A storage connection name configured on the workers (never credentials). */
  readonly storage?: string;
  /** Re-using a scan id replays the scan (the same runs), it does not start new work. */
  readonly scanId?: string;
  readonly ownerId?: string | null;
  readonly objectsManifest?: ObjectRef | null;
  /** Per-scan processing options (skip_cache, printers, overhang angle, listing, ...): they reach every stage whose request has the field. */
  readonly options?: ProcessingOptions | null;
}

/** Default of a payload field as declared in the contract's schema (the single source of truth). */
function payloadDefault(contract: ContractInfo, field: string): unknown {
  const schema = JSON.parse(contract.schema) as { fields: Array<{ name: string; type: { fields?: Array<{ name: string; default?: unknown }> } }> };
  const payload = schema.fields.find((f) => f.name === "payload");
  return payload?.type.fields?.find((f) => f.name === field)?.default;
}

export class Publisher {
  private connected?: Promise<void>;
  private attempted = false;
  /** Partition of the last record this publisher sent (for tests and logs). */
  lastPartition?: number;

  constructor(readonly producer: Producer, readonly serde: AvroSerde, readonly service = "meshstream-node-client") {}

  static create(opts: { settings?: Settings; service?: string } = {}): Publisher {
    const settings = opts.settings ?? settingsFromEnv();
    const service = opts.service ?? "meshstream-node-client";
    return new Publisher(kafkaFor(settings, service).producer(producerConfig()), new AvroSerde(registryClient(settings)), service);
  }

  /** Encode (constraints first, then Avro) and produce one event; resolves once the broker acknowledged it. */
  async publish<N extends ContractName>(name: N, key: string, payload: PayloadOf<N>, opts: PublishOptions): Promise<Published> {
    const contract = CONTRACTS[name];
    const env = envelope(this.service, opts);
    const value = await this.serde.encode(contract, { envelope: env, payload }); // throws before any broker I/O
    this.attempted = true;
    this.connected ??= this.producer.connect().catch((err: unknown) => {
      this.connected = undefined; // the next publish tries again
      throw err;
    });
    await this.connected;
    const [meta] = await this.producer.send({ topic: contract.topic, acks: -1, messages: [{ key, value }] });
    if (!meta) throw new Error(`publish to ${contract.topic}: no acknowledgement`);
    this.lastPartition = meta.partition;
    return { eventId: env.event_id, topic: contract.topic, partition: meta.partition, offset: meta.baseOffset ?? "" };
  }

  /** Publish a scan request; returns its scan id (the correlation id of everything it causes). */
  async publishScan(opts: ScanOptions): Promise<string> {
    const contract = CONTRACTS["discovery-scan.requested"];
    const scanId = opts.scanId ?? randomUUID();
    const payload: PayloadOf<"discovery-scan.requested"> = {
      scan_id: scanId,
      storage: opts.storage ?? "default",
      bucket: opts.bucket,
      prefix: opts.prefix ?? "",
      workflow: opts.workflow ?? (payloadDefault(contract, "workflow") as string),
      owner_id: opts.ownerId ?? null,
      provider: payloadDefault(contract, "provider") as PayloadOf<"discovery-scan.requested">["provider"],
      objects_manifest: opts.objectsManifest ?? null,
      options: opts.options ?? null,
    };
    await this.publish("discovery-scan.requested", scanId, payload, { correlationId: scanId });
    return scanId;
  }

  /** Whether this publisher ever opened a broker connection (a rejected record never does). */
  get hasConnected(): boolean {
    return this.attempted;
  }

  async close(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
    this.connected = undefined;
  }
}
