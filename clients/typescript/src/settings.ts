/**
 * Connection settings from the same MESHSTREAM_* variables the Python workers and CLI read
 * (streams/core/settings.py, `meshstream stack env`), so a Node backend finds the local stack, a test's
 * private stack or production the same way.
 *
 * Transport security maps the settings streams/core/security.py maps for the Python clients:
 * MESHSTREAM_KAFKA_SECURITY_PROTOCOL (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), the SASL mechanism,
 * user and password, and the CA / client certificate / key files (mutual TLS). Secrets may come
 * from `<NAME>_FILE` (Docker/Kubernetes secrets), as in Python. The result is kafkajs' `ssl` and
 * `sasl` options (see `kafkaSecurity`).
 */
import { readFileSync } from "node:fs";

import type { KafkaConfig, SASLOptions } from "kafkajs";

export const PROTOCOLS = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] as const;
export type SecurityProtocol = (typeof PROTOCOLS)[number];
/** SASL mechanisms kafkajs implements (librdkafka's names, as in MESHSTREAM_KAFKA_SASL_MECHANISM). */
export const SASL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] as const;
/** kafkajs log levels; the client is quiet unless asked (MESHSTREAM_CLIENT_LOG_LEVEL). */
export const LOG_LEVELS = ["nothing", "error", "warn", "info", "debug"] as const;
export type ClientLogLevel = (typeof LOG_LEVELS)[number];

export interface KafkaSecuritySettings {
  readonly protocol: SecurityProtocol;
  readonly saslMechanism?: string;
  readonly saslUsername?: string;
  readonly saslPassword?: string;
  /** PEM files: the CA that signed the brokers' certificates, and a client certificate + key for mutual TLS. */
  readonly sslCaLocation?: string;
  readonly sslCertificateLocation?: string;
  readonly sslKeyLocation?: string;
  readonly sslKeyPassword?: string;
}

export interface Settings {
  readonly kafkaBootstrap: string[];
  readonly registryUrl: string;
  readonly registryUser?: string;
  readonly registryPassword?: string;
  readonly security?: KafkaSecuritySettings;
  readonly logLevel?: ClientLogLevel;
}

/** A setting, or the contents of the file named by `<name>_FILE` (trailing newline removed). */
function secret(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  if (value) return value;
  const file = env[`${name}_FILE`];
  return file ? readFileSync(file, "utf8").replace(/\r?\n$/, "") : undefined;
}

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  const pick = (name: string, fallback: string): string => env[name] || fallback;
  const user = env.MESHSTREAM_SCHEMA_REGISTRY_USER || undefined;
  const protocol = pick("MESHSTREAM_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").toUpperCase();
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new Error(`MESHSTREAM_KAFKA_SECURITY_PROTOCOL=${JSON.stringify(protocol)}: expected one of ${PROTOCOLS.join(", ")}`);
  }
  const logLevel = pick("MESHSTREAM_CLIENT_LOG_LEVEL", "nothing").toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new Error(`MESHSTREAM_CLIENT_LOG_LEVEL=${JSON.stringify(logLevel)}: expected one of ${LOG_LEVELS.join(", ")}`);
  }
  const optional = (entries: Array<[string, string | undefined]>) =>
    Object.fromEntries(entries.filter(([, v]) => v !== undefined && v !== ""));
  const security = {
    protocol: protocol as SecurityProtocol,
    ...optional([
      ["saslMechanism", pick("MESHSTREAM_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512").toUpperCase()],
      ["saslUsername", env.MESHSTREAM_KAFKA_SASL_USERNAME],
      ["saslPassword", secret(env, "MESHSTREAM_KAFKA_SASL_PASSWORD")],
      ["sslCaLocation", env.MESHSTREAM_KAFKA_SSL_CA_LOCATION],
      ["sslCertificateLocation", env.MESHSTREAM_KAFKA_SSL_CERTIFICATE_LOCATION],
      ["sslKeyLocation", env.MESHSTREAM_KAFKA_SSL_KEY_LOCATION],
      ["sslKeyPassword", secret(env, "MESHSTREAM_KAFKA_SSL_KEY_PASSWORD")],
    ]),
  } as KafkaSecuritySettings;
  const registryPassword = secret(env, "MESHSTREAM_SCHEMA_REGISTRY_PASSWORD");
  return {
    kafkaBootstrap: pick("MESHSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:9092").split(",").map((s) => s.trim()).filter(Boolean),
    registryUrl: pick("MESHSTREAM_SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7"),
    ...(user ? { registryUser: user, registryPassword: registryPassword ?? "" } : {}),
    security,
    logLevel: logLevel as ClientLogLevel,
  };
}

/**
 * kafkajs' `ssl` and `sasl` options for the settings (none for PLAINTEXT), with the same checks
 * as streams/core/security.py: SASL needs a user and a password, an unknown mechanism is refused.
 */
export function kafkaSecurity(security: KafkaSecuritySettings | undefined): Pick<KafkaConfig, "ssl" | "sasl"> {
  const s = security ?? { protocol: "PLAINTEXT" };
  const out: Pick<KafkaConfig, "ssl" | "sasl"> = {};
  if (s.protocol === "SSL" || s.protocol === "SASL_SSL") {
    const read = (path: string | undefined) => (path ? readFileSync(path, "utf8") : undefined);
    const ca = read(s.sslCaLocation);
    const cert = read(s.sslCertificateLocation);
    const key = read(s.sslKeyLocation);
    // no CA file: Node's default trust store verifies the brokers (rejectUnauthorized stays on)
    out.ssl = ca || cert || key
      ? { rejectUnauthorized: true, ...(ca ? { ca: [ca] } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}),
          ...(s.sslKeyPassword ? { passphrase: s.sslKeyPassword } : {}) }
      : true;
  }
  if (s.protocol === "SASL_PLAINTEXT" || s.protocol === "SASL_SSL") {
    if (!s.saslUsername || !s.saslPassword) {
      throw new Error(`${s.protocol} needs MESHSTREAM_KAFKA_SASL_USERNAME and MESHSTREAM_KAFKA_SASL_PASSWORD (or _FILE)`);
    }
    const mechanism = (s.saslMechanism ?? "SCRAM-SHA-512").toUpperCase();
    if (!(SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
      throw new Error(`MESHSTREAM_KAFKA_SASL_MECHANISM=${mechanism}: the Node client supports ${SASL_MECHANISMS.join(", ")}`);
    }
    out.sasl = { mechanism: mechanism.toLowerCase(), username: s.saslUsername, password: s.saslPassword } as SASLOptions;
  }
  return out;
}
