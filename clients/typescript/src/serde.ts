/**
 * Avro in the Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro body), the
 * same bytes registry/serde.py writes and reads.
 *
 * Encoding uses the generated schema text (the one Python registers) and the id the registry has
 * for it under the contract's subject, so a Node producer and a Python producer emit identical
 * records. Decoding looks the writer schema up by id (cached by @kafkajs/confluent-schema-registry)
 * and resolves it into the generated reader schema, so older writers stay readable under the
 * subject's compatibility rule. Constraints are checked on both sides, as in Python.
 */
import { COMPATIBILITY, SchemaRegistry, SchemaType } from "@kafkajs/confluent-schema-registry";
import * as avro from "avsc";

import { ConstraintViolation, checkRecord } from "./constraints";
import type { ContractInfo } from "./contract";
import type { Settings } from "./settings";

export const MAGIC = 0;
export const HEADER_BYTES = 5;

export class SerdeError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = "SerdeError";
  }
}

export function registryClient(settings: Settings): SchemaRegistry {
  const auth = settings.registryUser ? { username: settings.registryUser, password: settings.registryPassword ?? "" } : undefined;
  return new SchemaRegistry({ host: settings.registryUrl, ...(auth ? { auth } : {}) });
}

/** Split a Confluent-framed record into its schema id and Avro body. */
export function unframe(data: Buffer): { schemaId: number; body: Buffer } {
  if (data.length < HEADER_BYTES) throw new SerdeError(`record of ${data.length} bytes is too short for the wire format`, "malformed_event");
  if (data.readUInt8(0) !== MAGIC) throw new SerdeError(`unknown magic byte ${data.readUInt8(0)} (not Confluent Avro wire format)`, "malformed_event");
  return { schemaId: data.readUInt32BE(1), body: data.subarray(HEADER_BYTES) };
}

export function frame(schemaId: number, body: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt8(MAGIC, 0);
  header.writeUInt32BE(schemaId, 1);
  return Buffer.concat([header, body]);
}

export class AvroSerde {
  private readonly ids = new Map<string, Promise<number>>();
  private readonly readers = new Map<string, avro.Type>();
  private readonly resolvers = new Map<string, avro.Type | avro.Resolver>();

  constructor(readonly registry: SchemaRegistry, readonly validate = true) {}

  /** The generated schema as an avsc type (unions of null and one type are plain values). */
  type(contract: ContractInfo): avro.Type {
    let t = this.readers.get(contract.name);
    if (!t) {
      t = avro.Type.forSchema(JSON.parse(contract.schema) as avro.Schema);
      this.readers.set(contract.name, t);
    }
    return t;
  }

  /** The id of the contract's schema under its subject; registered (with the manifest's compatibility) if absent. */
  schemaId(contract: ContractInfo): Promise<number> {
    let id = this.ids.get(contract.subject);
    if (!id) {
      const schema = { type: SchemaType.AVRO, schema: contract.schema } as const;
      id = this.registry.getRegistryIdBySchema(contract.subject, schema).catch(async (err: unknown) => {
        if (!(err instanceof Error) || err.name !== "ConfluentSchemaRegistryError") throw err;
        const compatibility = COMPATIBILITY[contract.compatibility as keyof typeof COMPATIBILITY];
        return (await this.registry.register(schema, { subject: contract.subject, compatibility })).id;
      });
      id.catch(() => this.ids.delete(contract.subject));
      this.ids.set(contract.subject, id);
    }
    return id;
  }

  async encode(contract: ContractInfo, record: unknown): Promise<Buffer> {
    if (this.validate) checkRecord(contract, record);
    const type = this.type(contract);
    const problems: string[] = [];
    if (!type.isValid(record, { errorHook: (path) => problems.push(path.join(".")) })) {
      throw new SerdeError(`${contract.name}: record does not match ${contract.recordName} at ${problems.join(", ")}`, "invalid_event");
    }
    return frame(await this.schemaId(contract), type.toBuffer(record));
  }

  async decode<T = unknown>(data: Buffer, contract: ContractInfo): Promise<T> {
    const { schemaId, body } = unframe(data);
    const reader = this.type(contract);
    const key = `${contract.name}\x1f${schemaId}`;
    let resolver = this.resolvers.get(key);
    if (!resolver) {
      const writer = await this.writer(schemaId);
      resolver = reader.equals(writer) ? reader : reader.createResolver(writer);
      this.resolvers.set(key, resolver);
    }
    let record: T;
    try {
      record = (resolver === reader ? reader.fromBuffer(body) : reader.fromBuffer(body, resolver as avro.Resolver)) as T;
    } catch (err) {
      throw new SerdeError(`${contract.topic}: Avro body (schema id ${schemaId}) does not decode as ${contract.recordName}: ${String(err)}`, "malformed_event");
    }
    if (this.validate) {
      try {
        checkRecord(contract, record);
      } catch (err) {
        if (err instanceof ConstraintViolation) throw new SerdeError(`${contract.name}: ${err.message}`, "malformed_event");
        throw err;
      }
    }
    return record;
  }

  /**
   * The writer schema of `schemaId`. An id the registry does not know is the record's fault
   * (SerdeError "unknown_schema_id", as in Python); any other registry failure is transient and
   * thrown as it is, so the caller retries instead of skipping a good record.
   */
  private async writer(schemaId: number): Promise<avro.Type> {
    try {
      return (await this.registry.getSchema(schemaId)) as unknown as avro.Type;
    } catch (err) {
      if ((err as { status?: unknown }).status === 404) {
        throw new SerdeError(`schema id ${schemaId} is not in the registry`, "unknown_schema_id");
      }
      throw err;
    }
  }
}
