/**
 * Connection settings from the same MESHSTREAM_* variables the Python workers and CLI read
 * (streams/core/settings.py, `meshstream stack env`), so a Node backend finds the local stack, a test's
 * private stack or production the same way.
 */
export interface Settings {
  readonly kafkaBootstrap: string[];
  readonly registryUrl: string;
  readonly registryUser?: string;
  readonly registryPassword?: string;
}

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  const pick = (name: string, fallback: string): string => env[name] || fallback;
  const user = env.MESHSTREAM_SCHEMA_REGISTRY_USER || undefined;
  return {
    kafkaBootstrap: pick("MESHSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:9092").split(",").map((s) => s.trim()).filter(Boolean),
    registryUrl: pick("MESHSTREAM_SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7"),
    ...(user ? { registryUser: user, registryPassword: env.MESHSTREAM_SCHEMA_REGISTRY_PASSWORD ?? "" } : {}),
  };
}
