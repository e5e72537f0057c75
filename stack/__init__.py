"""The local dev/test stack: real Apache Kafka (KRaft), Apicurio Registry (Confluent API) and a
SeaweedFS S3 server, fetched from package registries, pinned, and run on loopback only."""
