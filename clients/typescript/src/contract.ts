/**
 * The shape of one generated contract entry (see src/generated/contracts.ts).
 *
 * Hand-written on purpose: the generator emits data, this file says what the data means, so the
 * runtime (serde, constraints, publisher, subscriber) compiles against a stable interface.
 */

/** One declared constraint: `path` segments are field names, `[]` (each array element) or `{}` (each map value). */
export interface ConstraintEntry {
  readonly path: readonly string[];
  /** The `meshstream.*` keys without prefix; `pattern` is already a JavaScript (`u` flag) source. */
  readonly spec: Readonly<Record<string, unknown>>;
}

export interface ContractInfo {
  readonly name: string;
  readonly topic: string;
  readonly subject: string;
  readonly status: string;
  readonly compatibility: string;
  readonly recordName: string;
  readonly partitions: number;
  /** Avro schema text, byte-identical to what the Python side registers under `subject`. */
  readonly schema: string;
  readonly constraints: readonly ConstraintEntry[];
}
