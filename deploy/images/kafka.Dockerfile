# Apache Kafka (KRaft) from the same Maven Central jars the local stack runs (stack/kafka-pom.xml),
# on Debian's Java 17 runtime. Build context: the repository root.
# Versions: the defaults below must equal stack/versions.py (tests/unit/test_compose.py checks).
ARG KAFKA_VERSION=3.9.2
ARG SLF4J_RELOAD4J_VERSION=1.7.36
ARG RELOAD4J_VERSION=1.2.25

FROM debian:bookworm-slim AS fetch
# PEM certificates to trust while building (a TLS-intercepting proxy); empty for most users.
ARG EXTRA_CA_CERTS=""
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates maven \
 && if [ -n "$EXTRA_CA_CERTS" ]; then printf '%s\n' "$EXTRA_CA_CERTS" | awk '/BEGIN CERT/{n++} n{print > ("/tmp/extra-ca-" n ".pem")}' \
      && for f in /tmp/extra-ca-*.pem; do keytool -importcert -noprompt -cacerts -storepass changeit -alias "$f" -file "$f"; done; fi
ARG KAFKA_VERSION
ARG SLF4J_RELOAD4J_VERSION
ARG RELOAD4J_VERSION
COPY stack/kafka-pom.xml /fetch/pom.xml
RUN mvn -B -q -f /fetch/pom.xml -Dkafka.version=$KAFKA_VERSION \
      -Dslf4j.reload4j.version=$SLF4J_RELOAD4J_VERSION -Dreload4j.version=$RELOAD4J_VERSION \
      org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
      -DoutputDirectory=/opt/kafka/libs -DincludeScope=runtime \
 && test -f /opt/kafka/libs/kafka_2.13-$KAFKA_VERSION.jar

FROM debian:bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive
# kcat: the healthcheck asks the broker for metadata without starting a JVM
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless kcat \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10002 --home-dir /var/lib/kafka --shell /usr/sbin/nologin kafka \
 && install -d -o kafka -g kafka /var/lib/kafka /var/lib/kafka/data
COPY --from=fetch /opt/kafka/libs /opt/kafka/libs
COPY deploy/kafka/entrypoint.sh deploy/kafka/log4j.properties /opt/kafka/
USER kafka
WORKDIR /var/lib/kafka
VOLUME /var/lib/kafka/data
EXPOSE 9092 9093
ENTRYPOINT ["/opt/kafka/entrypoint.sh"]
