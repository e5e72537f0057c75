/**
 * @meshstream/client: publish scans and consume completions from a Node backend, with the
 * contracts generated from schemas/contracts.yaml (src/generated/) and a small hand-written
 * runtime (this directory). See docs/adr/0004-typescript-client.md.
 */
export type { ConstraintEntry, ContractInfo } from "./contract";
export { ConstraintViolation, checkRecord } from "./constraints";
export { CLIENT_VERSION, NAMESPACE, derivedId, envelope } from "./envelope";
export { CONTRACTS, TERMINAL, type ContractName, type Events } from "./generated/contracts";
export * from "./generated/index";
export { Publisher, kafkaFor, producerConfig, type PayloadOf, type Published, type ScanOptions } from "./publisher";
export { readDeadLetters, replayDeadLetters, type DeadLetterOptions, type DeadLetterRecord } from "./replay";
export { AvroSerde, SerdeError, frame, registryClient, unframe } from "./serde";
export {
  LOG_LEVELS, PROTOCOLS, SASL_MECHANISMS, kafkaSecurity, settingsFromEnv,
  type ClientLogLevel, type KafkaSecuritySettings, type SecurityProtocol, type Settings,
} from "./settings";
export { Subscription, subscribe, subscribeTerminal, type Received, type ReceivedOf, type Skipped, type SubscribeOptions } from "./subscriber";
