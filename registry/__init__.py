"""Contract governance: the manifest, schema expansion, serde and Confluent-API registry access."""
