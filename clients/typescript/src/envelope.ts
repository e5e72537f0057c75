/**
 * The shared event envelope, built exactly as streams/core/envelope.py builds it.
 *
 * Derived ids use the same uuid5 namespace and separator as Python, so an id derived in Node for
 * (scan id, model id) equals the one a Python stage derives, and redelivered events stay
 * recognisably the same event.
 */
import { randomUUID } from "node:crypto";
import { v5 as uuidv5 } from "uuid";

import type { Envelope } from "./generated/common";

export const NAMESPACE = "6f1b5a0e-8c1d-4f7e-9a53-2f3d8c0e7b11";
export const CLIENT_VERSION = "0.1.0";

/** A stable UUID for the given parts (uuid5 over the parts joined by U+001F), like Python's derived_id. */
export function derivedId(...parts: string[]): string {
  return uuidv5(parts.join("\x1f"), NAMESPACE);
}

export interface EnvelopeOptions {
  readonly correlationId: string;
  readonly causationId?: string | null;
  readonly eventId?: string;
}

export function envelope(service: string, opts: EnvelopeOptions, version: string = CLIENT_VERSION): Envelope {
  return {
    event_id: opts.eventId ?? randomUUID(),
    correlation_id: opts.correlationId,
    causation_id: opts.causationId ?? null,
    occurred_at: Date.now(),
    producer: { service, version },
  };
}
