/**
 * Enforce the constraints Avro cannot express (Etsy's 140-character title, 13 tags, price > 0, ...)
 * before a record is produced, with the same rules and field paths as registry/constraints.py.
 *
 * The constraints come from the generated contract table (declared in the .avsc files as
 * `meshstream.*` properties, flattened to paths by the code generator), so the Node side cannot
 * enforce a different limit than the Python side. A violation names the field, e.g.
 * `payload.listing.title`, array elements as `tags[3]` and map values as `sizes['k']`.
 */
import { isDeepStrictEqual } from "node:util";

import type { ConstraintEntry, ContractInfo } from "./contract";

const PREFIX = "meshstream.";

export class ConstraintViolation extends Error {
  constructor(readonly field: string, readonly reason: string, readonly constraint: string) {
    super(`${field}: ${reason}`);
    this.name = "ConstraintViolation";
  }
}

type Leaf = (value: unknown, path: string) => void;

function short(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= 60 ? text : `${text.slice(0, 57)}...`;
}

/** Characters as Python counts them (code points), bytes for binary values. */
function length(value: unknown): number | undefined {
  if (typeof value === "string") return [...value].length;
  if (value instanceof Uint8Array) return value.length;
  return undefined;
}

function count(value: unknown): number | undefined {
  if (Array.isArray(value)) return value.length;
  if (value instanceof Map) return value.size;
  if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) return Object.keys(value).length;
  return undefined;
}

const BOUNDS: ReadonlyArray<[string, (v: number, b: number) => boolean, string]> = [
  ["minimum", (v, b) => v < b, "below"],
  ["maximum", (v, b) => v > b, "above"],
  ["exclusiveMinimum", (v, b) => v <= b, "not above"],
  ["exclusiveMaximum", (v, b) => v >= b, "not below"],
];

function leafChecks(spec: Readonly<Record<string, unknown>>): Leaf[] {
  const checks: Leaf[] = [];
  const fail = (path: string, key: string, reason: string): never => {
    throw new ConstraintViolation(path, reason, key);
  };
  for (const [key, raw] of Object.entries(spec)) {
    switch (key) {
      case "minLength":
        checks.push((v, p) => { const n = length(v); if (n !== undefined && n < (raw as number)) fail(p, key, `length ${n} is below ${PREFIX}minLength ${raw}`); });
        break;
      case "maxLength":
        checks.push((v, p) => { const n = length(v); if (n !== undefined && n > (raw as number)) fail(p, key, `length ${n} exceeds ${PREFIX}maxLength ${raw}`); });
        break;
      case "pattern": {
        const rx = new RegExp(raw as string, "u");
        checks.push((v, p) => { if (typeof v === "string" && !rx.test(v)) fail(p, key, `${short(v)} does not match ${PREFIX}pattern ${raw}`); });
        break;
      }
      case "enum": {
        const allowed = new Set(raw as string[]);
        checks.push((v, p) => { if (typeof v === "string" && !allowed.has(v)) fail(p, key, `${short(v)} is not one of ${PREFIX}enum ${short(raw)}`); });
        break;
      }
      case "minItems":
        checks.push((v, p) => { const n = count(v); if (n !== undefined && n < (raw as number)) fail(p, key, `${n} items, ${PREFIX}minItems is ${raw}`); });
        break;
      case "maxItems":
        checks.push((v, p) => { const n = count(v); if (n !== undefined && n > (raw as number)) fail(p, key, `${n} items exceed ${PREFIX}maxItems ${raw}`); });
        break;
      case "uniqueItems":
        if (raw === true) {
          checks.push((v, p) => {
            if (!Array.isArray(v)) return;
            v.forEach((item, i) => {
              if (v.slice(0, i).some((prev) => isDeepStrictEqual(prev, item))) fail(`${p}[${i}]`, key, `duplicate item ${short(item)} (${PREFIX}uniqueItems)`);
            });
          });
        }
        break;
      default: {
        const bound = BOUNDS.find(([name]) => name === key);
        if (!bound) throw new Error(`unknown constraint ${PREFIX}${key} (regenerate the client?)`);
        const [, broken, word] = bound;
        checks.push((v, p) => { if (typeof v === "number" && broken(v, raw as number)) fail(p, key, `${v} is ${word} ${PREFIX}${key} ${raw}`); });
      }
    }
  }
  return checks;
}

interface Compiled { readonly path: readonly string[]; readonly checks: readonly Leaf[] }

const compiled = new WeakMap<ContractInfo, readonly Compiled[]>();

function compile(contract: ContractInfo): readonly Compiled[] {
  let out = compiled.get(contract);
  if (!out) {
    out = contract.constraints.map((c: ConstraintEntry) => ({ path: c.path, checks: leafChecks(c.spec) }));
    compiled.set(contract, out);
  }
  return out;
}

function visit(value: unknown, segments: readonly string[], path: string, checks: readonly Leaf[]): void {
  if (value === null || value === undefined) return; // a nullable field is checked only when set
  const [head, ...rest] = segments;
  if (head === undefined) {
    for (const check of checks) check(value, path);
    return;
  }
  if (head === "[]") {
    if (Array.isArray(value)) value.forEach((item, i) => visit(item, rest, `${path}[${i}]`, checks));
    return;
  }
  if (head === "{}") {
    const entries = value instanceof Map ? [...value.entries()] : typeof value === "object" ? Object.entries(value) : [];
    for (const [k, item] of entries) visit(item, rest, `${path}['${String(k)}']`, checks);
    return;
  }
  if (typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array)) {
    visit((value as Record<string, unknown>)[head], rest, path ? `${path}.${head}` : head, checks);
  }
}

/** Throw ConstraintViolation if `record` ({envelope, payload}) breaks a constraint of `contract`. */
export function checkRecord(contract: ContractInfo, record: unknown): void {
  for (const { path, checks } of compile(contract)) visit(record, path, "", checks);
}
